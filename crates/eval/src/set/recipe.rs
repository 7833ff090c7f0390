//! The recipe of the built-in set ([`builtin_set`]): its options, seed and clips.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::espeak::speech_clip;
use super::{
    synth_events, synth_partials, Category, Clip, EvalSet, Event, Hit, Partial, PitchSegment,
    Truth, DEFAULT_TASKS, SAMPLE_RATE,
};
use crate::error::{EvalError, Result};

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
        style: None,
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
        style: None,
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

    push_monophonic(&mut clips, len, dur);
    push_polyphonic(&mut clips, len, dur);
    push_drums(&mut clips, len, dur);
    push_optional(options, dur, &mut clips, &mut notes);

    Ok(EvalSet {
        name: format!("built-in ({dur} s clips, seed {SET_SEED:#x})"),
        clips,
        tasks: DEFAULT_TASKS.to_vec(),
        notes,
    })
}

/// Adds the monophonic clips (`mono-a3`, `mono-melody`) of `len` samples (`dur` seconds).
fn push_monophonic(clips: &mut Vec<Clip>, len: usize, dur: f64) {
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
}

/// Adds the polyphonic clips (`poly-chord`, `poly-bell`).
fn push_polyphonic(clips: &mut Vec<Clip>, len: usize, dur: f64) {
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
}

/// Adds the drum clips (`drums-clicks`, `drums-kit`).
fn push_drums(clips: &mut Vec<Clip>, len: usize, dur: f64) {
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
}

/// Adds the clips that need an external program (`speech-en`, `midi-piano`), or a note
/// saying why each was left out.
fn push_optional(options: &SetOptions, dur: f64, clips: &mut Vec<Clip>, notes: &mut Vec<String>) {
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
}
