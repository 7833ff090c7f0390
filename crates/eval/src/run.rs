//! Runs every engine on every clip and task of a set and measures the outputs.

use serde::Serialize;

use crate::engines::{Engine, Skipped};
use crate::metrics::{lsd_db, mrstft_distance, onset_errors, pitch_errors, spectral_convergence};
use crate::set::{Category, Clip, EvalSet, PitchSegment, Reference, Task};

/// Every number measured for one (clip, task, engine).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measurement {
    /// Clip id.
    pub clip: String,
    /// Clip category.
    pub category: Category,
    /// The task.
    pub task: Task,
    /// Task label (`stretch x2`, `pitch +7`).
    pub task_label: String,
    /// Engine key (`classical`, `rb-fine`, …).
    pub engine: String,
    /// Multi-resolution STFT distance to the reference (lower is better; `None` without one).
    pub mrstft: Option<f64>,
    /// Log-spectral distance to the reference in dB.
    pub lsd_db: Option<f64>,
    /// Whether the reference is exact (synthesised ground truth) or an approximation/target.
    pub reference_exact: Option<bool>,
    /// Spectral convergence against the intended magnitudes (reference-free; lower is better).
    pub spectral_convergence: Option<f64>,
    /// Mean absolute pitch error in cents over the clip's steady segments.
    pub pitch_abs_cents: Option<f64>,
    /// Mean signed onset error in ms (negative = early).
    pub onset_signed_ms: Option<f64>,
    /// Mean absolute onset error in ms.
    pub onset_abs_ms: Option<f64>,
    /// Hits lost by the engine.
    pub onsets_missed: Option<usize>,
    /// Samples the output was padded (+) or cut (−) by to reach `round(N × stretch)`.
    pub length_fix: i64,
    /// Processing wall time in seconds.
    pub seconds: f64,
    /// Peak memory in bytes (see [`crate::engines::Rendered::peak_memory_bytes`]).
    pub peak_memory_bytes: Option<u64>,
    /// The engine's error, when it failed on this clip (all metrics are then `None`).
    pub error: Option<String>,
}

impl Measurement {
    /// The row of `engine` on (`clip`, `task`) before anything is measured: every metric
    /// `None`, no time, no error.
    pub fn unmeasured(clip: &str, category: Category, task: Task, engine: &str) -> Self {
        Self {
            clip: clip.to_string(),
            category,
            task,
            task_label: task.label(),
            engine: engine.to_string(),
            mrstft: None,
            lsd_db: None,
            reference_exact: None,
            spectral_convergence: None,
            pitch_abs_cents: None,
            onset_signed_ms: None,
            onset_abs_ms: None,
            onsets_missed: None,
            length_fix: 0,
            seconds: 0.0,
            peak_memory_bytes: None,
            error: None,
        }
    }
}

/// Outputs kept for one spectrogram comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Clip id.
    pub clip: String,
    /// The task.
    pub task: Task,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// The input.
    pub input: Vec<f32>,
    /// The reference, where there is one.
    pub reference: Option<Vec<f32>>,
    /// (engine label, output) per engine, in engine order.
    pub outputs: Vec<(String, Vec<f32>)>,
}

/// Name, label and version of an engine that ran.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EngineInfo {
    /// Command-line key.
    pub key: String,
    /// Report label.
    pub label: String,
    /// Tool version or model source.
    pub version: String,
}

/// Everything an evaluation produced.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalOutcome {
    /// Set name.
    pub set_name: String,
    /// Notes from the set and the run.
    pub notes: Vec<String>,
    /// Engines that ran, in order.
    pub engines: Vec<EngineInfo>,
    /// Engines that were skipped.
    pub skipped: Vec<Skipped>,
    /// One row per (clip, task, engine).
    pub measurements: Vec<Measurement>,
    /// Spectrogram comparisons.
    pub comparisons: Vec<Comparison>,
}

/// What one (clip, task) is measured against: the reference, where there is one, and
/// the pitch segments and onsets the output should have.
struct Expected {
    reference: Option<Reference>,
    segments: Vec<PitchSegment>,
    onsets: Vec<f64>,
}

impl Expected {
    fn of(clip: &Clip, task: Task) -> Self {
        Self {
            reference: clip.reference(task),
            segments: clip.expected_pitch(task),
            onsets: clip.expected_onsets(task),
        }
    }
}

/// Runs `engines` over `set`. `compare` names the (clip id, task) pairs whose outputs are kept
/// for spectrograms (pairs not in the set are ignored; with none left, the first clip's first
/// task is used). `progress(done, total, what)` is called after every render.
pub fn evaluate(
    set: &EvalSet,
    engines: &[Engine],
    skipped: Vec<Skipped>,
    compare: &[(&str, Task)],
    progress: &mut dyn FnMut(usize, usize, &str),
) -> EvalOutcome {
    let total: usize = set
        .clips
        .iter()
        .map(|c| c.tasks_or(&set.tasks).len() * engines.len())
        .sum();
    let wanted = comparison_pairs(set, compare);
    let mut measurements = Vec::new();
    let mut comparisons = Vec::new();
    let mut done = 0;
    for clip in &set.clips {
        for &task in clip.tasks_or(&set.tasks) {
            let expected = Expected::of(clip, task);
            let keep = wanted.iter().any(|(id, t)| *id == clip.id && *t == task);
            let mut comparison = keep.then(|| Comparison {
                clip: clip.id.clone(),
                task,
                sample_rate: clip.sample_rate,
                input: clip.audio.clone(),
                reference: expected.reference.as_ref().map(|r| r.audio.clone()),
                outputs: Vec::new(),
            });
            for engine in engines {
                let (m, output) = measure(clip, task, engine, &expected);
                if let (Some(c), Some(y)) = (&mut comparison, output) {
                    c.outputs.push((engine.label().to_string(), y));
                }
                measurements.push(m);
                done += 1;
                progress(
                    done,
                    total,
                    &format!("{} {} {}", engine.kind().key(), clip.id, task.label()),
                );
            }
            comparisons.extend(comparison);
        }
    }
    EvalOutcome {
        set_name: set.name.clone(),
        notes: set.notes.clone(),
        engines: engines
            .iter()
            .map(|e| EngineInfo {
                key: e.kind().key().into(),
                label: e.label().into(),
                version: e.version().into(),
            })
            .collect(),
        skipped,
        measurements,
        comparisons,
    }
}

/// The (clip id, task) pairs of `compare` that are in `set`; with none, the first clip's
/// first task.
fn comparison_pairs(set: &EvalSet, compare: &[(&str, Task)]) -> Vec<(String, Task)> {
    let mut wanted: Vec<(String, Task)> = compare
        .iter()
        .filter(|(id, task)| {
            set.clips
                .iter()
                .any(|c| c.id == *id && c.tasks_or(&set.tasks).contains(task))
        })
        .map(|(id, t)| (id.to_string(), *t))
        .collect();
    if wanted.is_empty() {
        if let Some(c) = set.clips.first() {
            if let Some(&t) = c.tasks_or(&set.tasks).first() {
                wanted.push((c.id.clone(), t));
            }
        }
    }
    wanted
}

/// Renders `clip` for `task` with `engine` and measures the output against `expected`;
/// returns the measurement and the output (`None` when the engine failed).
fn measure(
    clip: &Clip,
    task: Task,
    engine: &Engine,
    expected: &Expected,
) -> (Measurement, Option<Vec<f32>>) {
    let mut m = Measurement::unmeasured(&clip.id, clip.category, task, engine.kind().key());
    m.reference_exact = expected.reference.as_ref().map(|r| r.exact);
    let out = match engine.render_style(&clip.audio, clip.sample_rate, task, clip.style.as_deref())
    {
        Ok(out) => out,
        Err(e) => {
            m.error = Some(e.to_string());
            return (m, None);
        }
    };
    let y = &out.audio;
    let sr = f64::from(clip.sample_rate);
    m.length_fix = out.length_fix;
    m.seconds = out.seconds;
    m.peak_memory_bytes = out.peak_memory_bytes;
    if let Some(r) = &expected.reference {
        m.mrstft = Some(mrstft_distance(&r.audio, y));
        m.lsd_db = Some(lsd_db(&r.audio, y));
    }
    m.spectral_convergence = Some(spectral_convergence(&clip.audio, task, y));
    let pitch = pitch_errors(y, sr, &expected.segments);
    if !pitch.is_empty() {
        m.pitch_abs_cents =
            Some(pitch.iter().map(|p| p.cents.abs()).sum::<f64>() / pitch.len() as f64);
    }
    if !expected.onsets.is_empty() {
        let reference = expected.reference.as_ref().map(|r| &r.audio[..]);
        let e = onset_errors(y, reference, sr, &expected.onsets);
        m.onset_signed_ms = e.mean_signed_ms();
        m.onset_abs_ms = e.mean_abs_ms();
        m.onsets_missed = Some(e.missed);
    }
    (m, Some(out.audio))
}
