#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod advance;
pub mod backend;
pub mod batch;
mod batch_runner;
pub mod bundle;
pub mod engine;
pub mod error;
pub mod meta;
#[cfg(feature = "ort")]
pub mod ort_backend;
#[cfg(feature = "ort")]
mod ort_locate;
pub mod processor;
pub mod realtime;
pub mod step;
mod switch;
#[cfg(feature = "tract")]
pub mod tract_backend;
pub mod window;

pub use advance::{write_advance, AdvanceGuide};
pub use backend::{available_backends, load_backend, BackendKind, PhaseBackend};
pub use batch::{offline_engine, BatchOptions, BatchedNeuralEngine};
pub use bundle::ModelBundle;
pub use engine::NeuralPhaseEngine;
pub use error::{FramingError, InferError, ProcessorError};
pub use meta::{
    style_display_name, style_position, ModelMeta, PhaseOutput, PitchPath, StateSpec, StepSpec,
    ADVANCE_INPUT, LOCK_INPUT,
};
pub use processor::{
    build_realtime_engine, check_framing, NeuralAvailability, Preset, Processor, ProcessorControls,
    ENGINE_SAMPLE_RATE,
};
pub use realtime::{EngineStatus, RealtimePhaseEngine, WaitMode};
pub use step::StepState;
pub use switch::EngineHandoff;
