#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod audio;
pub mod bench;
pub mod engines;
pub mod error;
pub mod markdown;
pub mod metrics;
pub mod midi;
pub mod paired;
pub mod plot;
pub mod report;
pub mod run;
pub mod set;

pub use bench::{bench_engines, BenchRow};
pub use engines::{prepare_engines, Engine, EngineKind, EngineOptions, Skipped};
pub use error::{EvalError, Result};
pub use report::{write_report, MachineInfo, ReportFiles, ReportOptions};
pub use run::{evaluate, EvalOutcome, Measurement};
pub use set::{
    builtin_set, load_dataset, Category, Clip, EvalSet, SetOptions, Task, DEFAULT_TASKS,
};
