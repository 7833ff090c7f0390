#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod audio;
pub mod build;
pub mod clips;
pub mod config;
pub mod convert;
pub mod error;
pub mod hash;
pub mod manifest;
pub mod scan;
pub mod stats;
pub mod styles;
pub mod tools;

pub use build::{build, BuildOptions, BuildSummary, Progress, Skipped, Stage};
pub use config::{DatasetConfig, SplitFractions};
pub use error::{DatasetError, Result};
pub use manifest::{merge_shards, read_manifest, ManifestRow, Shard, Split, MANIFEST_FILE};
pub use stats::{dataset_stats, DatasetStats};
pub use styles::Style;
pub use tools::{probe, ToolInfo, ToolKind};
