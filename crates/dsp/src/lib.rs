#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod classical;
pub mod delay;
mod error;
pub mod metrics;
mod offline;
mod peaks;
pub mod phase;
pub mod resample;
mod shift;
pub mod stft;
mod stretcher;
pub mod transient;
mod vocoder;
pub mod window;

pub use classical::ClassicalPhaseEngine;
pub use delay::{DelayLine, Ramp};
pub use error::DspError;
pub use offline::{classical_engine, render_offline, OfflineStream, RenderResult, RenderSettings};
pub use phase::{Controls, IdentityPhaseEngine, OwnedFrame, PhaseEngine, PhaseFrame};
pub use resample::RateBridge;
pub use shift::{ShiftInput, SpectralShifter};
pub use stft::StftConfig;
pub use stretcher::{
    pitch_ratio, PitchMode, Stretcher, StretcherConfig, MAX_PITCH_SEMITONES, MAX_STRETCH,
    MIN_PITCH_SEMITONES, MIN_STRETCH,
};
pub use vocoder::PhaseVocoder;
