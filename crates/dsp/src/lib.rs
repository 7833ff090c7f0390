#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod alloc_counter;
pub mod classic;
pub mod delay;
pub mod error;
pub mod metrics;
pub mod offline;
mod peaks;
pub mod phase;
pub mod resample;
pub mod shift;
pub mod stft;
pub mod stretcher;
pub mod transient;
pub mod vocoder;
pub mod window;

pub use classic::ClassicPhaseEngine;
pub use delay::{DelayLine, Ramp};
pub use error::DspError;
pub use offline::{classic_engine, render_offline, OfflineStream, RenderResult, RenderSettings};
pub use phase::{Controls, IdentityPhaseEngine, OwnedFrame, PhaseEngine, PhaseFrame};
pub use resample::RateBridge;
pub use shift::{ShiftInput, SpectralShifter};
pub use stft::StftConfig;
pub use stretcher::{
    pitch_ratio, PitchMode, Stretcher, StretcherConfig, MAX_PITCH_SEMITONES, MAX_STRETCH,
    MIN_PITCH_SEMITONES, MIN_STRETCH,
};
pub use vocoder::PhaseVocoder;
