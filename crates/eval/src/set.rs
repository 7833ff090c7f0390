//! Evaluation sets: clips, the tasks applied to them, and — where it is known — what the
//! right answer is.
//!
//! The built-in set ([`builtin_set`]) is synthesised, so its references are exact by
//! construction: an additive clip is a sum of sinusoids with known frequencies, amplitudes
//! and envelopes, and its reference for stretch `s` is the same partials over `s×` the
//! duration (every envelope time scaled by `s`), for pitch `p` the same partials at
//! `2^(p/12)×` the frequency. A drum clip is a list of hits (impulses, decaying noise bursts,
//! decaying sines) at known onset times; its reference for stretch `s` is the same hits at
//! `s×` the onset times, unchanged in shape (what a transient-preserving stretcher should do).

use std::path::Path;
use std::process::{Command, Stdio};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::audio::{read_wav_mono, resample};
use crate::error::{io_err, EvalError, Result};

/// Sample rate of the built-in set in Hz (the model rate).
pub const SAMPLE_RATE: u32 = 48_000;

/// One processing request, in XodVox's conventions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Task {
    /// Duration ratio (output length / input length; 2 = twice as long), 0.25..=4.
    pub stretch: f64,
    /// Pitch shift in semitones, −24..=+24.
    pub pitch_semitones: f64,
}

impl Task {
    /// A pure time stretch (duration ratio `stretch`).
    pub const fn stretch(stretch: f64) -> Self {
        Self {
            stretch,
            pitch_semitones: 0.0,
        }
    }

    /// A pure pitch shift of `pitch_semitones`.
    pub const fn pitch(pitch_semitones: f64) -> Self {
        Self {
            stretch: 1.0,
            pitch_semitones,
        }
    }

    /// Short label for tables: `stretch x2`, `pitch +7`, or both.
    pub fn label(&self) -> String {
        match (self.stretch != 1.0, self.pitch_semitones != 0.0) {
            (true, false) => format!("stretch x{}", self.stretch),
            (false, true) => format!("pitch {:+}", self.pitch_semitones),
            (true, true) => format!("stretch x{} pitch {:+}", self.stretch, self.pitch_semitones),
            (false, false) => "identity".into(),
        }
    }

    /// Frequency ratio of the pitch shift, `2^(pitch/12)`.
    pub fn pitch_ratio(&self) -> f64 {
        (self.pitch_semitones / 12.0).exp2()
    }

    /// Output length in frames for an input of `input_len` frames: `round(len × stretch)`.
    pub fn output_len(&self, input_len: usize) -> usize {
        (input_len as f64 * self.stretch).round() as usize
    }
}

/// The task list of the built-in set: stretch 0.5, 0.8, 1.25, 2 and pitch −7, −3, +3, +7, +12.
pub const DEFAULT_TASKS: [Task; 9] = [
    Task::stretch(0.5),
    Task::stretch(0.8),
    Task::stretch(1.25),
    Task::stretch(2.0),
    Task::pitch(-7.0),
    Task::pitch(-3.0),
    Task::pitch(3.0),
    Task::pitch(7.0),
    Task::pitch(12.0),
];

/// Kind of material, for per-category results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// One harmonic voice at a time (pitch accuracy is measured here).
    Monophonic,
    /// Several voices or inharmonic partials at once.
    Polyphonic,
    /// Clicks and percussive hits (onset accuracy is measured here).
    Drums,
    /// Synthetic speech (espeak-ng); reference-free metrics only.
    Speech,
    /// Test split of a dataset manifest (`--set DIR`); reference = the style's target.
    Dataset,
}

impl Category {
    /// Lower-case name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Monophonic => "monophonic",
            Self::Polyphonic => "polyphonic",
            Self::Drums => "drums",
            Self::Speech => "speech",
            Self::Dataset => "dataset",
        }
    }
}

/// One sinusoid of an additive clip. Times are in input seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Partial {
    /// Frequency in Hz.
    pub freq_hz: f64,
    /// Peak amplitude (linear).
    pub amplitude: f64,
    /// Start time in seconds.
    pub start_s: f64,
    /// End time in seconds.
    pub end_s: f64,
    /// Linear fade-in and fade-out time in seconds.
    pub fade_s: f64,
    /// Exponential decay time constant in seconds after the start (`None` = steady).
    pub decay_s: Option<f64>,
    /// Initial phase in radians.
    pub phase: f64,
}

/// A percussive hit of a drum clip.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Hit {
    /// A single-sample impulse.
    Click {
        /// Impulse height.
        amplitude: f64,
    },
    /// Exponentially decaying white (or first-differenced, brighter) noise from a seeded RNG.
    Burst {
        /// Initial amplitude.
        amplitude: f64,
        /// Decay time constant in seconds.
        decay_s: f64,
        /// First difference of the noise (a hi-hat-like, high-passed burst).
        bright: bool,
        /// ChaCha8 seed of the noise.
        seed: u64,
    },
    /// An exponentially decaying sine starting at phase 0 (a kick-like hit).
    Tone {
        /// Frequency in Hz (moves with the pitch shift).
        freq_hz: f64,
        /// Initial amplitude.
        amplitude: f64,
        /// Decay time constant in seconds.
        decay_s: f64,
    },
}

/// A hit at a known onset time (input seconds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Event {
    /// Onset time in seconds.
    pub time_s: f64,
    /// What is played.
    pub hit: Hit,
}

/// What the right output is.
#[derive(Debug, Clone, PartialEq)]
pub enum Truth {
    /// A sum of sinusoids: exact references for every task.
    Additive(Vec<Partial>),
    /// Hits at known onsets: exact references for stretches (hits keep their shape), approximate
    /// for pitch shifts (noise is not re-pitched), and exact onset times for both.
    Events(Vec<Event>),
    /// Stored targets per task (a dataset's test split): the style's output, not a ground truth.
    Targets(Vec<(Task, Vec<f32>)>),
    /// Nothing known: reference-free metrics only.
    Unknown,
}

/// A steady-pitch stretch of a clip, for the pitch-accuracy metric.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PitchSegment {
    /// Start in seconds.
    pub start_s: f64,
    /// End in seconds.
    pub end_s: f64,
    /// Fundamental frequency in Hz (the strongest partial).
    pub f0_hz: f64,
}

/// A reference output for one task.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    /// The reference signal, exactly `task.output_len(input_len)` frames.
    pub audio: Vec<f32>,
    /// True when it is the exact right answer; false for approximations and dataset targets.
    pub exact: bool,
}

/// One input of an evaluation set.
#[derive(Debug, Clone, PartialEq)]
pub struct Clip {
    /// Unique name, used in tables and file names (`[a-z0-9-]`).
    pub id: String,
    /// Kind of material.
    pub category: Category,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Mono input signal.
    pub audio: Vec<f32>,
    /// What the right output is.
    pub truth: Truth,
    /// Steady-pitch segments of the input (empty where pitch is not measured).
    pub pitch_segments: Vec<PitchSegment>,
    /// Tasks specific to this clip (dataset rows); `None` = the set's task list.
    pub tasks: Option<Vec<Task>>,
    /// Where the clip came from (synthesis description, file, command).
    pub source: String,
}

impl Clip {
    /// The reference output for `task`, if one is known.
    pub fn reference(&self, task: Task) -> Option<Reference> {
        let len = task.output_len(self.audio.len());
        let sr = f64::from(self.sample_rate);
        match &self.truth {
            Truth::Additive(partials) => Some(Reference {
                audio: synth_partials(partials, len, sr, task.stretch, task.pitch_ratio()),
                exact: true,
            }),
            Truth::Events(events) => Some(Reference {
                audio: synth_events(events, len, sr, task.stretch, task.pitch_ratio()),
                exact: task.pitch_semitones == 0.0,
            }),
            Truth::Targets(targets) => {
                targets.iter().find(|(t, _)| *t == task).map(|(_, audio)| {
                    let mut audio = audio.clone();
                    audio.resize(len, 0.0);
                    Reference {
                        audio,
                        exact: false,
                    }
                })
            }
            Truth::Unknown => None,
        }
    }

    /// Steady-pitch segments of the right output for `task` (times × stretch, f0 × ratio).
    pub fn expected_pitch(&self, task: Task) -> Vec<PitchSegment> {
        self.pitch_segments
            .iter()
            .map(|s| PitchSegment {
                start_s: s.start_s * task.stretch,
                end_s: s.end_s * task.stretch,
                f0_hz: s.f0_hz * task.pitch_ratio(),
            })
            .collect()
    }

    /// Onset times (seconds) of the right output for `task`; empty if not a drum clip.
    pub fn expected_onsets(&self, task: Task) -> Vec<f64> {
        match &self.truth {
            Truth::Events(events) => events.iter().map(|e| e.time_s * task.stretch).collect(),
            _ => Vec::new(),
        }
    }

    /// The tasks to run on this clip.
    pub fn tasks_or<'a>(&'a self, default: &'a [Task]) -> &'a [Task] {
        self.tasks.as_deref().unwrap_or(default)
    }
}

/// An evaluation set: clips, the default task list and notes for the report.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalSet {
    /// Where the set came from (`built-in (seed …)` or the manifest path).
    pub name: String,
    /// The inputs.
    pub clips: Vec<Clip>,
    /// Tasks run on clips without their own.
    pub tasks: Vec<Task>,
    /// Things the report must say (e.g. `speech skipped: espeak-ng not installed`).
    pub notes: Vec<String>,
}

/// Options of the built-in generator.
#[derive(Debug, Clone, PartialEq)]
pub struct SetOptions {
    /// Length of every synthetic clip in seconds (≥ 0.5).
    pub seconds: f64,
    /// The `espeak-ng` program to use for the speech clip; `None` skips speech with a note.
    pub espeak: Option<std::path::PathBuf>,
    /// FluidSynth and a soundfont for the MIDI clip; `None` skips it with a note.
    pub midi: Option<crate::midi::MidiRenderer>,
}

impl Default for SetOptions {
    fn default() -> Self {
        Self {
            seconds: 2.0,
            espeak: None,
            midi: None,
        }
    }
}

/// Seed of every random choice in the built-in set.
pub const SET_SEED: u64 = 0x586f_6456_6f78_0006;

/// Sums `partials` into `len` samples at `sr`, with every time scaled by `time_scale` and
/// every frequency by `freq_scale`. Partials at or above 0.45 × `sr` after scaling are left
/// out (no engine can produce them without aliasing).
pub fn synth_partials(
    partials: &[Partial],
    len: usize,
    sr: f64,
    time_scale: f64,
    freq_scale: f64,
) -> Vec<f32> {
    let mut out = vec![0.0f64; len];
    for p in partials {
        let freq = p.freq_hz * freq_scale;
        if freq >= 0.45 * sr {
            continue;
        }
        let (start, end) = (p.start_s * time_scale, p.end_s * time_scale);
        let fade = (p.fade_s * time_scale).max(1e-9);
        let first = ((start * sr).floor().max(0.0) as usize).min(len);
        let last = ((end * sr).ceil().max(0.0) as usize).min(len);
        let w = std::f64::consts::TAU * freq / sr;
        for (n, o) in out.iter_mut().enumerate().take(last).skip(first) {
            let t = n as f64 / sr;
            let env = ((t - start) / fade).clamp(0.0, 1.0) * ((end - t) / fade).clamp(0.0, 1.0);
            let decay = p
                .decay_s
                .map_or(1.0, |d| (-(t - start) / (d * time_scale)).exp());
            *o += p.amplitude * env * decay * (w * n as f64 + p.phase).sin();
        }
    }
    out.into_iter().map(|v| v as f32).collect()
}

/// Renders `events` into `len` samples at `sr`, onsets scaled by `time_scale`, tone
/// frequencies by `freq_scale`; hit shapes are not stretched.
pub fn synth_events(
    events: &[Event],
    len: usize,
    sr: f64,
    time_scale: f64,
    freq_scale: f64,
) -> Vec<f32> {
    let mut out = vec![0.0f64; len];
    for e in events {
        let onset = (e.time_s * time_scale * sr).round() as usize;
        if onset >= len {
            continue;
        }
        match e.hit {
            Hit::Click { amplitude } => out[onset] += amplitude,
            Hit::Burst {
                amplitude,
                decay_s,
                bright,
                seed,
            } => {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                let n = ((6.0 * decay_s * sr) as usize).min(len - onset);
                let mut prev = 0.0f64;
                for k in 0..n {
                    let white: f64 = rng.random_range(-1.0..1.0);
                    let v = if bright { 0.5 * (white - prev) } else { white };
                    prev = white;
                    out[onset + k] += amplitude * v * (-(k as f64) / (decay_s * sr)).exp();
                }
            }
            Hit::Tone {
                freq_hz,
                amplitude,
                decay_s,
            } => {
                let w = std::f64::consts::TAU * freq_hz * freq_scale / sr;
                let n = ((6.0 * decay_s * sr) as usize).min(len - onset);
                for k in 0..n {
                    let kf = k as f64;
                    out[onset + k] += amplitude * (w * kf).sin() * (-kf / (decay_s * sr)).exp();
                }
            }
        }
    }
    out.into_iter().map(|v| v as f32).collect()
}

fn harmonic_partials(
    f0: f64,
    harmonics: usize,
    amplitude: f64,
    (start_s, end_s): (f64, f64),
    fade_s: f64,
) -> Vec<Partial> {
    (1..=harmonics)
        .map(|h| Partial {
            freq_hz: f0 * h as f64,
            amplitude: amplitude / h as f64,
            start_s,
            end_s,
            fade_s,
            decay_s: None,
            phase: 0.37 * h as f64,
        })
        .collect()
}

fn additive_clip(
    id: &str,
    category: Category,
    len: usize,
    partials: Vec<Partial>,
    pitch_segments: Vec<PitchSegment>,
    source: String,
) -> Clip {
    Clip {
        id: id.into(),
        category,
        sample_rate: SAMPLE_RATE,
        audio: synth_partials(&partials, len, f64::from(SAMPLE_RATE), 1.0, 1.0),
        truth: Truth::Additive(partials),
        pitch_segments,
        tasks: None,
        source,
    }
}

fn event_clip(id: &str, len: usize, events: Vec<Event>, source: String) -> Clip {
    Clip {
        id: id.into(),
        category: Category::Drums,
        sample_rate: SAMPLE_RATE,
        audio: synth_events(&events, len, f64::from(SAMPLE_RATE), 1.0, 1.0),
        truth: Truth::Events(events),
        pitch_segments: Vec::new(),
        tasks: None,
        source,
    }
}

/// Builds the built-in set: deterministic (same options → bit-identical clips), 48 kHz mono.
///
/// | clip | category | what |
/// |---|---|---|
/// | `mono-a3` | monophonic | 220 Hz, 8 harmonics (1/h), steady |
/// | `mono-melody` | monophonic | A3 C♯4 E4 A4, 6 harmonics, one note per quarter of the clip |
/// | `poly-chord` | polyphonic | C4 E4 G4 B4, 5 harmonics each, staggered entries |
/// | `poly-bell` | polyphonic | inharmonic bell partials on 440 Hz, two strikes, decaying |
/// | `drums-clicks` | drums | single-sample clicks every 0.25 s |
/// | `drums-kit` | drums | kick (decaying 60 Hz sine + click) and snare (noise burst) alternating every 0.25 s |
/// | `speech-en` | speech | espeak-ng sentence resampled to 48 kHz, when `options.espeak` is set |
/// | `midi-piano` | polyphonic | a MIDI piano phrase by FluidSynth; references re-rendered at tempo / stretch or transposed (not sample-exact), when `options.midi` is set |
///
/// # Errors
/// [`EvalError::Usage`] for `seconds` below 0.5; espeak-ng failures are not errors (the
/// speech clip is left out with a note).
pub fn builtin_set(options: &SetOptions) -> Result<EvalSet> {
    if !(options.seconds >= 0.5 && options.seconds <= 60.0) {
        return Err(EvalError::Usage(format!(
            "clip length {} s is out of range (0.5 to 60)",
            options.seconds
        )));
    }
    let dur = options.seconds;
    let len = (dur * f64::from(SAMPLE_RATE)).round() as usize;
    let mut clips = Vec::new();
    let mut notes = Vec::new();

    clips.push(additive_clip(
        "mono-a3",
        Category::Monophonic,
        len,
        harmonic_partials(220.0, 8, 0.3, (0.0, dur), 0.02),
        vec![PitchSegment {
            start_s: 0.1 * dur,
            end_s: 0.9 * dur,
            f0_hz: 220.0,
        }],
        "additive: 220 Hz, harmonics 1-8 at 0.3/h".into(),
    ));

    let notes_hz = [220.0, 277.183, 329.628, 440.0];
    let quarter = dur / 4.0;
    let mut melody = Vec::new();
    let mut segments = Vec::new();
    for (i, &f0) in notes_hz.iter().enumerate() {
        let (a, b) = (i as f64 * quarter, (i + 1) as f64 * quarter);
        melody.extend(harmonic_partials(f0, 6, 0.3, (a, b), 0.015));
        segments.push(PitchSegment {
            start_s: a + 0.15 * quarter,
            end_s: b - 0.15 * quarter,
            f0_hz: f0,
        });
    }
    clips.push(additive_clip(
        "mono-melody",
        Category::Monophonic,
        len,
        melody,
        segments,
        "additive: A3 C#4 E4 A4, harmonics 1-6 at 0.3/h".into(),
    ));

    let mut chord = Vec::new();
    for (i, f0) in [261.626, 329.628, 391.995, 493.883].into_iter().enumerate() {
        chord.extend(harmonic_partials(
            f0,
            5,
            0.12,
            (i as f64 * 0.08 * dur, dur),
            0.03,
        ));
    }
    clips.push(additive_clip(
        "poly-chord",
        Category::Polyphonic,
        len,
        chord,
        Vec::new(),
        "additive: C4 E4 G4 B4, harmonics 1-5, entries every 8% of the clip".into(),
    ));

    let bell_ratios = [
        (0.56, 0.9),
        (0.92, 0.7),
        (1.19, 0.5),
        (1.71, 0.4),
        (2.0, 0.35),
        (2.74, 0.3),
        (3.0, 0.25),
        (3.76, 0.2),
        (4.07, 0.18),
    ];
    let mut bell = Vec::new();
    for strike in [0.0, 0.5 * dur] {
        for (i, &(ratio, decay)) in bell_ratios.iter().enumerate() {
            bell.push(Partial {
                freq_hz: 440.0 * ratio,
                amplitude: 0.12 / (1.0 + 0.3 * i as f64),
                start_s: strike,
                end_s: dur,
                fade_s: 0.004,
                decay_s: Some(decay * dur / 2.0),
                phase: 0.0,
            });
        }
    }
    clips.push(additive_clip(
        "poly-bell",
        Category::Polyphonic,
        len,
        bell,
        Vec::new(),
        "additive: 9 inharmonic bell partials on 440 Hz, struck twice, decaying".into(),
    ));

    let clicks: Vec<Event> = (0..)
        .map(|k| 0.1 + 0.25 * k as f64)
        .take_while(|&t| t < dur - 0.1)
        .map(|time_s| Event {
            time_s,
            hit: Hit::Click { amplitude: 0.8 },
        })
        .collect();
    clips.push(event_clip(
        "drums-clicks",
        len,
        clicks,
        "single-sample clicks (0.8) every 0.25 s from 0.1 s".into(),
    ));

    let mut rng = ChaCha8Rng::seed_from_u64(SET_SEED);
    let mut kit = Vec::new();
    let mut t = 0.1;
    let mut k = 0;
    while t < dur - 0.15 {
        if k % 2 == 0 {
            kit.push(Event {
                time_s: t,
                hit: Hit::Tone {
                    freq_hz: 60.0,
                    amplitude: 0.7,
                    decay_s: 0.08,
                },
            });
            kit.push(Event {
                time_s: t,
                hit: Hit::Click { amplitude: 0.3 },
            });
        } else {
            kit.push(Event {
                time_s: t,
                hit: Hit::Burst {
                    amplitude: 0.45,
                    decay_s: 0.05,
                    bright: false,
                    seed: rng.random(),
                },
            });
        }
        t += 0.25;
        k += 1;
    }
    clips.push(event_clip(
        "drums-kit",
        len,
        kit,
        "kick (60 Hz decaying sine + click) and snare (noise burst, seeded) alternating every 0.25 s".into(),
    ));

    match &options.espeak {
        Some(program) => match speech_clip(program, dur) {
            Ok(clip) => clips.push(clip),
            Err(e) => notes.push(format!("speech skipped: {e}")),
        },
        None => notes.push("speech skipped: espeak-ng is not installed".into()),
    }
    match &options.midi {
        Some(renderer) => match crate::midi::midi_clip(renderer, dur, &DEFAULT_TASKS) {
            Ok(clip) => clips.push(clip),
            Err(e) => notes.push(format!("MIDI clip skipped: {e}")),
        },
        None => notes.push(
            "MIDI clip skipped: fluidsynth or a General MIDI soundfont (fluid-soundfont-gm) \
             is not installed"
                .into(),
        ),
    }

    Ok(EvalSet {
        name: format!("built-in ({dur} s clips, seed {SET_SEED:#x})"),
        clips,
        tasks: DEFAULT_TASKS.to_vec(),
        notes,
    })
}

/// Speaks a fixed sentence with espeak-ng (deterministic for one espeak-ng version), resamples
/// it to 48 kHz and cuts or pads it to `seconds`.
fn speech_clip(program: &Path, seconds: f64) -> Result<Clip> {
    let dir = tempfile::tempdir().map_err(io_err(std::env::temp_dir()))?;
    let wav = dir.path().join("speech.wav");
    let text = "The quick brown fox jumps over the lazy dog, then sleeps.";
    let output = Command::new(program)
        .args(["-v", "en-us", "-s", "160", "-w"])
        .arg(&wav)
        .arg(text)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| EvalError::Tool {
            tool: program.display().to_string(),
            message: e.to_string(),
        })?;
    if !output.status.success() {
        return Err(EvalError::Tool {
            tool: program.display().to_string(),
            message: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    let (audio, sr) = read_wav_mono(&wav)?;
    let mut audio = resample(&audio, sr, SAMPLE_RATE);
    let peak = audio.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-9);
    audio.iter_mut().for_each(|v| *v *= 0.7 / peak);
    audio.resize((seconds * f64::from(SAMPLE_RATE)).round() as usize, 0.0);
    Ok(Clip {
        id: "speech-en".into(),
        category: Category::Speech,
        sample_rate: SAMPLE_RATE,
        audio,
        truth: Truth::Unknown,
        pitch_segments: Vec::new(),
        tasks: None,
        source: format!(
            "{} -v en-us -s 160 \"{text}\", resampled {sr}→48000 Hz",
            program.display()
        ),
    })
}

/// Reads the test split of a dataset (`DIR/manifest.jsonl`, format in
/// `docs/dataset-manifest.md`): one clip per test row, its task from the row, its reference
/// the row's target (the style's output, marked not exact).
///
/// # Errors
/// A missing or unreadable manifest, a line that is not JSON or lacks a field, an unreadable
/// WAV, or a test split with no rows.
pub fn load_dataset(dir: &Path) -> Result<EvalSet> {
    let manifest = dir.join("manifest.jsonl");
    let text = std::fs::read_to_string(&manifest).map_err(io_err(&manifest))?;
    let mut clips = Vec::new();
    for (idx, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |message: String| EvalError::Manifest {
            path: manifest.clone(),
            line: idx + 1,
            message,
        };
        let row: serde_json::Value =
            serde_json::from_str(line).map_err(|e| bad(format!("not JSON: {e}")))?;
        let field_str = |name: &str| {
            row.get(name)
                .and_then(|v| v.as_str())
                .map(str::to_string)
                .ok_or_else(|| bad(format!("missing or non-string field `{name}`")))
        };
        let field_num = |name: &str| {
            row.get(name)
                .and_then(serde_json::Value::as_f64)
                .ok_or_else(|| bad(format!("missing or non-numeric field `{name}`")))
        };
        if field_str("split")? != "test" {
            continue;
        }
        let task = Task {
            stretch: field_num("stretch")?,
            pitch_semitones: field_num("pitch_semitones")?,
        };
        let id = field_str("id")?;
        let (audio, sr) = read_wav_mono(&dir.join(field_str("input")?))?;
        let (target, target_sr) = read_wav_mono(&dir.join(field_str("target")?))?;
        if sr != target_sr {
            return Err(bad(format!(
                "input is {sr} Hz but target is {target_sr} Hz"
            )));
        }
        clips.push(Clip {
            id: sanitize_id(&id),
            category: Category::Dataset,
            sample_rate: sr,
            audio,
            truth: Truth::Targets(vec![(task, target)]),
            pitch_segments: Vec::new(),
            tasks: Some(vec![task]),
            source: format!(
                "{} (style {})",
                field_str("source").unwrap_or_default(),
                field_str("style").unwrap_or_default()
            ),
        });
    }
    if clips.is_empty() {
        return Err(EvalError::Usage(format!(
            "{}: no rows with split \"test\"",
            manifest.display()
        )));
    }
    Ok(EvalSet {
        name: manifest.display().to_string(),
        clips,
        tasks: Vec::new(),
        notes: vec![
            "dataset references are the style's targets (another tool's output), not ground truth"
                .into(),
        ],
    })
}

/// Lower-cases `id` and replaces anything outside `[a-z0-9-]` with `-`.
fn sanitize_id(id: &str) -> String {
    id.chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}
