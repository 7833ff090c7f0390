//! Evaluation sets from a dataset's manifest ([`load_dataset`]): its test split.

use std::path::Path;

use super::{Category, Clip, EvalSet, Task, Truth};
use crate::audio::read_wav_mono;
use xodvox_dataset::{read_manifest, Split, MANIFEST_FILE};

use crate::error::{EvalError, Result};

/// Reads the test split of a dataset (`DIR/manifest.jsonl`, format in
/// `docs/dataset-manifest.md`): one clip per test row, its task from the row, its reference
/// the row's target (the style's output, marked not exact).
///
/// # Errors
/// A missing or unreadable manifest, a row that [`read_manifest`] refuses (not JSON, a
/// required field missing, a duplicate id), an unreadable WAV, or a test split with no rows.
pub fn load_dataset(dir: &Path) -> Result<EvalSet> {
    let manifest = dir.join(MANIFEST_FILE);
    let mut clips = Vec::new();
    for row in read_manifest(&manifest)? {
        if row.split != Split::Test.name() {
            continue;
        }
        let task = Task {
            stretch: row.stretch,
            pitch_semitones: row.pitch_semitones,
        };
        let (audio, sr) = read_wav_mono(&dir.join(&row.input))?;
        let (target, target_sr) = read_wav_mono(&dir.join(&row.target))?;
        if sr != target_sr {
            return Err(EvalError::Manifest {
                path: manifest.clone(),
                id: row.id,
                message: format!("input is {sr} Hz but target is {target_sr} Hz"),
            });
        }
        let category = if row.style == "formant" {
            Category::Formant
        } else {
            Category::Dataset
        };
        clips.push(Clip {
            id: sanitize_id(&row.id),
            category,
            sample_rate: sr,
            audio,
            truth: Truth::Targets(vec![(task, target)]),
            pitch_segments: Vec::new(),
            tasks: Some(vec![task]),
            source: format!("{} (style {})", row.source, row.style),
            style: Some(row.style),
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
