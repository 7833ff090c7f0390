//! Paired differences between engines: each engine's metric minus the baseline engine's on the
//! same (clip, task), with the standard error of the mean difference and a win count. Two
//! engines' means can differ by less than their spread over clips while one is better on
//! almost every clip; the paired difference says which, and how sure.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::run::{EvalOutcome, Measurement};
use crate::set::Category;

/// One engine against the baseline on one metric.
#[derive(Debug, Clone, PartialEq)]
pub struct PairedDiff {
    /// Engine key.
    pub engine: String,
    /// Pairs where both engines have the metric.
    pub n: usize,
    /// Mean of (engine − baseline); negative = the engine is closer to the reference.
    pub mean: f64,
    /// Standard error of that mean (sample standard deviation / √n; 0 for n < 2).
    pub se: f64,
    /// Pairs where the engine is strictly better (lower) than the baseline.
    pub better: usize,
}

/// A measurement's metric.
pub type Metric = fn(&Measurement) -> Option<f64>;

/// `engine − baseline` over the (clip, task) pairs both have, restricted to `category` when
/// given. `None` when no pair has the metric for both.
pub fn paired_difference(
    measurements: &[Measurement],
    engine: &str,
    baseline: &str,
    metric: Metric,
    category: Option<Category>,
) -> Option<PairedDiff> {
    let keep = |m: &&Measurement| category.is_none_or(|c| m.category == c);
    let base: HashMap<(&str, &str), f64> = measurements
        .iter()
        .filter(keep)
        .filter(|m| m.engine == baseline)
        .filter_map(|m| Some(((m.clip.as_str(), m.task_label.as_str()), metric(m)?)))
        .collect();
    let diffs: Vec<f64> = measurements
        .iter()
        .filter(keep)
        .filter(|m| m.engine == engine)
        .filter_map(|m| {
            let b = base.get(&(m.clip.as_str(), m.task_label.as_str()))?;
            Some(metric(m)? - b)
        })
        .collect();
    if diffs.is_empty() {
        return None;
    }
    let n = diffs.len();
    let mean = diffs.iter().sum::<f64>() / n as f64;
    let se = if n < 2 {
        0.0
    } else {
        let var = diffs.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        (var / n as f64).sqrt()
    };
    let better = diffs.iter().filter(|d| **d < 0.0).count();
    Some(PairedDiff {
        engine: engine.to_string(),
        n,
        mean,
        se,
        better,
    })
}

/// The baseline of the paired section: the classical engine when it ran, else the first.
pub fn baseline_of(outcome: &EvalOutcome) -> Option<&str> {
    let keys: Vec<&str> = outcome.engines.iter().map(|e| e.key.as_str()).collect();
    keys.iter()
        .find(|k| **k == "classical")
        .or(keys.first())
        .copied()
}

fn cell(d: Option<&PairedDiff>, digits: usize) -> String {
    match d {
        Some(d) => format!(
            "{:+.*} ± {:.*} ({}/{})",
            digits, d.mean, digits, d.se, d.better, d.n
        ),
        None => "–".to_string(),
    }
}

/// The report's "Paired differences" section (markdown), or an empty string with fewer than
/// two engines.
pub fn render_paired(outcome: &EvalOutcome) -> String {
    let Some(baseline) = baseline_of(outcome) else {
        return String::new();
    };
    let others: Vec<&str> = outcome
        .engines
        .iter()
        .map(|e| e.key.as_str())
        .filter(|k| *k != baseline)
        .collect();
    if others.is_empty() {
        return String::new();
    }
    let ms = &outcome.measurements;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\n## Paired differences against `{baseline}`\n\nEach engine's distance minus \
`{baseline}`'s on the same clip and task: mean ± standard error of the mean difference \
(negative = closer to the reference than `{baseline}`), and on how many of the pairs it is \
closer. A difference smaller than about two standard errors is not established.\n"
    );
    let _ = writeln!(s, "| engine | Δ MR-STFT | Δ LSD (dB) |\n|---|---:|---:|");
    let mr: Metric = |m| m.mrstft;
    let lsd: Metric = |m| m.lsd_db;
    for e in &others {
        let a = paired_difference(ms, e, baseline, mr, None);
        let b = paired_difference(ms, e, baseline, lsd, None);
        let _ = writeln!(
            s,
            "| {e} | {} | {} |",
            cell(a.as_ref(), 3),
            cell(b.as_ref(), 2)
        );
    }
    let mut categories: Vec<Category> = ms.iter().map(|m| m.category).collect();
    categories.sort();
    categories.dedup();
    if categories.len() > 1 {
        let names: Vec<&str> = categories.iter().map(|c| c.name()).collect();
        let _ = writeln!(
            s,
            "\nΔ MR-STFT per category:\n\n| engine | {} |\n|---|{}",
            names.join(" | "),
            "---:|".repeat(names.len())
        );
        for e in &others {
            let cells: Vec<String> = categories
                .iter()
                .map(|c| cell(paired_difference(ms, e, baseline, mr, Some(*c)).as_ref(), 3))
                .collect();
            let _ = writeln!(s, "| {e} | {} |", cells.join(" | "));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::set::Task;

    fn m(clip: &str, engine: &str, mr: f64, category: Category) -> Measurement {
        let mut row = Measurement::unmeasured(clip, category, Task::pitch(3.0), engine);
        row.mrstft = Some(mr);
        row.reference_exact = Some(true);
        row
    }

    #[test]
    fn differences_are_paired_by_clip_and_task() {
        let p = Category::Polyphonic;
        let ms = vec![
            m("a", "classical", 1.0, p),
            m("b", "classical", 2.0, p),
            m("c", "classical", 3.0, Category::Drums),
            m("a", "neural", 0.9, p),
            m("b", "neural", 1.7, p),
            m("c", "neural", 3.5, Category::Drums),
            m("z", "neural", 0.0, p), // no baseline for z: not paired
        ];
        let d = paired_difference(&ms, "neural", "classical", |m| m.mrstft, None).unwrap();
        assert_eq!(d.n, 3);
        assert!((d.mean - (-0.1 - 0.3 + 0.5) / 3.0).abs() < 1e-12);
        let diffs = [-0.1, -0.3, 0.5];
        let var = diffs.iter().map(|x| (x - d.mean).powi(2)).sum::<f64>() / 2.0;
        assert!((d.se - (var / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(d.better, 2);
        let poly = paired_difference(&ms, "neural", "classical", |m| m.mrstft, Some(p)).unwrap();
        assert_eq!((poly.n, poly.better), (2, 2));
        assert!(paired_difference(&ms, "neural", "classical", |m| m.lsd_db, None).is_none());
    }
}
