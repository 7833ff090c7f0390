//! Stage 1 of a build: the sources this run is responsible for, each converted (SoX) and
//! cut into clips, with its resume record in `.state/sources/`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use rayon::prelude::*;

use super::{
    read_json, source_id, write_json, BuildSummary, ClipRecord, Progress, Skipped, SourceContext,
    SourceOutcome, SourceRecord, Stage, StageCounter, INPUT_DIR, STATE_DIR,
};
use crate::audio::{partial_file, write_wav_atomic};
use crate::clips::{clip_slots, is_active};
use crate::config::DatasetConfig;
use crate::convert::convert;
use crate::error::{DatasetError, Result};
use crate::hash::sha256_file;
use crate::manifest::{assign_splits, Shard, Split};
use crate::scan::{CorpusEntry, SourceFile};
use crate::tools::RunError;

/// The sources this run (`shard`) is responsible for, with their group and split.
pub(super) fn source_contexts<'a>(
    sources: &'a [SourceFile],
    corpus: &'a BTreeMap<String, CorpusEntry>,
    config: &DatasetConfig,
    shard: Option<Shard>,
) -> Vec<SourceContext<'a>> {
    let group_of = |s: &SourceFile| {
        corpus
            .get(&s.rel)
            .and_then(|e| e.group.clone())
            .unwrap_or_else(|| s.rel.clone())
    };
    let groups: Vec<String> = sources.iter().map(group_of).collect();
    let splits = assign_splits(groups.iter().map(String::as_str), config.seed, config.split);
    sources
        .iter()
        .zip(groups)
        .enumerate()
        .filter(|(i, _)| shard.is_none_or(|s| i % s.count == s.index))
        .map(|(_, (src, group))| SourceContext {
            src,
            entry: corpus.get(&src.rel),
            split: splits.get(&group).copied().unwrap_or(Split::Train),
            group,
        })
        .collect()
}

/// Stage 1: converts and cuts every source on `pool`; returns the sources that have a record
/// (with it), counting conversions and skips in `summary`.
pub(super) fn prepare_sources<'a>(
    pool: &rayon::ThreadPool,
    contexts: &'a [SourceContext<'a>],
    config: &DatasetConfig,
    out: &Path,
    timeout: Duration,
    progress: &(dyn Fn(Progress) + Sync),
    summary: &mut BuildSummary,
) -> Vec<(&'a SourceContext<'a>, SourceRecord)> {
    let counter = StageCounter::start(Stage::Sources, contexts.len(), progress);
    let prepared: Vec<(Option<SourceRecord>, bool, Option<Skipped>)> = pool.install(|| {
        contexts
            .par_iter()
            .map(|ctx| {
                let r = prepare_source(ctx.src, config, out, timeout);
                counter.item_done();
                r
            })
            .collect()
    });
    let mut records: Vec<(&SourceContext, SourceRecord)> = Vec::new();
    for (ctx, (record, converted, skipped)) in contexts.iter().zip(prepared) {
        summary.sources_converted += usize::from(converted);
        summary.skipped.extend(skipped);
        if let Some(record) = record {
            records.push((ctx, record));
        }
    }
    records
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
    let failed = |reason: String| SourceRecord {
        rel: src.rel.clone(),
        sha256: sha256.to_owned(),
        outcome: SourceOutcome::Failed { reason },
    };
    // Removed when this function returns, whatever happens.
    let work = partial_file(&out.join(STATE_DIR).join("work").join(format!("{id}.wav")))
        .map_err(|e| e.to_string())?;
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
            return Ok(failed(format!("cannot be decoded: {e}")));
        }
        Err(e) => return Err(format!("conversion failed: {e}")),
    }
    cut_converted(&work, id, src, sha256, config, out).map_err(|e| e.to_string())
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
