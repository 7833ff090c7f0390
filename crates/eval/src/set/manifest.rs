//! Evaluation sets from a dataset's manifest ([`load_dataset`]): its test split.

use std::path::Path;

use super::{Category, Clip, EvalSet, Task, Truth};
use crate::audio::read_wav_mono;
use crate::error::{io_err, EvalError, Result};

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
        let style = field_str("style").ok();
        let category = if style.as_deref() == Some("formant") {
            Category::Formant
        } else {
            Category::Dataset
        };
        clips.push(Clip {
            id: sanitize_id(&id),
            category,
            sample_rate: sr,
            audio,
            truth: Truth::Targets(vec![(task, target)]),
            pitch_segments: Vec::new(),
            tasks: Some(vec![task]),
            source: format!(
                "{} (style {})",
                field_str("source").unwrap_or_default(),
                style.clone().unwrap_or_default()
            ),
            style,
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
