//! `dataset stats DIR`: the dataset card — counts, hours, control and style distributions per
//! split, and the licences involved.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use crate::error::Result;
use crate::manifest::{read_manifest, ManifestRow, Split, MANIFEST_FILE};

/// Histogram bin edges of `stretch` (half-octave steps of the duration ratio).
pub const STRETCH_EDGES: [f64; 9] = [0.25, 0.354, 0.5, 0.707, 1.0, 1.414, 2.0, 2.828, 4.0];
/// Histogram bin edges of `pitch_semitones`.
pub const PITCH_EDGES: [f64; 9] = [-24.0, -18.0, -12.0, -6.0, 0.0, 6.0, 12.0, 18.0, 24.0];

/// Statistics of one split.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SplitStats {
    /// Manifest rows (pairs).
    pub pairs: usize,
    /// Distinct input clips.
    pub clips: usize,
    /// Distinct source files.
    pub sources: usize,
    /// Hours of distinct input clips.
    pub input_hours: f64,
    /// Hours of targets.
    pub target_hours: f64,
    /// Pairs per style.
    pub styles: BTreeMap<String, usize>,
    /// Pairs per category (`(none)` when the corpus gave none).
    pub categories: BTreeMap<String, usize>,
    /// Pair counts per [`STRETCH_EDGES`] bin (`len = edges − 1`; values outside go to the end bins).
    pub stretch_hist: Vec<usize>,
    /// Pair counts per [`PITCH_EDGES`] bin.
    pub pitch_hist: Vec<usize>,
    /// Smallest and largest stretch.
    pub stretch_range: Option<(f64, f64)>,
    /// Smallest and largest pitch shift.
    pub pitch_range: Option<(f64, f64)>,
}

/// The dataset card.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DatasetStats {
    /// Per split, in `train`, `val`, `test` order.
    pub splits: BTreeMap<Split, SplitStats>,
    /// Licence → (pairs, distinct sources).
    pub licences: BTreeMap<String, (usize, usize)>,
    /// Tool versions seen (`style` → versions).
    pub tool_versions: BTreeMap<String, BTreeSet<String>>,
    /// Sources that appear in more than one split (must be empty).
    pub leaked_sources: Vec<String>,
}

fn bin(edges: &[f64], x: f64) -> usize {
    let n = edges.len() - 1;
    (0..n).find(|&i| x < edges[i + 1]).unwrap_or(n - 1)
}

/// Computes the card of `dir/manifest.jsonl` (or of a manifest file given directly).
///
/// # Errors
/// As [`read_manifest`].
pub fn dataset_stats(path: &Path) -> Result<DatasetStats> {
    let manifest = if path.is_dir() {
        path.join(MANIFEST_FILE)
    } else {
        path.to_owned()
    };
    Ok(stats_of(&read_manifest(&manifest)?))
}

/// Computes the card of parsed rows.
pub fn stats_of(rows: &[ManifestRow]) -> DatasetStats {
    let mut stats = DatasetStats::default();
    let mut seen_clips: BTreeMap<Split, BTreeSet<&str>> = BTreeMap::new();
    let mut seen_sources: BTreeMap<Split, BTreeSet<&str>> = BTreeMap::new();
    let mut licence_sources: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut source_splits: BTreeMap<&str, BTreeSet<Split>> = BTreeMap::new();
    for row in rows {
        let split = match row.split.as_str() {
            "val" => Split::Val,
            "test" => Split::Test,
            _ => Split::Train,
        };
        let source_key = if row.source_file.is_empty() {
            row.source.as_str()
        } else {
            row.source_file.as_str()
        };
        let s = stats.splits.entry(split).or_insert_with(|| SplitStats {
            stretch_hist: vec![0; STRETCH_EDGES.len() - 1],
            pitch_hist: vec![0; PITCH_EDGES.len() - 1],
            ..SplitStats::default()
        });
        s.pairs += 1;
        let rate = f64::from(row.sample_rate.max(1));
        if seen_clips.entry(split).or_default().insert(&row.input) {
            s.clips += 1;
            s.input_hours += row.num_frames_input as f64 / rate / 3600.0;
        }
        if seen_sources.entry(split).or_default().insert(source_key) {
            s.sources += 1;
        }
        s.target_hours += row.num_frames_target as f64 / rate / 3600.0;
        *s.styles.entry(row.style.clone()).or_default() += 1;
        let category = row.category.clone().unwrap_or_else(|| "(none)".to_owned());
        *s.categories.entry(category).or_default() += 1;
        s.stretch_hist[bin(&STRETCH_EDGES, row.stretch)] += 1;
        s.pitch_hist[bin(&PITCH_EDGES, row.pitch_semitones)] += 1;
        let widen = |r: Option<(f64, f64)>, x: f64| {
            Some(r.map_or((x, x), |(lo, hi)| (lo.min(x), hi.max(x))))
        };
        s.stretch_range = widen(s.stretch_range, row.stretch);
        s.pitch_range = widen(s.pitch_range, row.pitch_semitones);
        stats.licences.entry(row.licence.clone()).or_default().0 += 1;
        licence_sources
            .entry(&row.licence)
            .or_default()
            .insert(source_key);
        stats
            .tool_versions
            .entry(row.style.clone())
            .or_default()
            .insert(row.tool_version.clone());
        source_splits.entry(source_key).or_default().insert(split);
    }
    for (licence, sources) in licence_sources {
        if let Some(entry) = stats.licences.get_mut(licence) {
            entry.1 = sources.len();
        }
    }
    stats.leaked_sources = source_splits
        .into_iter()
        .filter(|(_, s)| s.len() > 1)
        .map(|(k, _)| k.to_owned())
        .collect();
    stats
}

fn hist_line(edges: &[f64], counts: &[usize], unit: &str) -> String {
    counts
        .iter()
        .enumerate()
        .filter(|(_, &c)| c > 0)
        .map(|(i, c)| format!("[{}, {}){unit}: {c}", edges[i], edges[i + 1]))
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for DatasetStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total_pairs: usize = self.splits.values().map(|s| s.pairs).sum();
        let total_in = self.splits.values().map(|s| s.input_hours).sum::<f64>() + 0.0;
        let total_out = self.splits.values().map(|s| s.target_hours).sum::<f64>() + 0.0;
        writeln!(
            f,
            "pairs: {total_pairs}, input {total_in:.3} h, targets {total_out:.3} h"
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "| split | pairs | clips | sources | input h | target h |"
        )?;
        writeln!(f, "|---|---:|---:|---:|---:|---:|")?;
        for (split, s) in &self.splits {
            writeln!(
                f,
                "| {} | {} | {} | {} | {:.3} | {:.3} |",
                split.name(),
                s.pairs,
                s.clips,
                s.sources,
                s.input_hours,
                s.target_hours
            )?;
        }
        for (split, s) in &self.splits {
            writeln!(f)?;
            writeln!(f, "{}:", split.name())?;
            let styles: Vec<String> = s.styles.iter().map(|(k, v)| format!("{k} {v}")).collect();
            writeln!(f, "  styles: {}", styles.join(", "))?;
            let cats: Vec<String> = s
                .categories
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            writeln!(f, "  categories: {}", cats.join(", "))?;
            if let (Some((slo, shi)), Some((plo, phi))) = (s.stretch_range, s.pitch_range) {
                writeln!(
                    f,
                    "  stretch {slo}..{shi}: {}",
                    hist_line(&STRETCH_EDGES, &s.stretch_hist, "")
                )?;
                writeln!(
                    f,
                    "  pitch {plo}..{phi} st: {}",
                    hist_line(&PITCH_EDGES, &s.pitch_hist, "")
                )?;
            }
        }
        writeln!(f)?;
        writeln!(f, "licences (pairs, sources):")?;
        for (licence, (pairs, sources)) in &self.licences {
            writeln!(f, "  {licence}: {pairs} pairs, {sources} sources")?;
        }
        let tools: Vec<String> = self
            .tool_versions
            .iter()
            .map(|(k, v)| format!("{k} {}", v.iter().cloned().collect::<Vec<_>>().join("/")))
            .collect();
        writeln!(f, "tool versions: {}", tools.join(", "))?;
        if self.leaked_sources.is_empty() {
            writeln!(f, "split leakage: none (every source is in one split)")
        } else {
            writeln!(
                f,
                "split leakage: {} source(s) in more than one split: {}",
                self.leaked_sources.len(),
                self.leaked_sources.join(", ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins() {
        assert_eq!(bin(&STRETCH_EDGES, 0.5), 2);
        assert_eq!(bin(&STRETCH_EDGES, 1.99), 5);
        assert_eq!(bin(&STRETCH_EDGES, 2.0), 6);
        assert_eq!(bin(&STRETCH_EDGES, 9.0), 7);
        assert_eq!(bin(&PITCH_EDGES, -12.0), 2);
        assert_eq!(bin(&PITCH_EDGES, 12.0), 6);
        assert_eq!(bin(&PITCH_EDGES, -30.0), 0);
    }
}
