//! Stage 2 of a build: the (input, controls, style) pairs planned from the clips, each made
//! by its generator (or reused), checked, length-fixed and recorded in `.state/pairs/`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rayon::prelude::*;

use super::{
    draw_controls, read_json, target_frames, write_json, BuildOptions, BuildSummary, PairPlan,
    Progress, Skipped, SourceContext, SourceOutcome, SourceRecord, Stage, StageCounter, STATE_DIR,
    TARGET_DIR,
};
use crate::audio::{partial_file, persist, read_wav, wav_info, write_wav};
use crate::config::DatasetConfig;
use crate::hash::sha256_file;
use crate::manifest::ManifestRow;
use crate::styles::command_line;
use crate::tools::{run, ToolKind};

enum PairOutcome {
    Reused(Box<ManifestRow>),
    Made(Box<ManifestRow>),
    Skipped(Skipped),
    NotStarted,
}

/// Plans `pairs_per_clip` pairs of every kept clip, counting the clips in `summary`.
pub(super) fn plan_pairs<'a>(
    records: &'a [(&'a SourceContext<'a>, SourceRecord)],
    config: &DatasetConfig,
    summary: &mut BuildSummary,
) -> Vec<PairPlan<'a>> {
    let mut plans: Vec<PairPlan> = Vec::new();
    for (ctx, record) in records {
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
    plans
}

/// Stage 2: makes (or reuses) every planned pair on `pool`; returns the manifest rows, counting
/// made, reused, skipped and not started pairs in `summary`.
pub(super) fn make_pairs(
    pool: &rayon::ThreadPool,
    plans: &[PairPlan],
    opts: &BuildOptions,
    out: &Path,
    versions: &BTreeMap<ToolKind, String>,
    progress: &(dyn Fn(Progress) + Sync),
    summary: &mut BuildSummary,
) -> Vec<ManifestRow> {
    let config = &opts.config;
    let timeout = Duration::from_secs(config.tool_timeout_seconds);
    let started = AtomicUsize::new(0);
    let counter = StageCounter::start(Stage::Pairs, plans.len(), progress);
    let outcomes: Vec<PairOutcome> = pool.install(|| {
        plans
            .par_iter()
            .map(|plan| {
                let r = make_pair(plan, config, out, versions, timeout, opts.limit, &started);
                counter.item_done();
                r
            })
            .collect()
    });
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
    rows
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
    let tmp_path = match partial_file(&target_path) {
        Ok(tmp) => tmp,
        Err(e) => return skipped(e.to_string()),
    };
    let tmp_name = tmp_path.file_name().unwrap_or_default().to_string_lossy();
    let tmp_rel = format!("{TARGET_DIR}/{tmp_name}");
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
    if let Err(e) = run(&args(&tmp_rel), out, timeout) {
        return skipped(format!("generator `{generator}` failed: {e}"));
    }
    match finish_target(plan, config, tmp_path, &target_path) {
        Ok(finished) => {
            let row = manifest_row(plan, config, target_rel, generator, version, finished);
            match write_json(&record_path, &row) {
                Ok(()) => PairOutcome::Made(Box::new(row)),
                Err(e) => skipped(e.to_string()),
            }
        }
        Err(reason) => skipped(reason),
    }
}

/// The manifest row of a finished pair: `target` is its path in the dataset folder,
/// `finished` what [`finish_target`] returned (frames, length adjustment, sha256).
fn manifest_row(
    plan: &PairPlan,
    config: &DatasetConfig,
    target: String,
    generator: String,
    version: &str,
    (num_frames_target, length_adjust_frames, target_sha256): (u64, i64, String),
) -> ManifestRow {
    ManifestRow {
        id: plan.id.clone(),
        split: plan.ctx.split.name().to_owned(),
        input: plan.clip.file.clone(),
        target,
        sample_rate: config.sample_rate,
        channels: config.channels,
        num_frames_input: plan.clip.num_frames,
        num_frames_target,
        stretch: plan.stretch,
        pitch_semitones: plan.pitch_semitones,
        style: plan.style.name().to_owned(),
        generator,
        tool_version: version.to_owned(),
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
    }
}

/// Checks the generator's output, fixes its length to `round(N × stretch)` (a few frames at
/// most), re-encodes it as plain 32-bit float WAV, hashes it and renames it into place. Returns (frames, adjustment, sha256).
fn finish_target(
    plan: &PairPlan,
    config: &DatasetConfig,
    tmp: tempfile::TempPath,
    target: &Path,
) -> Result<(u64, i64, String), String> {
    let info = wav_info(&tmp).map_err(|e| format!("generator output unreadable: {e}"))?;
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
    let (_, mut samples) = read_wav(&tmp).map_err(|e| e.to_string())?;
    samples.resize(expected as usize * config.channels as usize, 0.0);
    write_wav(&tmp, config.sample_rate, config.channels, &samples).map_err(|e| e.to_string())?;
    let sha = sha256_file(&tmp).map_err(|e| e.to_string())?;
    persist(tmp, target).map_err(|e| e.to_string())?;
    Ok((expected, adjust, sha))
}
