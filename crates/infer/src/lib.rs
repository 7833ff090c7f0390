#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod advance;
mod backend;
mod batch;
mod batch_runner;
mod bundle;
mod engine;
mod error;
mod meta;
#[cfg(feature = "ort")]
pub mod ort_backend;
#[cfg(feature = "ort")]
mod ort_locate;
pub mod processor;
mod realtime;
mod step;
mod switch;
#[cfg(feature = "tract")]
mod tract_backend;
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
