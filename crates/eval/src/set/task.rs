//! The processing request ([`Task`]) and the built-in set's task list.

use serde::Serialize;

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
