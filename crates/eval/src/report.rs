//! The report: Markdown with tables and figures, a CSV and a JSON of every number.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::bench::{BenchRow, BENCH_TASKS};
use crate::error::{io_err, EvalError, Result};
use crate::plot::{bar_chart_png, font, spectrogram_png, SPEC_RANGE_DB};
use crate::run::{EvalOutcome, Measurement};
use crate::set::Category;

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
type SummaryField = fn(&Summary) -> Option<f64>;

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

fn fmt(v: Option<f64>, digits: usize) -> String {
    v.map_or("–".into(), |v| format!("{v:.digits$}"))
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or("–".into(), |b| format!("{:.1}", b as f64 / 1048576.0))
}

/// Marks the smallest value of a row of optional numbers in bold.
fn row_with_best(values: &[Option<f64>], digits: usize) -> Vec<String> {
    let best = values
        .iter()
        .flatten()
        .copied()
        .map(f64::abs)
        .fold(f64::INFINITY, f64::min);
    values
        .iter()
        .map(|v| match v {
            // Ties at the shown precision are all bold.
            Some(x)
                if format!("{:.digits$}", x.abs()) == format!("{best:.digits$}")
                    && values.iter().flatten().count() > 1 =>
            {
                format!("**{x:.digits$}**")
            }
            _ => fmt(*v, digits),
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

/// The Markdown text of the report.
pub fn render_markdown(
    outcome: &EvalOutcome,
    bench: Option<&[BenchRow]>,
    machine: &MachineInfo,
    options: &ReportOptions,
    images: &[PathBuf],
) -> String {
    let ms = &outcome.measurements;
    let mut s = String::new();
    let _ = writeln!(s, "# {}\n", options.title);
    if !options.command.is_empty() {
        let _ = writeln!(s, "Generated by `{}`.\n", options.command);
    }
    let _ = writeln!(
        s,
        "Machine: {} ({} logical cores), {}{}. Set: {}.\n",
        machine.cpu,
        machine.cores,
        machine.os,
        if machine.build.is_empty() {
            String::new()
        } else {
            format!(", build {}", machine.build)
        },
        outcome.set_name
    );

    let _ = writeln!(
        s,
        "## Engines\n\n| key | engine | version / source | status |\n|---|---|---|---|"
    );
    for e in &outcome.engines {
        let _ = writeln!(s, "| {} | {} | {} | ran |", e.key, e.label, e.version);
    }
    for k in &outcome.skipped {
        let _ = writeln!(s, "| {} | {} | – | skipped: {} |", k.key, k.label, k.reason);
    }

    let summary = summarise(outcome);
    let _ = writeln!(
        s,
        "\n## Headline\n\nMeans over every clip and task (lower is better everywhere; best in bold). \
MR-STFT and LSD compare with the reference; SC is reference-free; pitch is measured on the \
monophonic clips, onsets on the drum clips.\n"
    );
    let _ = writeln!(
        s,
        "| engine | MR-STFT | LSD (dB) | SC | pitch error (cents) | onset error (ms) | onset bias (ms) | lost hits | failed renders |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let cols: [(SummaryField, usize); 5] = [
        (|x| x.mrstft, 3),
        (|x| x.lsd_db, 2),
        (|x| x.spectral_convergence, 3),
        (|x| x.pitch_abs_cents, 2),
        (|x| x.onset_abs_ms, 2),
    ];
    let columns: Vec<Vec<String>> = cols
        .iter()
        .map(|(f, d)| row_with_best(&summary.iter().map(f).collect::<Vec<_>>(), *d))
        .collect();
    for (i, (sum, info)) in summary.iter().zip(&outcome.engines).enumerate() {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            info.label,
            columns[0][i],
            columns[1][i],
            columns[2][i],
            columns[3][i],
            columns[4][i],
            fmt(sum.onset_signed_ms, 2),
            sum.onsets_missed,
            sum.failures
        );
    }

    s.push_str(&crate::paired::render_paired(outcome));

    let categories: BTreeSet<Category> = ms.iter().map(|m| m.category).collect();
    let mut tasks: Vec<(String, f64, f64)> = Vec::new();
    for m in ms {
        if !tasks.iter().any(|t| t.0 == m.task_label) {
            tasks.push((m.task_label.clone(), m.task.stretch, m.task.pitch_semitones));
        }
    }
    type Field = fn(&Measurement) -> Option<f64>;
    let per = |s: &mut String,
               title: &str,
               digits: usize,
               field: Field,
               by_task: bool,
               only: Option<Category>| {
        let heads: Vec<String> = if by_task {
            tasks.iter().map(|t| t.0.clone()).collect()
        } else {
            categories.iter().map(|c| c.name().to_string()).collect()
        };
        let _ = writeln!(s, "\n### {title}\n");
        let _ = writeln!(s, "| engine | {} |", heads.join(" | "));
        let _ = writeln!(s, "|---|{}", "---:|".repeat(heads.len()));
        let mut grid: Vec<Vec<Option<f64>>> = Vec::new();
        for e in &outcome.engines {
            let row: Vec<Option<f64>> = if by_task {
                tasks
                    .iter()
                    .map(|t| {
                        mean_of(
                            ms,
                            &e.key,
                            |m| m.task_label == t.0 && only.is_none_or(|c| m.category == c),
                            field,
                        )
                    })
                    .collect()
            } else {
                categories
                    .iter()
                    .map(|c| mean_of(ms, &e.key, |m| m.category == *c, field))
                    .collect()
            };
            grid.push(row);
        }
        // Bold the best per column.
        let cols = heads.len();
        let formatted: Vec<Vec<String>> = (0..cols)
            .map(|j| row_with_best(&grid.iter().map(|r| r[j]).collect::<Vec<_>>(), digits))
            .collect();
        for (i, e) in outcome.engines.iter().enumerate() {
            let cells: Vec<String> = (0..cols).map(|j| formatted[j][i].clone()).collect();
            let _ = writeln!(s, "| {} | {} |", e.key, cells.join(" | "));
        }
    };
    let _ = writeln!(s, "\n## Per category");
    per(
        &mut s,
        "MR-STFT distance to reference",
        3,
        |m| m.mrstft,
        false,
        None,
    );
    per(
        &mut s,
        "Log-spectral distance (dB)",
        2,
        |m| m.lsd_db,
        false,
        None,
    );
    per(
        &mut s,
        "Spectral convergence vs intended magnitudes (reference-free)",
        3,
        |m| m.spectral_convergence,
        false,
        None,
    );
    let _ = writeln!(s, "\n## Per control");
    per(
        &mut s,
        "MR-STFT distance to reference",
        3,
        |m| m.mrstft,
        true,
        None,
    );
    per(
        &mut s,
        "Spectral convergence",
        3,
        |m| m.spectral_convergence,
        true,
        None,
    );
    if categories.contains(&Category::Monophonic) {
        per(
            &mut s,
            "Pitch error on monophonic clips (cents, mean |error|)",
            2,
            |m| m.pitch_abs_cents,
            true,
            Some(Category::Monophonic),
        );
    }
    if categories.contains(&Category::Drums) {
        per(
            &mut s,
            "Onset error on drum clips (ms, mean |error|)",
            2,
            |m| m.onset_abs_ms,
            true,
            Some(Category::Drums),
        );
        per(
            &mut s,
            "Onset bias on drum clips (ms, mean signed error; negative = early)",
            2,
            |m| m.onset_signed_ms,
            true,
            Some(Category::Drums),
        );
    }

    if let Some(rows) = bench {
        let _ = writeln!(s, "\n## Speed, latency, memory\n");
        let _ = writeln!(
            s,
            "One run, one signal (the built-in chord, melody and drum kit mixed, 48 kHz mono). Real-time factor = \
audio seconds / processing seconds for the whole clip ({}); external tools include process start and WAV I/O. \
Per-block times are of the streaming call on {}-sample blocks at pitch {:+} semitones (XodVox: \
`Stretcher::process`; Signalsmith: `Stretch::process`); the real-time budget of one block is {:.0} µs. \
Memory: peak resident set of the child process for command-line tools (sampled every 2 ms); for in-process \
engines the rise of this process's peak resident set during the render (memory the allocator reuses is not counted, \
so this is a lower bound).\n",
            BENCH_TASKS.map(|t| t.label()).join(", "),
            crate::bench::BENCH_BLOCK,
            BENCH_TASKS[1].pitch_semitones,
            rows.first().map_or(0.0, |r| r.hop_budget_us)
        );
        let _ = writeln!(
            s,
            "| engine | RTF {} | RTF {} | block p50 (µs) | block p99 (µs) | block max (µs) | latency (samples) | peak memory (MiB) | note |\n|---|---:|---:|---:|---:|---:|---:|---:|---|",
            BENCH_TASKS[0].label(),
            BENCH_TASKS[1].label()
        );
        for r in rows {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                r.label,
                fmt(r.realtime_factor.first().copied().flatten(), 1),
                fmt(r.realtime_factor.get(1).copied().flatten(), 1),
                fmt(r.hop_p50_us, 0),
                fmt(r.hop_p99_us, 0),
                fmt(r.hop_max_us, 0),
                r.latency_samples.map_or("–".into(), |l| l.to_string()),
                mib(r.peak_memory_bytes),
                r.note
            );
        }
    }

    let names: Vec<String> = images
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().to_string()))
        .collect();
    let _ = writeln!(s, "\n## Spectrograms\n");
    let _ = writeln!(
        s,
        "Same clip, every engine, one colour scale: 0 dB = the loudest bin in the figure, black = −{SPEC_RANGE_DB} dB; \
0–8 kHz, linear. Panels from the top: input, reference, then {}.\n",
        outcome.engines.iter().map(|e| e.label.as_str()).collect::<Vec<_>>().join(", ")
    );
    for n in names.iter().filter(|n| n.starts_with("spec-")) {
        let _ = writeln!(s, "![{n}]({}{n})\n", options.image_prefix);
    }
    let _ = writeln!(s, "## Charts\n");
    for n in names.iter().filter(|n| n.starts_with("bar-")) {
        let _ = writeln!(s, "![{n}]({}{n})", options.image_prefix);
    }

    let _ = writeln!(s, "\n## How it was measured\n");
    let _ = writeln!(s, "- Every output is compared at exactly `round(N × stretch)` samples, input time 0 on output sample 0. XodVox and Signalsmith (`exact`) compensate their latency themselves; the command-line tools write latency-compensated files. Lengths were then fitted (zero-pad or cut at the end) by at most:");
    for e in &outcome.engines {
        let worst = ms
            .iter()
            .filter(|m| m.engine == e.key)
            .map(|m| m.length_fix)
            .max_by_key(|v| v.abs())
            .unwrap_or(0);
        let _ = writeln!(s, "  - {}: {worst:+} samples", e.key);
    }
    let _ = writeln!(s, "- Alignment is checked, not assumed: the onset bias column is the mean signed difference between hit onsets in the output and in the reference (a constant offset there would be uncompensated latency; a negative bias is pre-echo).");
    let _ = writeln!(s, "- References: additive clips are exact (same partials over `stretch ×` the duration, frequencies × `2^(pitch/12)`); drum clips are exact for stretches (same hits at scaled onsets) and approximate for pitch shifts (noise is not re-pitched); dataset targets are another tool's output.");
    let _ = writeln!(s, "- MR-STFT: spectral convergence + mean |ln-magnitude| difference averaged over FFT sizes 512/1024/2048; LSD: RMS dB difference per frame, n_fft 2048; both with magnitudes floored at 80 dB below the reference's loudest bin (so inaudible residue where the exact reference is digital silence does not dominate). SC: `‖|STFT(out)| − intended‖ / ‖intended‖`, intended = the input read around `k·512/stretch` at `2^(pitch/12)` samples per sample (the chain's own definition), n_fft 2048, hop 512.");
    let _ = writeln!(s, "- Known limit of the onset metric: at stretch 0.5 the drum kit's hits overlap in the reference (hits keep their length while the gaps halve), and every engine, the best included, shows a late bias of 8–18 ms there; read that column as a property of the test, not of the engines.");
    let _ = writeln!(s, "- Pitch: strongest peak within ±6 semitones of the expected fundamental on the middle 70–80% of each note. Onsets: first rise to 25% of the local peak of the first-difference energy (1/3 ms smoothing), output minus reference.");
    if font().is_none() {
        let _ = writeln!(s, "- No TrueType font was found (install `fonts-dejavu-core` or set `XODVOX_FONT`): figures have no text; the order of panels and bars is the engine order above.");
    }
    for note in &outcome.notes {
        let _ = writeln!(s, "- {note}");
    }
    let failures: Vec<&Measurement> = ms.iter().filter(|m| m.error.is_some()).collect();
    if !failures.is_empty() {
        let _ = writeln!(s, "\n### Failed renders\n");
        for m in failures.iter().take(20) {
            let _ = writeln!(
                s,
                "- {} on {} ({}): {}",
                m.engine,
                m.clip,
                m.task_label,
                m.error.as_deref().unwrap_or("")
            );
        }
    }
    s
}

fn opt(v: Option<f64>) -> String {
    v.map_or(String::new(), |v| format!("{v:.6}"))
}

/// CSV of every measurement (header + one row per clip × task × engine).
pub fn measurements_csv(ms: &[Measurement]) -> String {
    let mut s = String::from(
        "clip,category,stretch,pitch_semitones,engine,mrstft,lsd_db,reference_exact,spectral_convergence,pitch_abs_cents,onset_abs_ms,onset_signed_ms,onsets_missed,length_fix,seconds,peak_memory_bytes,error\n",
    );
    for m in ms {
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{:.6},{},\"{}\"",
            m.clip,
            m.category.name(),
            m.task.stretch,
            m.task.pitch_semitones,
            m.engine,
            opt(m.mrstft),
            opt(m.lsd_db),
            m.reference_exact.map_or(String::new(), |b| b.to_string()),
            opt(m.spectral_convergence),
            opt(m.pitch_abs_cents),
            opt(m.onset_abs_ms),
            opt(m.onset_signed_ms),
            m.onsets_missed.map_or(String::new(), |v| v.to_string()),
            m.length_fix,
            m.seconds,
            m.peak_memory_bytes.map_or(String::new(), |v| v.to_string()),
            m.error.as_deref().unwrap_or("").replace('"', "'")
        );
    }
    s
}

/// CSV of the bench rows.
pub fn bench_csv(rows: &[BenchRow]) -> String {
    let mut s = String::from("engine,rtf_stretch,rtf_pitch,block_p50_us,block_p99_us,block_max_us,block_budget_us,latency_samples,peak_memory_bytes,note\n");
    for r in rows {
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{:.1},{},{},\"{}\"",
            r.engine,
            opt(r.realtime_factor.first().copied().flatten()),
            opt(r.realtime_factor.get(1).copied().flatten()),
            opt(r.hop_p50_us),
            opt(r.hop_p99_us),
            opt(r.hop_max_us),
            r.hop_budget_us,
            r.latency_samples.map_or(String::new(), |v| v.to_string()),
            r.peak_memory_bytes.map_or(String::new(), |v| v.to_string()),
            r.note.replace('"', "'")
        );
    }
    s
}
