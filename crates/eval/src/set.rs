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
//!
//! This module holds the clip and truth types; the task type is in `task`, the synthesis in
//! `synth`, the built-in recipe in `recipe` (its speech clip in `espeak`), the dataset reader
//! in `manifest`.

mod espeak;
mod manifest;
mod recipe;
mod synth;
mod task;

use serde::Serialize;

pub use manifest::load_dataset;
pub use recipe::{builtin_set, SetOptions, SET_SEED};
pub use synth::{synth_events, synth_partials};
pub use task::{Task, DEFAULT_TASKS};

/// Sample rate of the built-in set in Hz (the model rate).
pub const SAMPLE_RATE: u32 = 48_000;

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
    /// A dataset's rows of style `formant`: pitch shifts whose reference keeps the input's
    /// spectral envelope (exact formant-preserving additive truth). The neural engine renders
    /// them with the model's `formant` style where it has one.
    Formant,
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
            Self::Formant => "formant",
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
    /// The style its reference was made in (a dataset row's `style`): the neural engine
    /// renders the clip with the model's style of that name where it has one, else style 0.
    pub style: Option<String>,
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
