//! `dataset build`: scan → convert → cut clips → draw controls → run generators → manifest.
//!
//! Guarantees:
//! - **Deterministic**: ids, clips, controls, styles and the split are pure functions of the
//!   input files' relative paths and contents and of the configuration; rows are sorted by id.
//! - **Resumable**: every audio file is written under a `.partial.wav` name and renamed when
//!   complete, and every finished item leaves a record in `.state/`. A re-run skips finished
//!   items, so an interrupted build continues where it stopped and a finished build re-run
//!   writes nothing.
//! - **Inputs are never modified**: sources are only read (by SoX and for hashing).
//! - **Failures are per item**: an unreadable or corrupt source, a missing `rubberband`, or a
//!   failed or timed-out generator skips that item, and [`BuildSummary::skipped`] names it.
//!
//! This module holds the options, summary, records and the run as a whole; stage 1 (sources:
//! convert and cut) is in `source`, stage 2 (pairs: generate and check) in `pair`.

mod pair;
mod source;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::audio::{write_file_atomic, PARTIAL_SUFFIX};
use crate::config::DatasetConfig;
use crate::error::{DatasetError, Result};
use crate::hash::{key_u64, sha256_hex};
use crate::manifest::{to_jsonl, write_if_changed, Shard, Split, MANIFEST_FILE, SHARDS_DIR};
use crate::scan::{read_corpus_manifest, scan_audio, CorpusEntry, SourceFile};
use crate::styles::Style;
use crate::tools::{probe, ToolInfo, ToolKind};
use pair::{make_pairs, plan_pairs};
use source::{prepare_sources, source_contexts};

/// Folder of input clips inside a dataset folder.
pub const INPUT_DIR: &str = "input";
/// Folder of targets inside a dataset folder.
pub const TARGET_DIR: &str = "target";
/// Folder of per-item records (resume state) inside a dataset folder.
pub const STATE_DIR: &str = ".state";
/// Copy of the configuration inside a dataset folder.
pub const CONFIG_FILE: &str = "dataset.toml";

/// What to build and how.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Folder scanned recursively for WAV/FLAC/OGG sources (never written to).
    pub input: PathBuf,
    /// Dataset folder (created if needed; may hold an earlier, possibly interrupted, build).
    pub out: PathBuf,
    /// The configuration.
    pub config: DatasetConfig,
    /// Build only this shard's sources and write `shards/shard-I-of-N.jsonl` instead of
    /// `manifest.jsonl`.
    pub shard: Option<Shard>,
    /// Test hook / partial run: start at most this many new generator runs, then stop without
    /// writing a manifest (as if interrupted).
    pub limit: Option<usize>,
    /// Worker threads (default: all cores).
    pub jobs: Option<usize>,
}

/// The two stages of a build, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Converting and cutting the sources into clips.
    Sources,
    /// Making (or reusing) the pairs' targets.
    Pairs,
}

/// Where a build stands, as given to its progress callback: `done` of `total` items of
/// `stage` are finished. Each stage reports `done = 0` first and `done = total` last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// The stage running.
    pub stage: Stage,
    /// Items of the stage finished so far.
    pub done: usize,
    /// Items of the stage.
    pub total: usize,
}

/// Counts the items of one stage for the progress callback (called from worker threads).
struct StageCounter<'a> {
    stage: Stage,
    total: usize,
    done: std::sync::atomic::AtomicUsize,
    report: &'a (dyn Fn(Progress) + Sync),
}

impl<'a> StageCounter<'a> {
    fn start(stage: Stage, total: usize, report: &'a (dyn Fn(Progress) + Sync)) -> Self {
        report(Progress {
            stage,
            done: 0,
            total,
        });
        StageCounter {
            stage,
            total,
            done: std::sync::atomic::AtomicUsize::new(0),
            report,
        }
    }

    fn item_done(&self) {
        let done = self.done.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        (self.report)(Progress {
            stage: self.stage,
            done,
            total: self.total,
        });
    }
}

/// An item that was skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The file concerned (source path relative to the input folder, or the pair id).
    pub file: String,
    /// What went wrong.
    pub reason: String,
}

/// What a build did.
#[derive(Debug, Clone, Default)]
pub struct BuildSummary {
    /// Tools found, with versions.
    pub tools: Vec<ToolInfo>,
    /// Audio files found under the input folder (all shards).
    pub sources_found: usize,
    /// Sources this run (shard) is responsible for.
    pub sources: usize,
    /// Sources converted and cut in this run (the rest were done before or failed).
    pub sources_converted: usize,
    /// Clips kept.
    pub clips: usize,
    /// Clips dropped as near-silent.
    pub clips_silent: usize,
    /// Pairs planned.
    pub pairs_planned: usize,
    /// Pairs generated in this run.
    pub pairs_made: usize,
    /// Pairs finished by an earlier run and reused.
    pub pairs_reused: usize,
    /// Items skipped, with reasons (sorted by file).
    pub skipped: Vec<Skipped>,
    /// Whether `limit` stopped the run before every pair was made.
    pub stopped_by_limit: bool,
    /// The manifest written (or found unchanged); `None` when stopped early.
    pub manifest: Option<PathBuf>,
    /// Whether the manifest file was (re)written in this run.
    pub manifest_written: bool,
    /// Rows in the manifest.
    pub rows: usize,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
}

/// Resume record of one source: its hash and what became of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SourceRecord {
    rel: String,
    sha256: String,
    outcome: SourceOutcome,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum SourceOutcome {
    Clips {
        num_frames: u64,
        clips: Vec<ClipRecord>,
        silent: usize,
    },
    TooShort {
        num_frames: u64,
    },
    Failed {
        reason: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ClipRecord {
    id: String,
    file: String,
    start_frame: u64,
    num_frames: u64,
    sha256: String,
}

/// Everything the pair stage needs about a source.
struct SourceContext<'a> {
    src: &'a SourceFile,
    entry: Option<&'a CorpusEntry>,
    group: String,
    split: Split,
}

/// One planned (input, controls, style) pair.
struct PairPlan<'a> {
    id: String,
    clip: &'a ClipRecord,
    ctx: &'a SourceContext<'a>,
    source_sha256: &'a str,
    stretch: f64,
    pitch_semitones: f64,
    style: Style,
}

/// A stable, readable id for a source path: its sanitised path and 8 hex digits of its hash.
pub fn source_id(rel: &str) -> String {
    let mut id = String::new();
    for c in rel.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() {
            id.push(c);
        } else if !id.ends_with('-') {
            id.push('-');
        }
    }
    let id: String = id.trim_matches('-').chars().take(48).collect();
    format!(
        "{}-{}",
        id.trim_end_matches('-'),
        &sha256_hex(rel.as_bytes())[..8]
    )
}

/// The controls and style of pair `k` of a clip: a pure function of `(seed, clip id, k)`.
///
/// Stretch is log-uniform in the configured range, rounded to 3 decimals; pitch is uniform,
/// rounded to 0.01 semitone; the style is uniform over the configured styles.
pub fn draw_controls(config: &DatasetConfig, clip_id: &str, k: u32) -> (f64, f64, Style) {
    let mut rng =
        ChaCha8Rng::seed_from_u64(key_u64(&format!("pair/{}/{clip_id}/{k}", config.seed)));
    let (lo, hi) = (config.stretch_min.ln(), config.stretch_max.ln());
    let u: f64 = rng.random();
    let stretch = ((lo + (hi - lo) * u).exp() * 1000.0).round() / 1000.0;
    let stretch = stretch.clamp(config.stretch_min, config.stretch_max);
    let u: f64 = rng.random();
    let pitch =
        config.pitch_min_semitones + (config.pitch_max_semitones - config.pitch_min_semitones) * u;
    let pitch = ((pitch * 100.0).round() / 100.0)
        .clamp(config.pitch_min_semitones, config.pitch_max_semitones);
    // Avoid "-0" in commands and JSON.
    let pitch = if pitch == 0.0 { 0.0 } else { pitch };
    let style = config.styles[rng.random_range(0..config.styles.len())];
    (stretch, pitch, style)
}

/// Target length for an input of `num_frames` at duration ratio `stretch`.
pub fn target_frames(num_frames: u64, stretch: f64) -> u64 {
    (num_frames as f64 * stretch).round() as u64
}

fn mkdir(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path).map_err(|e| DatasetError::io(path, e))
}

/// Deletes leftover `*.partial.wav` files of an interrupted run in `dir`.
fn remove_partials(dir: &Path) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| DatasetError::io(dir, e))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(PARTIAL_SUFFIX) || (name.starts_with('.') && name.ends_with(".tmp")) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(())
}

/// Creates the dataset folder's subfolders, stores or checks the configuration and removes
/// what an interrupted run left half-written.
fn prepare_folders(out: &Path, config: &DatasetConfig) -> Result<()> {
    for dir in [INPUT_DIR, TARGET_DIR, STATE_DIR] {
        mkdir(&out.join(dir))?;
    }
    for dir in ["sources", "pairs", "work"] {
        mkdir(&out.join(STATE_DIR).join(dir))?;
    }
    check_or_store_config(out, config)?;
    for dir in [
        out.join(INPUT_DIR),
        out.join(TARGET_DIR),
        out.join(STATE_DIR).join("work"),
    ] {
        remove_partials(&dir)?;
    }
    Ok(())
}

/// Stores the configuration in the dataset folder, or checks that the stored one is the same.
fn check_or_store_config(out: &Path, config: &DatasetConfig) -> Result<()> {
    let path = out.join(CONFIG_FILE);
    if path.is_file() {
        let stored = DatasetConfig::from_file(&path)?;
        if stored.fingerprint() != config.fingerprint() {
            return Err(DatasetError::ConfigMismatch {
                out: out.to_owned(),
                found: stored.fingerprint()[..12].to_owned(),
                expected: config.fingerprint()[..12].to_owned(),
            });
        }
        return Ok(());
    }
    write_file_atomic(&path, config.to_toml_string().as_bytes())
}

/// Builds (or resumes, or completes) a dataset.
///
/// # Errors
/// Only problems with the run as a whole: invalid configuration, missing input folder, `sox`
/// missing, an output folder built with another configuration, an unwritable output folder.
/// Problems with single files are listed in [`BuildSummary::skipped`].
///
/// `progress` is called from the worker threads as items finish (see [`Progress`]); the
/// caller draws it (the CLI's progress bars) or passes `&|_| {}`.
pub fn build(opts: &BuildOptions, progress: &(dyn Fn(Progress) + Sync)) -> Result<BuildSummary> {
    let start = Instant::now();
    let config = &opts.config;
    config.validate()?;
    if !opts.input.is_dir() {
        return Err(DatasetError::NoInput(opts.input.clone()));
    }
    // Tools run in the dataset folder, so every path handed to them is absolute or relative to it.
    let input = std::path::absolute(&opts.input).map_err(|e| DatasetError::io(&opts.input, e))?;
    let out = &std::path::absolute(&opts.out).map_err(|e| DatasetError::io(&opts.out, e))?;
    prepare_folders(out, config)?;

    let sox = probe(ToolKind::Sox)?;
    let rubberband = probe(ToolKind::Rubberband).ok();
    let mut summary = BuildSummary {
        tools: std::iter::once(sox.clone())
            .chain(rubberband.clone())
            .collect(),
        ..BuildSummary::default()
    };
    let versions: BTreeMap<ToolKind, String> = summary
        .tools
        .iter()
        .map(|t| (t.kind, t.version.clone()))
        .collect();

    let sources = scan_audio(&input, std::slice::from_ref(out))?;
    let corpus = read_corpus_manifest(&input)?;
    summary.sources_found = sources.len();
    let contexts = source_contexts(&sources, &corpus, config, opts.shard);
    summary.sources = contexts.len();

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.jobs.unwrap_or(0))
        .build()
        .map_err(|e| DatasetError::InvalidConfig(format!("thread pool: {e}")))?;
    let timeout = Duration::from_secs(config.tool_timeout_seconds);

    // Stage 1: convert and cut every source.
    let records = prepare_sources(
        &pool,
        &contexts,
        config,
        out,
        timeout,
        progress,
        &mut summary,
    );

    // Stage 2: plan and make the pairs.
    let plans = plan_pairs(&records, config, &mut summary);
    summary.pairs_planned = plans.len();
    let rows = make_pairs(&pool, &plans, opts, out, &versions, progress, &mut summary);
    summary.skipped.sort_by(|a, b| a.file.cmp(&b.file));

    if !summary.stopped_by_limit {
        let path = match opts.shard {
            Some(shard) => {
                mkdir(&out.join(SHARDS_DIR))?;
                out.join(SHARDS_DIR).join(shard.manifest_name())
            }
            None => out.join(MANIFEST_FILE),
        };
        summary.manifest_written = write_if_changed(&path, to_jsonl(&rows).as_bytes())?;
        summary.manifest = Some(path);
        summary.rows = rows.len();
    }
    summary.elapsed = start.elapsed();
    Ok(summary)
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let bytes = serde_json::to_vec(value).map_err(|e| DatasetError::Manifest {
        path: path.to_owned(),
        line: 0,
        message: e.to_string(),
    })?;
    write_file_atomic(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_ids_are_stable_and_readable() {
        let id = source_id("Drums/Kit 1/Snare.FLAC");
        assert!(id.starts_with("drums-kit-1-snare-flac-"), "{id}");
        assert_eq!(id, source_id("Drums/Kit 1/Snare.FLAC"));
        assert_ne!(id, source_id("drums/kit-1/snare.flac"));
    }

    #[test]
    fn controls_are_in_range_and_deterministic() {
        let c = DatasetConfig::default();
        let mut styles = std::collections::BTreeSet::new();
        for k in 0..200 {
            let (s, p, st) = draw_controls(&c, "clip", k);
            assert!((0.5..=2.0).contains(&s), "stretch {s}");
            assert!((-12.0..=12.0).contains(&p), "pitch {p}");
            assert_eq!((s, p, st), draw_controls(&c, "clip", k));
            styles.insert(st.name());
        }
        assert_eq!(styles.len(), 4, "all styles drawn");
        assert_eq!(target_frames(96_000, 1.37), 131_520);
        assert_eq!(target_frames(3, 0.5), 2);
    }
}
