//! The report: Markdown with tables and figures, a CSV and a JSON of every number.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::bench::BenchRow;
use crate::error::{io_err, EvalError, Result};
use crate::plot::{bar_chart_png, spectrogram_png};
use crate::run::{EvalOutcome, Measurement};

pub use crate::markdown::render_markdown;

/// The machine a report was made on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MachineInfo {
    /// CPU model name (`/proc/cpuinfo`).
    pub cpu: String,
    /// Logical cores available to this process.
    pub cores: usize,
    /// Operating system (`/etc/os-release` PRETTY_NAME).
    pub os: String,
    /// Git commit or other build identifier, if the caller knows it.
    pub build: String,
}

impl MachineInfo {
    /// Reads the CPU model, core count and OS of this machine; `build` is left for the caller.
    pub fn detect() -> Self {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split(':').nth(1))
                    .map(|v| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown CPU".into());
        let os = std::fs::read_to_string("/etc/os-release")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("PRETTY_NAME="))
                    .map(|l| l["PRETTY_NAME=".len()..].trim_matches('"').to_string())
            })
            .unwrap_or_else(|| std::env::consts::OS.into());
        Self {
            cpu,
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            os,
            build: String::new(),
        }
    }
}

/// Files a report consists of.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportFiles {
    /// `report.md`.
    pub markdown: PathBuf,
    /// `results.csv` (one row per clip × task × engine).
    pub csv: PathBuf,
    /// `bench.csv` (one row per engine), when a bench ran.
    pub bench_csv: Option<PathBuf>,
    /// `results.json` (everything).
    pub json: PathBuf,
    /// Every PNG written, under `img/`.
    pub images: Vec<PathBuf>,
}

/// Aggregated numbers of one engine, as in the headline table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Engine key.
    pub engine: String,
    /// Mean multi-resolution STFT distance over clips with a reference.
    pub mrstft: Option<f64>,
    /// Mean log-spectral distance (dB).
    pub lsd_db: Option<f64>,
    /// Mean spectral convergence against the intended magnitudes.
    pub spectral_convergence: Option<f64>,
    /// Mean absolute pitch error (cents) on monophonic clips.
    pub pitch_abs_cents: Option<f64>,
    /// Mean absolute onset error (ms) on drum clips.
    pub onset_abs_ms: Option<f64>,
    /// Mean signed onset error (ms).
    pub onset_signed_ms: Option<f64>,
    /// Hits lost, summed.
    pub onsets_missed: usize,
    /// Renders that failed.
    pub failures: usize,
}

/// Picks one number out of a [`Summary`].
/// A column of the headline table.
pub(crate) type SummaryField = fn(&Summary) -> Option<f64>;

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// Mean of `field` over the measurements of `engine` that pass `filter`.
pub fn mean_of(
    measurements: &[Measurement],
    engine: &str,
    filter: impl Fn(&Measurement) -> bool,
    field: impl Fn(&Measurement) -> Option<f64>,
) -> Option<f64> {
    mean(
        measurements
            .iter()
            .filter(|m| m.engine == engine && filter(m))
            .filter_map(&field),
    )
}

/// The headline numbers per engine (in engine order).
pub fn summarise(outcome: &EvalOutcome) -> Vec<Summary> {
    let ms = &outcome.measurements;
    outcome
        .engines
        .iter()
        .map(|e| {
            let k = e.key.as_str();
            Summary {
                engine: k.into(),
                mrstft: mean_of(ms, k, |_| true, |m| m.mrstft),
                lsd_db: mean_of(ms, k, |_| true, |m| m.lsd_db),
                spectral_convergence: mean_of(ms, k, |_| true, |m| m.spectral_convergence),
                pitch_abs_cents: mean_of(ms, k, |_| true, |m| m.pitch_abs_cents),
                onset_abs_ms: mean_of(ms, k, |_| true, |m| m.onset_abs_ms),
                onset_signed_ms: mean_of(ms, k, |_| true, |m| m.onset_signed_ms),
                onsets_missed: ms
                    .iter()
                    .filter(|m| m.engine == k)
                    .filter_map(|m| m.onsets_missed)
                    .sum(),
                failures: ms
                    .iter()
                    .filter(|m| m.engine == k && m.error.is_some())
                    .count(),
            }
        })
        .collect()
}

/// Options of [`write_report`].
#[derive(Debug, Clone, PartialEq)]
pub struct ReportOptions {
    /// Report title.
    pub title: String,
    /// Prefix of image links in the Markdown (`img/` next to the report).
    pub image_prefix: String,
    /// The command line that made the report, quoted in it.
    pub command: String,
}

impl Default for ReportOptions {
    fn default() -> Self {
        Self {
            title: "XodVox evaluation".into(),
            image_prefix: "img/".into(),
            command: String::new(),
        }
    }
}

/// Writes `report.md`, `results.csv`, `bench.csv`, `results.json` and `img/*.png` into `dir`
/// (created if needed).
///
/// # Errors
/// A file cannot be written or a figure cannot be drawn.
pub fn write_report(
    dir: &Path,
    outcome: &EvalOutcome,
    bench: Option<&[BenchRow]>,
    machine: &MachineInfo,
    options: &ReportOptions,
) -> Result<ReportFiles> {
    let img = dir.join("img");
    std::fs::create_dir_all(&img).map_err(io_err(&img))?;
    let images = write_figures(&img, outcome, bench)?;
    let markdown = dir.join("report.md");
    let text = render_markdown(outcome, bench, machine, options, &images);
    std::fs::write(&markdown, text).map_err(io_err(&markdown))?;
    let csv = dir.join("results.csv");
    std::fs::write(&csv, measurements_csv(&outcome.measurements)).map_err(io_err(&csv))?;
    let bench_csv = match bench {
        Some(rows) => {
            let p = dir.join("bench.csv");
            std::fs::write(&p, bench_csv(rows)).map_err(io_err(&p))?;
            Some(p)
        }
        None => None,
    };
    let json = dir.join("results.json");
    let value = serde_json::json!({
        "machine": machine,
        "set": outcome.set_name,
        "notes": outcome.notes,
        "engines": outcome.engines,
        "skipped": outcome.skipped,
        "summary": summarise(outcome),
        "measurements": outcome.measurements,
        "bench": bench,
    });
    let pretty =
        serde_json::to_string_pretty(&value).map_err(|e| EvalError::Usage(e.to_string()))?;
    std::fs::write(&json, pretty).map_err(io_err(&json))?;
    Ok(ReportFiles {
        markdown,
        csv,
        bench_csv,
        json,
        images,
    })
}

fn write_figures(
    img: &Path,
    outcome: &EvalOutcome,
    bench: Option<&[BenchRow]>,
) -> Result<Vec<PathBuf>> {
    let mut images = Vec::new();
    for c in &outcome.comparisons {
        let mut panels: Vec<(String, &[f32])> = vec![("input".into(), &c.input[..])];
        if let Some(r) = &c.reference {
            panels.push(("reference (exact)".into(), &r[..]));
        }
        for (label, audio) in &c.outputs {
            panels.push((label.clone(), &audio[..]));
        }
        let name = format!(
            "spec-{}-{}.png",
            c.clip,
            c.task.label().replace([' ', '+'], "").replace('.', "_")
        );
        let path = img.join(name);
        spectrogram_png(&path, &panels, f64::from(c.sample_rate), 8000.0)?;
        images.push(path);
    }
    let summary = summarise(outcome);
    let keys: Vec<String> = summary.iter().map(|s| s.engine.clone()).collect();
    let charts: [(&str, &str, SummaryField); 5] = [
        (
            "bar-mrstft.png",
            "MR-STFT distance to reference (lower is better)",
            |s| s.mrstft,
        ),
        (
            "bar-lsd.png",
            "Log-spectral distance, dB (lower is better)",
            |s| s.lsd_db,
        ),
        (
            "bar-sc.png",
            "Spectral convergence vs intended (lower is better)",
            |s| s.spectral_convergence,
        ),
        (
            "bar-pitch.png",
            "Pitch error, cents (lower is better)",
            |s| s.pitch_abs_cents,
        ),
        ("bar-onset.png", "Onset error, ms (lower is better)", |s| {
            s.onset_abs_ms
        }),
    ];
    for (name, title, field) in charts {
        let path = img.join(name);
        let values: Vec<Option<f64>> = summary.iter().map(field).collect();
        bar_chart_png(&path, title, &keys, &values)?;
        images.push(path);
    }
    if let Some(rows) = bench {
        let path = img.join("bar-rtf.png");
        let keys: Vec<String> = rows.iter().map(|r| r.engine.clone()).collect();
        let values: Vec<Option<f64>> = rows
            .iter()
            .map(|r| mean(r.realtime_factor.iter().flatten().copied()))
            .collect();
        bar_chart_png(&path, "Real-time factor (higher is faster)", &keys, &values)?;
        images.push(path);
    }
    Ok(images)
}

fn opt(v: Option<f64>) -> String {
    v.map_or(String::new(), |v| format!("{v:.6}"))
}

/// One row of `results.csv`: the values as the report prints them (six decimals, empty when
/// not measured).
#[derive(Serialize)]
struct MeasurementRow<'a> {
    clip: &'a str,
    category: &'a str,
    stretch: String,
    pitch_semitones: String,
    engine: &'a str,
    mrstft: String,
    lsd_db: String,
    reference_exact: String,
    spectral_convergence: String,
    pitch_abs_cents: String,
    onset_abs_ms: String,
    onset_signed_ms: String,
    onsets_missed: String,
    length_fix: String,
    seconds: String,
    peak_memory_bytes: String,
    error: &'a str,
}

/// One row of `bench.csv`.
#[derive(Serialize)]
struct BenchCsvRow<'a> {
    engine: &'a str,
    rtf_stretch: String,
    rtf_pitch: String,
    block_p50_us: String,
    block_p99_us: String,
    block_max_us: String,
    block_budget_us: String,
    latency_samples: String,
    peak_memory_bytes: String,
    note: &'a str,
}

/// Writes `rows` as CSV with a header (the `csv` crate: quoting where a field needs it).
fn to_csv<T: Serialize>(rows: impl IntoIterator<Item = T>) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    for row in rows {
        w.serialize(row).expect("CSV into memory");
    }
    String::from_utf8(w.into_inner().expect("CSV into memory")).expect("UTF-8 fields")
}

/// `v` as text, empty when not measured (integers and flags).
fn opt_display(v: Option<impl ToString>) -> String {
    v.map_or(String::new(), |v| v.to_string())
}

/// CSV of every measurement (header + one row per clip × task × engine).
pub fn measurements_csv(ms: &[Measurement]) -> String {
    to_csv(ms.iter().map(|m| MeasurementRow {
        clip: &m.clip,
        category: m.category.name(),
        stretch: m.task.stretch.to_string(),
        pitch_semitones: m.task.pitch_semitones.to_string(),
        engine: &m.engine,
        mrstft: opt(m.mrstft),
        lsd_db: opt(m.lsd_db),
        reference_exact: opt_display(m.reference_exact),
        spectral_convergence: opt(m.spectral_convergence),
        pitch_abs_cents: opt(m.pitch_abs_cents),
        onset_abs_ms: opt(m.onset_abs_ms),
        onset_signed_ms: opt(m.onset_signed_ms),
        onsets_missed: opt_display(m.onsets_missed),
        length_fix: m.length_fix.to_string(),
        seconds: format!("{:.6}", m.seconds),
        peak_memory_bytes: opt_display(m.peak_memory_bytes),
        error: m.error.as_deref().unwrap_or(""),
    }))
}

/// CSV of the bench rows.
pub fn bench_csv(rows: &[BenchRow]) -> String {
    to_csv(rows.iter().map(|r| BenchCsvRow {
        engine: &r.engine,
        rtf_stretch: opt(r.realtime_factor.first().copied().flatten()),
        rtf_pitch: opt(r.realtime_factor.get(1).copied().flatten()),
        block_p50_us: opt(r.hop_p50_us),
        block_p99_us: opt(r.hop_p99_us),
        block_max_us: opt(r.hop_max_us),
        block_budget_us: format!("{:.1}", r.hop_budget_us),
        latency_samples: opt_display(r.latency_samples),
        peak_memory_bytes: opt_display(r.peak_memory_bytes),
        note: &r.note,
    }))
}
