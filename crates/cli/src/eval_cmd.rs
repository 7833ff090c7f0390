//! `xodvox eval`: quality and speed of XodVox against Rubber Band, SoX and Signalsmith Stretch on
//! a built-in (or dataset) evaluation set, written as a Markdown report with figures, a CSV and a
//! JSON. The work is done by the `xodvox-eval` library; this file is the command-line glue.

use std::path::{Path, PathBuf};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use xodvox_eval::engines::find_program;
use xodvox_eval::run::evaluate;
use xodvox_eval::{
    bench_engines, builtin_set, load_dataset, prepare_engines, write_report, BenchRow, EngineKind,
    EngineOptions, EvalOutcome, EvalSet, MachineInfo, ReportOptions, SetOptions, Task,
};

use crate::errors::{CliError, ExitKind, Tag};

/// Arguments of `xodvox eval`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// Dataset folder with a `manifest.jsonl` whose "test" rows are evaluated (references =
    /// the rows' targets). Without it, the built-in synthetic set is generated.
    #[arg(long, value_name = "DIR")]
    pub set: Option<PathBuf>,
    /// Comma-separated engines: neural, neural-ort, classical, rb-fine, rb-fast, sox,
    /// signalsmith, or `all`. Engines that cannot run here are reported as skipped.
    #[arg(long, value_name = "LIST", default_value = "all")]
    pub engines: String,
    /// Report folder (created): report.md, results.csv, bench.csv, results.json, img/*.png.
    #[arg(long, value_name = "DIR", default_value = "out/eval")]
    pub out: PathBuf,
    /// Neural model bundle folder; without it the shipped default model (embedded,
    /// `models/default/`) is used.
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// Length of each built-in clip in seconds (0.5 to 60).
    #[arg(long, value_name = "SECONDS", default_value_t = 2.0)]
    pub seconds: f64,
    /// Tasks instead of the default list, e.g. `stretch:2,pitch:7` (stretch = duration ratio,
    /// pitch in semitones).
    #[arg(long, value_name = "LIST")]
    pub tasks: Option<String>,
    /// Length of the bench signal in seconds (1 to 600).
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    pub bench_seconds: f64,
    /// Skip the speed/latency/memory bench.
    #[arg(long)]
    pub no_bench: bool,
    /// Also write the Markdown to this file, with image links relative to it (used for
    /// docs/BENCHMARKS.md).
    #[arg(long, value_name = "FILE.md")]
    pub doc: Option<PathBuf>,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Parses `stretch:X,pitch:N` lists.
fn parse_tasks(list: &str) -> anyhow::Result<Vec<Task>> {
    list.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|item| {
            let (kind, value) = item
                .split_once(':')
                .with_context(|| format!("task '{item}' is not KIND:VALUE (stretch:2, pitch:7)"))?;
            let v: f64 = value
                .trim()
                .parse()
                .with_context(|| format!("task '{item}': '{value}' is not a number"))?;
            match kind.trim() {
                "stretch" if (0.25..=4.0).contains(&v) => Ok(Task::stretch(v)),
                "pitch" if (-24.0..=24.0).contains(&v) => Ok(Task::pitch(v)),
                "stretch" | "pitch" => anyhow::bail!(
                    "task '{item}' is out of range (stretch 0.25 to 4, pitch -24 to +24)"
                ),
                other => anyhow::bail!("task '{item}': unknown kind '{other}' (stretch or pitch)"),
            }
        })
        .collect()
}

fn bar(quiet: bool, len: u64, what: &str) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{prefix:>6} [{bar:30}] {pos}/{len} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    pb.set_prefix(what.to_string());
    pb
}

/// Relative path from the folder of `doc` to `target` when `target` is inside it, else absolute.
fn link_prefix(doc: &Path, target: &Path) -> String {
    let base = doc.parent().unwrap_or(Path::new("."));
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let (base, target) = (abs(base), abs(target));
    let rel = target.strip_prefix(&base).unwrap_or(&target);
    format!("{}/", rel.join("img").display())
}

fn git_commit() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// Runs `xodvox eval`.
///
/// # Errors
/// [`ExitKind::Usage`] for bad option values, [`ExitKind::Input`] for an unreadable set or
/// model folder, [`ExitKind::Output`] if the report cannot be written.
pub fn run(args: &EvalArgs) -> Result<(), CliError> {
    let kinds = check_options(args)?;
    let set = load_set(args)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))
        .tag(ExitKind::Output)?;

    let (engines, skipped) = prepare_engines(
        &kinds,
        &EngineOptions {
            model_dir: args.model.clone(),
            search_path: None,
        },
    );
    for s in &skipped {
        eprintln!("eval: {} skipped: {}", s.key, s.reason);
    }
    let compare = [
        ("poly-chord", Task::stretch(2.0)),
        ("drums-kit", Task::stretch(0.8)),
        ("mono-melody", Task::pitch(7.0)),
        ("speech-en", Task::stretch(1.25)),
    ];
    let total: usize = set
        .clips
        .iter()
        .map(|c| c.tasks_or(&set.tasks).len() * engines.len())
        .sum();
    let pb = bar(args.quiet, total as u64, "eval");
    let outcome = evaluate(&set, &engines, skipped, &compare, &mut |done, _, what| {
        pb.set_position(done as u64);
        pb.set_message(what.to_string());
    });
    pb.finish_and_clear();

    let bench = (!args.no_bench).then(|| {
        let pb = bar(args.quiet, engines.len() as u64, "bench");
        let rows = bench_engines(&engines, args.bench_seconds, &mut |done, _, what| {
            pb.set_position(done as u64);
            pb.set_message(what.to_string());
        });
        pb.finish_and_clear();
        rows
    });
    write_outputs(args, &outcome, bench.as_deref())
}

/// Checks the option values that need no file, and returns the engines asked for.
fn check_options(args: &EvalArgs) -> Result<Vec<EngineKind>, CliError> {
    let kinds = EngineKind::parse_list(&args.engines)
        .map_err(|e| CliError::new(ExitKind::Usage, e.to_string()))?;
    if !(1.0..=600.0).contains(&args.bench_seconds) {
        return Err(CliError::new(
            ExitKind::Usage,
            format!(
                "--bench-seconds {} is out of range (1 to 600)",
                args.bench_seconds
            ),
        ));
    }
    if let Some(dir) = &args.model {
        if !dir.join("model.json").is_file() {
            return Err(CliError::new(
                ExitKind::Input,
                format!("--model {}: no model.json there", dir.display()),
            ));
        }
    }
    Ok(kinds)
}

/// The evaluation set: the dataset `--set` names, or the built-in one; `--tasks` replaces
/// the set's tasks (dataset rows keep their own).
fn load_set(args: &EvalArgs) -> Result<EvalSet, CliError> {
    let mut set = match &args.set {
        Some(dir) => load_dataset(dir)
            .with_context(|| format!("cannot read the evaluation set {}", dir.display()))
            .tag(ExitKind::Input)?,
        None => builtin_set(&SetOptions {
            seconds: args.seconds,
            espeak: find_program("espeak-ng", None),
            midi: xodvox_eval::midi::MidiRenderer::find(|p| find_program(p, None)),
        })
        .map_err(|e| CliError::new(ExitKind::Usage, e.to_string()))?,
    };
    if let Some(list) = &args.tasks {
        // Dataset rows keep their own task (their reference exists only for it).
        set.tasks = parse_tasks(list).tag(ExitKind::Usage)?;
    }
    Ok(set)
}

/// Writes the report folder and, with `--doc`, the Markdown document.
fn write_outputs(
    args: &EvalArgs,
    outcome: &EvalOutcome,
    bench: Option<&[BenchRow]>,
) -> Result<(), CliError> {
    let mut machine = MachineInfo::detect();
    machine.build = git_commit();
    let command = format!(
        "xodvox {}",
        std::env::args().skip(1).collect::<Vec<_>>().join(" ")
    );
    let options = ReportOptions {
        command: command.clone(),
        ..ReportOptions::default()
    };
    let files = write_report(&args.out, outcome, bench, &machine, &options)
        .with_context(|| format!("cannot write the report into {}", args.out.display()))
        .tag(ExitKind::Output)?;
    if let Some(doc) = &args.doc {
        let text = xodvox_eval::report::render_markdown(
            outcome,
            bench,
            &machine,
            &ReportOptions {
                title: "XodVox benchmarks".into(),
                image_prefix: link_prefix(doc, &args.out),
                command,
            },
            &files.images,
        );
        std::fs::write(doc, text)
            .with_context(|| format!("cannot write {}", doc.display()))
            .tag(ExitKind::Output)?;
    }
    if !args.quiet {
        eprintln!(
            "eval: {} renders, report {}",
            outcome.measurements.len(),
            files.markdown.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_parse_with_conventions() {
        let t = parse_tasks("stretch:2,pitch:-7").expect("valid");
        assert_eq!(t, vec![Task::stretch(2.0), Task::pitch(-7.0)]);
        assert!(parse_tasks("stretch:5").is_err());
        assert!(parse_tasks("tempo:2").is_err());
        assert!(parse_tasks("pitch").is_err());
    }

    #[test]
    fn doc_links_are_relative() {
        assert_eq!(
            link_prefix(
                Path::new("docs/BENCHMARKS.md"),
                Path::new("docs/benchmarks")
            ),
            "benchmarks/img/"
        );
    }
}
