//! Ground-truth pairs from MIDI: the same phrase rendered by FluidSynth at another tempo (the
//! reference for a stretch) or transposed (the reference for a pitch shift). Musically right
//! rather than sample-exact: a re-rendered note keeps the instrument's own attack and decay,
//! which no stretcher can reproduce, so these references are marked not exact.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::audio::{read_wav_mono, resample};
use crate::error::{io_err, EvalError, Result};
use crate::set::{Category, Clip, Task, Truth};

/// Sample rate of the clips.
const SAMPLE_RATE: u32 = 48_000;
/// MIDI ticks per quarter note.
const DIVISION: u16 = 480;

/// The phrase: `(start beat, length in beats, key, velocity)`; a piano melody over chords,
/// 8 beats long.
const PHRASE: [(f64, f64, u8, u8); 16] = [
    (0.0, 4.0, 48, 70),
    (0.0, 4.0, 55, 60),
    (0.0, 4.0, 64, 60),
    (4.0, 4.0, 45, 70),
    (4.0, 4.0, 52, 60),
    (4.0, 4.0, 60, 60),
    (0.0, 1.0, 72, 96),
    (1.0, 0.5, 74, 90),
    (1.5, 0.5, 76, 90),
    (2.0, 1.0, 79, 100),
    (3.0, 1.0, 76, 90),
    (4.0, 1.0, 72, 96),
    (5.0, 0.5, 71, 90),
    (5.5, 0.5, 69, 90),
    (6.0, 1.0, 67, 100),
    (7.0, 1.0, 69, 90),
];
/// Length of [`PHRASE`] in beats.
const PHRASE_BEATS: f64 = 8.0;

/// FluidSynth and the General MIDI soundfont it plays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MidiRenderer {
    /// The `fluidsynth` program.
    pub program: PathBuf,
    /// A General MIDI `.sf2` soundfont.
    pub soundfont: PathBuf,
}

impl MidiRenderer {
    /// FluidSynth found by `find` plus the first General MIDI soundfont Debian installs
    /// (`fluid-soundfont-gm`), or `None` when either is missing.
    pub fn find(find: impl Fn(&str) -> Option<PathBuf>) -> Option<Self> {
        let program = find("fluidsynth")?;
        let soundfont = [
            "/usr/share/sounds/sf2/FluidR3_GM.sf2",
            "/usr/share/sounds/sf2/default-GM.sf2",
        ]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())?;
        Some(Self { program, soundfont })
    }

    /// Renders the phrase at `bpm`, transposed by `transpose` semitones, to mono 48 kHz.
    fn render(&self, dir: &Path, bpm: f64, transpose: i32) -> Result<Vec<f32>> {
        let name = format!("phrase-{:.4}-{transpose}", bpm);
        let mid = dir.join(format!("{name}.mid"));
        let wav = dir.join(format!("{name}.wav"));
        std::fs::write(&mid, smf(bpm, transpose)).map_err(io_err(&mid))?;
        let output = Command::new(&self.program)
            .args([
                "-ni", "-q", "-g", "0.5", "-R", "0", "-C", "0", "-r", "48000", "-F",
            ])
            .arg(&wav)
            .arg(&self.soundfont)
            .arg(&mid)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| EvalError::Tool {
                tool: self.program.display().to_string(),
                message: e.to_string(),
            })?;
        if !output.status.success() {
            return Err(EvalError::Tool {
                tool: self.program.display().to_string(),
                message: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            });
        }
        let (audio, sr) = read_wav_mono(&wav)?;
        resample(&audio, sr, SAMPLE_RATE)
    }
}

/// A standard MIDI file (format 0) of [`PHRASE`] at `bpm` on an acoustic grand piano.
fn smf(bpm: f64, transpose: i32) -> Vec<u8> {
    let tick = |beats: f64| (beats * f64::from(DIVISION)).round() as u32;
    let mut events: Vec<(u32, u8, Vec<u8>)> = Vec::new();
    let tempo = (60_000_000.0 / bpm).round() as u32;
    events.push((
        0,
        0,
        vec![
            0xff,
            0x51,
            0x03,
            (tempo >> 16) as u8,
            (tempo >> 8) as u8,
            tempo as u8,
        ],
    ));
    events.push((0, 1, vec![0xc0, 0x00]));
    for &(start, len, key, vel) in &PHRASE {
        let key = (i32::from(key) + transpose).clamp(0, 127) as u8;
        // Note-offs sort before note-ons at the same tick (order key 2 < 3).
        events.push((tick(start), 3, vec![0x90, key, vel]));
        events.push((tick(start + len), 2, vec![0x80, key, 0]));
    }
    events.sort_by_key(|(t, order, _)| (*t, *order));
    let mut track = Vec::new();
    let mut last = 0;
    for (t, _, bytes) in events {
        push_vlq(&mut track, t - last);
        track.extend_from_slice(&bytes);
        last = t;
    }
    track.extend_from_slice(&[0x00, 0xff, 0x2f, 0x00]);
    let mut out = b"MThd".to_vec();
    out.extend_from_slice(&6u32.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&DIVISION.to_be_bytes());
    out.extend_from_slice(b"MTrk");
    out.extend_from_slice(&(track.len() as u32).to_be_bytes());
    out.extend_from_slice(&track);
    out
}

/// Appends `value` as a MIDI variable-length quantity.
fn push_vlq(out: &mut Vec<u8>, value: u32) {
    let mut bytes = vec![(value & 0x7f) as u8];
    let mut v = value >> 7;
    while v > 0 {
        bytes.push(((v & 0x7f) as u8) | 0x80);
        v >>= 7;
    }
    out.extend(bytes.into_iter().rev());
}

/// The MIDI clip (`midi-piano`, polyphonic): the phrase filling 85 % of `seconds`, with one
/// re-rendered reference per task (tempo / `stretch`, or transposed by `pitch_semitones`;
/// tasks with a fractional pitch or both controls get none).
///
/// # Errors
/// FluidSynth fails or its output cannot be read.
pub fn midi_clip(renderer: &MidiRenderer, seconds: f64, tasks: &[Task]) -> Result<Clip> {
    let dir = tempfile::tempdir().map_err(io_err(std::env::temp_dir()))?;
    let len = (seconds * f64::from(SAMPLE_RATE)).round() as usize;
    let bpm = 60.0 * PHRASE_BEATS / (0.85 * seconds);
    let mut audio = renderer.render(dir.path(), bpm, 0)?;
    audio.resize(len, 0.0);
    let mut targets = Vec::new();
    for &task in tasks {
        let reference = if task.pitch_semitones == 0.0 {
            renderer.render(dir.path(), bpm / task.stretch, 0)?
        } else if task.stretch == 1.0 && task.pitch_semitones.fract() == 0.0 {
            renderer.render(dir.path(), bpm, task.pitch_semitones as i32)?
        } else {
            continue;
        };
        let mut reference = reference;
        reference.resize(task.output_len(len), 0.0);
        targets.push((task, reference));
    }
    Ok(Clip {
        id: "midi-piano".into(),
        category: Category::Polyphonic,
        sample_rate: SAMPLE_RATE,
        audio,
        truth: Truth::Targets(targets),
        pitch_segments: Vec::new(),
        tasks: None,
        source: format!(
            "MIDI phrase (piano, {bpm:.1} bpm) rendered by {} with {}; references re-rendered \
             at tempo / stretch or transposed (musical ground truth, not sample-exact)",
            renderer.program.display(),
            renderer.soundfont.display()
        ),
        style: None,
    })
}

#[cfg(test)]
mod tests {
    use super::{push_vlq, smf};

    #[test]
    fn vlq_and_header() {
        let mut v = Vec::new();
        push_vlq(&mut v, 0);
        push_vlq(&mut v, 0x7f);
        push_vlq(&mut v, 0x80);
        push_vlq(&mut v, 0x3fff);
        assert_eq!(v, [0x00, 0x7f, 0x81, 0x00, 0xff, 0x7f]);
        let file = smf(120.0, 0);
        assert_eq!(&file[..4], b"MThd");
        assert_eq!(&file[14..18], b"MTrk");
        // 120 bpm = 500 000 µs per quarter note.
        assert!(file
            .windows(6)
            .any(|w| w == [0xff, 0x51, 0x03, 0x07, 0xa1, 0x20]));
        assert!(file.ends_with(&[0x00, 0xff, 0x2f, 0x00]));
        // Transposition moves every note-on key.
        let keys = |f: &[u8]| -> Vec<u8> {
            f.windows(3)
                .filter(|w| w[0] == 0x90 && w[2] > 0)
                .map(|w| w[1])
                .collect()
        };
        let up = keys(&smf(120.0, 12));
        let base = keys(&file);
        assert_eq!(base.len(), super::PHRASE.len());
        assert!(up.iter().zip(&base).all(|(u, b)| *u == b + 12));
    }
}
