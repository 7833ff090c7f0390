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

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::audio::{
    partial_path, read_wav, wav_info, write_file_atomic, write_wav, write_wav_atomic,
    PARTIAL_SUFFIX,
};
use crate::clips::{clip_slots, is_active};
use crate::config::DatasetConfig;
use crate::convert::convert;
use crate::error::{DatasetError, Result};
use crate::hash::{key_u64, sha256_file, sha256_hex};
use crate::manifest::{
    assign_splits, to_jsonl, write_if_changed, ManifestRow, Shard, Split, MANIFEST_FILE, SHARDS_DIR,
};
use crate::scan::{read_corpus_manifest, scan_audio, CorpusEntry, SourceFile};
use crate::styles::{command_line, Style};
use crate::tools::{probe, run, RunError, ToolInfo, ToolKind};

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
    /// Show progress bars (on a terminal only).
    pub progress: bool,
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

enum PairOutcome {
    Reused(Box<ManifestRow>),
    Made(Box<ManifestRow>),
    Skipped(Skipped),
    NotStarted,
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
pub fn build(opts: &BuildOptions) -> Result<BuildSummary> {
    let start = Instant::now();
    let config = &opts.config;
    config.validate()?;
    if !opts.input.is_dir() {
        return Err(DatasetError::NoInput(opts.input.clone()));
    }
    // Tools run in the dataset folder, so every path handed to them is absolute or relative to it.
    let input = std::path::absolute(&opts.input).map_err(|e| DatasetError::io(&opts.input, e))?;
    let out = &std::path::absolute(&opts.out).map_err(|e| DatasetError::io(&opts.out, e))?;
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
    let group_of = |s: &SourceFile| {
        corpus
            .get(&s.rel)
            .and_then(|e| e.group.clone())
            .unwrap_or_else(|| s.rel.clone())
    };
    let groups: Vec<String> = sources.iter().map(group_of).collect();
    let splits = assign_splits(groups.iter().map(String::as_str), config.seed, config.split);
    let contexts: Vec<SourceContext> = sources
        .iter()
        .zip(groups)
        .enumerate()
        .filter(|(i, _)| opts.shard.is_none_or(|s| i % s.count == s.index))
        .map(|(_, (src, group))| SourceContext {
            src,
            entry: corpus.get(&src.rel),
            split: splits.get(&group).copied().unwrap_or(Split::Train),
            group,
        })
        .collect();
    summary.sources = contexts.len();

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.jobs.unwrap_or(0))
        .build()
        .map_err(|e| DatasetError::InvalidConfig(format!("thread pool: {e}")))?;
    let timeout = Duration::from_secs(config.tool_timeout_seconds);

    // Stage 1: convert and cut every source.
    let bar = progress_bar(opts.progress, contexts.len(), "sources");
    let prepared: Vec<(Option<SourceRecord>, bool, Option<Skipped>)> = pool.install(|| {
        contexts
            .par_iter()
            .map(|ctx| {
                let r = prepare_source(ctx.src, config, out, timeout);
                bar.inc(1);
                r
            })
            .collect()
    });
    bar.finish_and_clear();
    let mut records: Vec<(&SourceContext, SourceRecord)> = Vec::new();
    for (ctx, (record, converted, skipped)) in contexts.iter().zip(prepared) {
        summary.sources_converted += usize::from(converted);
        summary.skipped.extend(skipped);
        if let Some(record) = record {
            records.push((ctx, record));
        }
    }

    // Stage 2: plan and make the pairs.
    let mut plans: Vec<PairPlan> = Vec::new();
    for (ctx, record) in &records {
        if let SourceOutcome::Clips { clips, silent, .. } = &record.outcome {
            summary.clips += clips.len();
            summary.clips_silent += silent;
            for clip in clips {
                for k in 0..config.pairs_per_clip {
                    let (stretch, pitch_semitones, style) = draw_controls(config, &clip.id, k);
                    plans.push(PairPlan {
                        id: format!("{}-p{k}", clip.id),
                        clip,
                        ctx,
                        source_sha256: &record.sha256,
                        stretch,
                        pitch_semitones,
                        style,
                    });
                }
            }
        }
    }
    summary.pairs_planned = plans.len();
    let started = AtomicUsize::new(0);
    let bar = progress_bar(opts.progress, plans.len(), "pairs");
    let outcomes: Vec<PairOutcome> = pool.install(|| {
        plans
            .par_iter()
            .map(|plan| {
                let r = make_pair(plan, config, out, &versions, timeout, opts.limit, &started);
                bar.inc(1);
                r
            })
            .collect()
    });
    bar.finish_and_clear();
    let mut rows = Vec::new();
    for outcome in outcomes {
        match outcome {
            PairOutcome::Reused(row) => {
                summary.pairs_reused += 1;
                rows.push(*row);
            }
            PairOutcome::Made(row) => {
                summary.pairs_made += 1;
                rows.push(*row);
            }
            PairOutcome::Skipped(s) => summary.skipped.push(s),
            PairOutcome::NotStarted => summary.stopped_by_limit = true,
        }
    }
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

fn progress_bar(show: bool, len: usize, what: &str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    let template =
        format!("{{elapsed_precise}} [{{wide_bar}}] {{pos}}/{{len}} {what} · ETA {{eta_precise}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
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

/// Stage 1 for one source: returns its record (if any), whether it was converted in this run,
/// and a skip note.
fn prepare_source(
    src: &SourceFile,
    config: &DatasetConfig,
    out: &Path,
    timeout: Duration,
) -> (Option<SourceRecord>, bool, Option<Skipped>) {
    let skipped = |reason: String| Skipped {
        file: src.rel.clone(),
        reason,
    };
    let sha256 = match sha256_file(&src.path) {
        Ok(h) => h,
        Err(e) => return (None, false, Some(skipped(format!("unreadable: {e}")))),
    };
    let id = source_id(&src.rel);
    let record_path = out
        .join(STATE_DIR)
        .join("sources")
        .join(format!("{id}.json"));
    if let Some(record) = read_json::<SourceRecord>(&record_path) {
        let complete = match &record.outcome {
            SourceOutcome::Clips { clips, .. } => clips.iter().all(|c| out.join(&c.file).is_file()),
            _ => true,
        };
        if record.sha256 == sha256 && record.rel == src.rel && complete {
            let note = skip_note(&record, config.min_clip_seconds).map(skipped);
            return (Some(record), false, note);
        }
    }
    match cut_source(src, &id, &sha256, config, out, timeout) {
        Ok(record) => {
            if let Err(e) = write_json(&record_path, &record) {
                return (None, true, Some(skipped(e.to_string())));
            }
            let note = skip_note(&record, config.min_clip_seconds).map(skipped);
            (Some(record), true, note)
        }
        Err(reason) => (None, false, Some(skipped(reason))),
    }
}

fn skip_note(record: &SourceRecord, min_clip_seconds: f64) -> Option<String> {
    match &record.outcome {
        SourceOutcome::Clips { clips, silent, .. } if clips.is_empty() => Some(format!(
            "no clip kept ({silent} near-silent clip(s) dropped)"
        )),
        SourceOutcome::Clips { .. } => None,
        SourceOutcome::TooShort { num_frames } => Some(format!(
            "too short: {num_frames} frames after conversion, shorter than min_clip_seconds = \
             {min_clip_seconds}"
        )),
        SourceOutcome::Failed { reason } => Some(reason.clone()),
    }
}

/// Converts one source and writes its clips; `Err` carries a message for the summary.
fn cut_source(
    src: &SourceFile,
    id: &str,
    sha256: &str,
    config: &DatasetConfig,
    out: &Path,
    timeout: Duration,
) -> Result<SourceRecord, String> {
    let work = out
        .join(STATE_DIR)
        .join("work")
        .join(format!("{id}{PARTIAL_SUFFIX}"));
    let failed = |reason: String| SourceRecord {
        rel: src.rel.clone(),
        sha256: sha256.to_owned(),
        outcome: SourceOutcome::Failed { reason },
    };
    match convert(
        &src.path,
        &work,
        config.sample_rate,
        config.channels,
        timeout,
    ) {
        Ok(()) => {}
        // A deterministic failure (corrupt or unsupported file) is recorded, so a re-run reports
        // it again without retrying; a missing program or a timeout is retried next time.
        Err(e @ RunError::Failed { .. }) => {
            let _ = std::fs::remove_file(&work);
            return Ok(failed(format!("cannot be decoded: {e}")));
        }
        Err(e) => {
            let _ = std::fs::remove_file(&work);
            return Err(format!("conversion failed: {e}"));
        }
    }
    let result = cut_converted(&work, id, src, sha256, config, out);
    let _ = std::fs::remove_file(&work);
    result.map_err(|e| e.to_string())
}

fn cut_converted(
    work: &Path,
    id: &str,
    src: &SourceFile,
    sha256: &str,
    config: &DatasetConfig,
    out: &Path,
) -> Result<SourceRecord> {
    let audio_err = |e: hound::Error| DatasetError::Audio {
        path: src.path.clone(),
        message: format!("converted audio unreadable: {e}"),
    };
    let mut reader = hound::WavReader::open(work).map_err(audio_err)?;
    let channels = reader.spec().channels;
    let num_frames = u64::from(reader.duration());
    let slots = clip_slots(num_frames, config);
    if slots.is_empty() {
        return Ok(SourceRecord {
            rel: src.rel.clone(),
            sha256: sha256.to_owned(),
            outcome: SourceOutcome::TooShort { num_frames },
        });
    }
    let mut samples = reader.samples::<f32>();
    let mut clips = Vec::new();
    let mut silent = 0;
    for slot in slots {
        let n = slot.num_frames as usize * channels as usize;
        let clip: Vec<f32> = samples
            .by_ref()
            .take(n)
            .collect::<Result<_, _>>()
            .map_err(audio_err)?;
        if clip.len() != n {
            break;
        }
        if !is_active(&clip, channels, config) {
            silent += 1;
            continue;
        }
        let clip_id = format!("{id}-c{:04}", slot.index);
        let file = format!("{INPUT_DIR}/{clip_id}.wav");
        let path = out.join(&file);
        write_wav_atomic(&path, config.sample_rate, channels, &clip)?;
        clips.push(ClipRecord {
            id: clip_id,
            sha256: sha256_file(&path)?,
            file,
            start_frame: slot.start_frame,
            num_frames: slot.num_frames,
        });
    }
    Ok(SourceRecord {
        rel: src.rel.clone(),
        sha256: sha256.to_owned(),
        outcome: SourceOutcome::Clips {
            num_frames,
            clips,
            silent,
        },
    })
}

/// Stage 2 for one pair.
fn make_pair(
    plan: &PairPlan,
    config: &DatasetConfig,
    out: &Path,
    versions: &BTreeMap<ToolKind, String>,
    timeout: Duration,
    limit: Option<usize>,
    started: &AtomicUsize,
) -> PairOutcome {
    let target_rel = format!("{TARGET_DIR}/{}.wav", plan.id);
    let target_path = out.join(&target_rel);
    let record_path = out
        .join(STATE_DIR)
        .join("pairs")
        .join(format!("{}.json", plan.id));
    if let Some(row) = read_json::<ManifestRow>(&record_path) {
        if target_path.is_file() && row.input_sha256 == plan.clip.sha256 {
            return PairOutcome::Reused(Box::new(row));
        }
    }
    let skipped = |reason: String| {
        PairOutcome::Skipped(Skipped {
            file: format!(
                "{} ({}, pair {})",
                plan.ctx.src.rel, plan.clip.file, plan.id
            ),
            reason,
        })
    };
    let tool = plan.style.tool();
    let Some(version) = versions.get(&tool) else {
        return skipped(format!(
            "style {} needs `{}`, which is not installed ({})",
            plan.style,
            tool.program(),
            tool.install_hint()
        ));
    };
    if let Some(limit) = limit {
        if started.fetch_add(1, Ordering::SeqCst) >= limit {
            return PairOutcome::NotStarted;
        }
    }
    let tmp_path = partial_path(&target_path);
    let tmp_rel = format!("{TARGET_DIR}/{}{PARTIAL_SUFFIX}", plan.id);
    let args = |output: &str| {
        plan.style.command(
            &plan.clip.file,
            output,
            plan.stretch,
            plan.pitch_semitones,
            config.crispness,
        )
    };
    let generator = command_line(&args(&target_rel));
    let _ = std::fs::remove_file(&tmp_path);
    if let Err(e) = run(&args(&tmp_rel), out, timeout) {
        let _ = std::fs::remove_file(&tmp_path);
        return skipped(format!("generator `{generator}` failed: {e}"));
    }
    match finish_target(plan, config, &tmp_path, &target_path) {
        Ok((num_frames_target, length_adjust_frames, target_sha256)) => {
            let row = ManifestRow {
                id: plan.id.clone(),
                split: plan.ctx.split.name().to_owned(),
                input: plan.clip.file.clone(),
                target: target_rel,
                sample_rate: config.sample_rate,
                channels: config.channels,
                num_frames_input: plan.clip.num_frames,
                num_frames_target,
                stretch: plan.stretch,
                pitch_semitones: plan.pitch_semitones,
                style: plan.style.name().to_owned(),
                generator,
                tool_version: version.clone(),
                input_sha256: plan.clip.sha256.clone(),
                target_sha256,
                source: plan
                    .ctx
                    .entry
                    .and_then(|e| e.source.clone())
                    .unwrap_or_else(|| plan.ctx.src.rel.clone()),
                licence: plan
                    .ctx
                    .entry
                    .map(|e| e.licence.clone())
                    .unwrap_or_else(|| config.default_licence.clone()),
                source_file: plan.ctx.src.rel.clone(),
                source_sha256: plan.source_sha256.to_owned(),
                source_start_frame: plan.clip.start_frame,
                group: plan.ctx.group.clone(),
                category: plan.ctx.entry.and_then(|e| e.category.clone()),
                length_adjust_frames,
            };
            match write_json(&record_path, &row) {
                Ok(()) => PairOutcome::Made(Box::new(row)),
                Err(e) => skipped(e.to_string()),
            }
        }
        Err(reason) => {
            let _ = std::fs::remove_file(&tmp_path);
            skipped(reason)
        }
    }
}

/// Checks the generator's output, fixes its length to `round(N × stretch)` (a few frames at
/// most), re-encodes it as plain 32-bit float WAV, hashes it and renames it into place. Returns (frames, adjustment, sha256).
fn finish_target(
    plan: &PairPlan,
    config: &DatasetConfig,
    tmp: &Path,
    target: &Path,
) -> Result<(u64, i64, String), String> {
    let info = wav_info(tmp).map_err(|e| format!("generator output unreadable: {e}"))?;
    if info.sample_rate != config.sample_rate || info.channels != config.channels {
        return Err(format!(
            "generator output is {} Hz × {} channels, expected {} Hz × {}",
            info.sample_rate, info.channels, config.sample_rate, config.channels
        ));
    }
    let expected = target_frames(plan.clip.num_frames, plan.stretch);
    let adjust = expected as i64 - info.num_frames as i64;
    let tolerance = (expected / 100).max(config.sample_rate as u64 / 10) as i64;
    if adjust.abs() > tolerance {
        return Err(format!(
            "generator output has {} frames, expected round({} × {}) = {expected}",
            info.num_frames, plan.clip.num_frames, plan.stretch
        ));
    }
    // Always re-encoded: libsndfile (Rubber Band's writer) puts a time-stamped PEAK chunk in
    // float WAV files, so its bytes differ from run to run even when the audio does not.
    let (_, mut samples) = read_wav(tmp).map_err(|e| e.to_string())?;
    samples.resize(expected as usize * config.channels as usize, 0.0);
    write_wav(tmp, config.sample_rate, config.channels, &samples).map_err(|e| e.to_string())?;
    let sha = sha256_file(tmp).map_err(|e| e.to_string())?;
    std::fs::rename(tmp, target).map_err(|e| format!("{}: {e}", target.display()))?;
    Ok((expected, adjust, sha))
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
