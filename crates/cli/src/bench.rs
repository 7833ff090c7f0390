//! `xodvox bench`: wall-clock comparison of XodVox classical and neural (the embedded default
//! model, every backend compiled in and loadable: frame by frame, and the batched offline
//! engine of `xodvox render --engine neural`, in process and through the CLI) with Rubber Band
//! (R3 and R2) and SoX on one generated signal, in the same run, plus the frame-by-frame
//! engine's per-hop inference times. Prints Markdown tables; asserts nothing about speed.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use xodvox_dsp::{classical_engine, render_offline, RenderSettings};
use xodvox_eval::bench::BENCH_TASKS;
use xodvox_eval::engines::{find_program, tool_argv};
use xodvox_eval::EngineKind;
use xodvox_infer::{available_backends, load_backend, BackendKind, ModelBundle};

use crate::args::BenchArgs;
use crate::bench_neural::{time_batched_in_process, time_neural_in_process};
use crate::bench_realtime::time_processor;
use crate::errors::{CliError, ExitKind, Tag};
use crate::signal::{test_signal, BENCH_SAMPLE_RATE, SIGNAL_SEED};

/// One timed task: `xodvox eval`'s bench tasks ([`BENCH_TASKS`], the one list both benches
/// time) with this table's label.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Task {
    /// Label in the table.
    pub name: &'static str,
    /// Duration ratio and pitch shift.
    pub spec: xodvox_eval::Task,
}

const TASKS: [Task; 2] = [
    Task {
        name: "stretch x1.5",
        spec: BENCH_TASKS[0],
    },
    Task {
        name: "pitch +3 st",
        spec: BENCH_TASKS[1],
    },
];

/// One measured (or skipped) row.
pub(crate) struct Row {
    /// Engine label.
    pub engine: String,
    /// Task label.
    pub task: &'static str,
    /// Wall seconds.
    pub seconds: f64,
    /// Duration of the output, when known.
    pub output_seconds: Option<f64>,
}

/// What the bench has measured so far.
#[derive(Default)]
struct Results {
    /// One row per (engine, task).
    rows: Vec<Row>,
    /// Engines skipped or failed, with the reason.
    notes: Vec<String>,
    /// Per-hop inference times per (backend, task).
    hops: Vec<(String, Vec<Duration>)>,
}

/// Runs `xodvox bench`.
///
/// # Errors
/// [`ExitKind::Input`] if a `--compare-model` bundle cannot be loaded, [`ExitKind::Output`]
/// if the temporary files or `--out` cannot be written, otherwise
/// [`ExitKind::Other`] when XodVox itself fails.
pub fn run(args: &BenchArgs) -> Result<(), CliError> {
    // Bundles to compare are read first: a bad folder fails before minutes of timing.
    let compared = args
        .compare_model
        .iter()
        .map(|dir| {
            ModelBundle::from_dir(dir)
                .map(|bundle| (model_label(dir), bundle))
                .with_context(|| format!("cannot load the model bundle {}", dir.display()))
                .tag(ExitKind::Input)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let dir = tempfile::tempdir()
        .context("cannot create a temporary directory")
        .tag(ExitKind::Output)?;
    let signal = test_signal(args.seconds, BENCH_SAMPLE_RATE);
    let audio_seconds = signal[0].len() as f64 / f64::from(BENCH_SAMPLE_RATE);
    let input = dir.path().join("bench-input.wav");
    write_f32_wav(&input, &signal, BENCH_SAMPLE_RATE)
        .with_context(|| format!("cannot write {}", input.display()))
        .tag(ExitKind::Output)?;

    let mut results = Results::default();
    bench_classical(&signal, args.runs, &mut results).tag(ExitKind::Other)?;
    let bundle = ModelBundle::embedded_default()
        .context("embedded default model")
        .tag(ExitKind::Other)?;
    bench_neural(&signal, args.runs, &bundle, None, &mut results).tag(ExitKind::Other)?;
    for (label, other) in &compared {
        bench_neural(&signal, args.runs, other, Some(label), &mut results).tag(ExitKind::Other)?;
    }
    bench_external(&input, dir.path(), args.runs, &mut results)?;

    let Results { rows, notes, hops } = results;
    let mut table = format_table(&rows, &notes, audio_seconds, args.runs);
    table.push_str(&format_hop_table(&hops, bundle.meta.hop, BENCH_SAMPLE_RATE));
    print!("{table}");
    if let Some(path) = &args.out {
        std::fs::write(path, &table)
            .with_context(|| format!("cannot write {}", path.display()))
            .tag(ExitKind::Output)?;
    }
    Ok(())
}

/// The classical engine, offline and through the real-time Processor, on every task.
fn bench_classical(signal: &[Vec<f32>], runs: u32, results: &mut Results) -> anyhow::Result<()> {
    for task in TASKS {
        eprintln!("bench: XodVox classical, {}", task.name);
        results
            .rows
            .push(time_xodvox_in_process(signal, task, runs)?);
        if let Some(row) = time_processor(signal, task, runs, None)? {
            eprintln!(
                "bench: XodVox classical (real-time Processor), {}",
                task.name
            );
            results.rows.push(row);
        }
    }
    Ok(())
}

/// The neural engine on every backend built in, with its per-hop inference times; a backend
/// that cannot load is a note. The embedded default model (`compared` = `None`) is timed frame
/// by frame, batched and through the real-time Processor; another bundle (`--compare-model`,
/// `Some(label)`) frame by frame only, its rows and per-hop times labelled with `label`.
fn bench_neural(
    signal: &[Vec<f32>],
    runs: u32,
    bundle: &ModelBundle,
    compared: Option<&str>,
    results: &mut Results,
) -> anyhow::Result<()> {
    for kind in available_backends() {
        let backend = format!("{kind:?}").to_lowercase();
        let name = compared.map_or_else(|| backend.clone(), |label| format!("{backend}, {label}"));
        if let Err(e) = load_backend(kind, bundle) {
            results
                .notes
                .push(format!("XodVox neural ({name}): skipped, {e}"));
            continue;
        }
        for task in TASKS {
            eprintln!("bench: XodVox neural ({name}), {}", task.name);
            let (row, times) = time_neural_in_process(signal, task, runs, bundle, kind, &name)?;
            results.rows.push(row);
            results.hops.push((format!("{name}, {}", task.name), times));
            if compared.is_none() {
                bench_default_paths(signal, task, runs, bundle, kind, &name, results)?;
            }
        }
    }
    Ok(())
}

/// The default model's batched offline engine and real-time Processor rows for one backend
/// and task.
fn bench_default_paths(
    signal: &[Vec<f32>],
    task: Task,
    runs: u32,
    bundle: &ModelBundle,
    kind: BackendKind,
    name: &str,
    results: &mut Results,
) -> anyhow::Result<()> {
    eprintln!("bench: XodVox neural ({name}, batched), {}", task.name);
    results.rows.push(time_batched_in_process(
        signal, task, runs, bundle, kind, name,
    )?);
    if let Some(row) = time_processor(signal, task, runs, Some((bundle, kind, name)))? {
        eprintln!(
            "bench: XodVox neural ({name}, real-time Processor), {}",
            task.name
        );
        results.rows.push(row);
    }
    Ok(())
}

/// A model bundle's label in the tables: its folder name (`models/rb-v1` -> `rb-v1`).
fn model_label(dir: &Path) -> String {
    dir.components().next_back().map_or_else(
        || dir.display().to_string(),
        |c| c.as_os_str().to_string_lossy().into_owned(),
    )
}

/// The external tools (and the `xodvox render` command itself) on the WAV file `input`,
/// writing into `dir`; a tool that is not installed or fails is a note.
fn bench_external(
    input: &Path,
    dir: &Path,
    runs: u32,
    results: &mut Results,
) -> Result<(), CliError> {
    let exe = std::env::current_exe().context("cannot locate the xodvox binary")?;
    for (engine, program, build) in external_commands(&exe) {
        if !program.is_file() && find_program(&program.to_string_lossy(), None).is_none() {
            results.notes.push(format!(
                "{engine}: skipped, `{}` is not installed",
                program.display()
            ));
            continue;
        }
        for task in TASKS {
            eprintln!("bench: {engine}, {}", task.name);
            let out = dir.join("out.wav");
            let _ = std::fs::remove_file(&out);
            let argv = build(task, input, &out);
            match best_of(runs, || time_command(&program, &argv, &out)) {
                Ok((seconds, output_seconds)) => results.rows.push(Row {
                    engine: engine.to_string(),
                    task: task.name,
                    seconds,
                    output_seconds,
                }),
                Err(e) => results
                    .notes
                    .push(format!("{engine}, {}: failed: {e:#}", task.name)),
            }
        }
    }
    Ok(())
}

/// Argument builder for an external tool: (task, input, output) -> argv.
type ArgvBuilder = fn(Task, &Path, &Path) -> Vec<OsString>;

/// The external commands: (table label, program, argv builder).
fn external_commands(exe: &Path) -> Vec<(&'static str, PathBuf, ArgvBuilder)> {
    vec![
        (
            "XodVox classical (CLI, incl. I/O)",
            exe.to_path_buf(),
            xodvox_argv,
        ),
        (
            "XodVox neural batched (CLI, incl. I/O)",
            exe.to_path_buf(),
            |t, i, o| {
                let mut argv = xodvox_argv(t, i, o);
                argv.extend(["--engine".into(), "neural".into()]);
                argv
            },
        ),
        ("rubberband -3 (R3)", "rubberband".into(), |t, i, o| {
            tool_argv(EngineKind::RubberbandR3, t.spec, i, o)
        }),
        ("rubberband -2 (R2)", "rubberband".into(), |t, i, o| {
            tool_argv(EngineKind::RubberbandR2, t.spec, i, o)
        }),
        ("sox tempo / pitch", "sox".into(), |t, i, o| {
            tool_argv(EngineKind::Sox, t.spec, i, o)
        }),
    ]
}

fn xodvox_argv(task: Task, input: &Path, output: &Path) -> Vec<OsString> {
    vec![
        "render".into(),
        input.into(),
        output.into(),
        "--quiet".into(),
        format!("--stretch={}", task.spec.stretch).into(),
        format!("--pitch={}", task.spec.pitch_semitones).into(),
    ]
}

/// Runs `measure` `runs` times and keeps the fastest (seconds, output seconds).
pub(crate) fn best_of(
    runs: u32,
    mut measure: impl FnMut() -> anyhow::Result<(f64, Option<f64>)>,
) -> anyhow::Result<(f64, Option<f64>)> {
    let mut best = measure()?;
    for _ in 1..runs {
        let next = measure()?;
        if next.0 < best.0 {
            best = next;
        }
    }
    Ok(best)
}

fn time_xodvox_in_process(signal: &[Vec<f32>], task: Task, runs: u32) -> anyhow::Result<Row> {
    let settings = RenderSettings {
        sample_rate: f64::from(BENCH_SAMPLE_RATE),
        stretch: task.spec.stretch,
        pitch_semitones: task.spec.pitch_semitones,
        ..RenderSettings::default()
    };
    let (seconds, output_seconds) = best_of(runs, || {
        let engine = classical_engine(settings.n_fft);
        let started = Instant::now();
        let result = render_offline(signal, &settings, engine, &mut |_, _| {})?;
        let seconds = started.elapsed().as_secs_f64();
        let frames = result.channels.first().map_or(0, Vec::len);
        Ok((seconds, Some(frames as f64 / f64::from(BENCH_SAMPLE_RATE))))
    })?;
    Ok(Row {
        engine: "XodVox classical (in process)".into(),
        task: task.name,
        seconds,
        output_seconds,
    })
}

/// Per-hop inference times of the neural renders: median, p99, max and the share of one core
/// (mean time / hop duration).
fn format_hop_table(runs: &[(String, Vec<Duration>)], hop: usize, sample_rate: u32) -> String {
    let mut s = String::new();
    if runs.is_empty() {
        return s;
    }
    let hop_ms = hop as f64 * 1000.0 / f64::from(sample_rate);
    let _ = writeln!(
        s,
        "\nNeural inference per hop (embedded default model unless the row names another \
         bundle; one inference per hop for all channels; hop {hop_ms:.2} ms):\n"
    );
    let _ = writeln!(
        s,
        "| backend, task | hops | median ms | p99 ms | max ms | share of a core |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|");
    for (label, times) in runs {
        let mut ms: Vec<f64> = times.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        if ms.is_empty() {
            continue;
        }
        ms.sort_by(f64::total_cmp);
        let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
        let mean = ms.iter().sum::<f64>() / ms.len() as f64;
        let _ = writeln!(
            s,
            "| {label} | {} | {:.3} | {:.3} | {:.3} | {:.3} |",
            ms.len(),
            at(0.5),
            at(0.99),
            ms[ms.len() - 1],
            mean / hop_ms
        );
    }
    s
}

/// Runs a command, returns its wall time and the duration of the WAV it wrote (if readable).
fn time_command(
    program: &Path,
    argv: &[OsString],
    out: &Path,
) -> anyhow::Result<(f64, Option<f64>)> {
    let started = Instant::now();
    let result = Command::new(program)
        .args(argv)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("cannot run {}", program.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    if !result.status.success() {
        let stderr = String::from_utf8_lossy(&result.stderr);
        bail!(
            "{} exited with {}: {}",
            program.display(),
            result.status,
            stderr.trim()
        );
    }
    let output_seconds = hound::WavReader::open(out)
        .ok()
        .map(|r| f64::from(r.duration()) / f64::from(r.spec().sample_rate));
    Ok((seconds, output_seconds))
}

fn write_f32_wav(path: &Path, channels: &[Vec<f32>], sample_rate: u32) -> anyhow::Result<()> {
    let spec = hound::WavSpec {
        channels: u16::try_from(channels.len())?,
        sample_rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut writer = hound::WavWriter::create(path, spec)?;
    for frame_idx in 0..channels[0].len() {
        for ch in channels {
            writer.write_sample(ch[frame_idx])?;
        }
    }
    writer.finalize()?;
    Ok(())
}

fn format_table(rows: &[Row], notes: &[String], audio_seconds: f64, runs: u32) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Test signal: {audio_seconds:.1} s stereo {BENCH_SAMPLE_RATE} Hz (tones, chord, noise \
         bursts, clicks; seed {SIGNAL_SEED:#x}); wall time, fastest of {runs} run(s) each; \
         external tools include process start and file I/O.\n"
    );
    let _ = writeln!(
        s,
        "| engine | task | seconds | real-time factor | time vs XodVox classical | output s |"
    );
    let _ = writeln!(s, "|---|---|---:|---:|---:|---:|");
    for row in rows {
        let baseline = rows
            .iter()
            .find(|r| r.task == row.task && r.engine.starts_with("XodVox classical (in process)"))
            .map(|r| r.seconds);
        let relative = baseline.map_or("n/a".to_string(), |b| format!("{:.2}x", row.seconds / b));
        let output = row
            .output_seconds
            .map_or("?".to_string(), |o| format!("{o:.2}"));
        let _ = writeln!(
            s,
            "| {} | {} | {:.3} | {:.1} | {} | {} |",
            row.engine,
            row.task,
            row.seconds,
            audio_seconds / row.seconds.max(1e-9),
            relative,
            output
        );
    }
    for note in notes {
        let _ = writeln!(s, "\nNote: {note}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_ratio_columns() {
        let rows = vec![
            Row {
                engine: "XodVox classical (in process)".into(),
                task: "stretch x1.5",
                seconds: 2.0,
                output_seconds: Some(45.0),
            },
            Row {
                engine: "sox tempo / pitch".into(),
                task: "stretch x1.5",
                seconds: 0.5,
                output_seconds: None,
            },
        ];
        let t = format_table(&rows, &["rubberband: skipped".into()], 30.0, 1);
        assert!(
            t.contains(
                "| XodVox classical (in process) | stretch x1.5 | 2.000 | 15.0 | 1.00x | 45.00 |"
            ),
            "{t}"
        );
        assert!(
            t.contains("| sox tempo / pitch | stretch x1.5 | 0.500 | 60.0 | 0.25x | ? |"),
            "{t}"
        );
        assert!(t.contains("Note: rubberband: skipped"));
    }

    #[test]
    fn hop_table_reports_median_p99_max_and_core_share() {
        let times: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let t = format_hop_table(&[("tract, pitch +3 st".into(), times)], 512, 48_000);
        // Median of 1..=100 ms (index 50 of 99 -> 51 ms), p99 at index 98 -> 99 ms, max 100,
        // mean 50.5 ms over a 10.67 ms hop.
        assert!(
            t.contains("| tract, pitch +3 st | 100 | 51.000 | 99.000 | 100.000 | 4.734 |"),
            "{t}"
        );
        assert!(format_hop_table(&[], 512, 48_000).is_empty());
    }
}
