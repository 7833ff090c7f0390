//! `xodvox dataset build|stats|merge` end to end on a tiny corpus made with the real `sox`, with
//! the real `sox` and `rubberband` as generators.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use xodvox_dataset::hash::sha256_file;
use xodvox_dataset::{read_manifest, ManifestRow};

const CONFIG: &str = "clip_seconds = 1.0\nmin_clip_seconds = 0.5\npairs_per_clip = 2\nseed = 3\n";

fn xodvox(args: &[&str], path_env: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xodvox"));
    cmd.args(args).stdin(Stdio::null());
    if let Some(p) = path_env {
        cmd.env("PATH", p);
    }
    cmd.output().expect("cannot run xodvox")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn sox(args: &[&str]) {
    let st = Command::new("sox")
        .args(args)
        .status()
        .expect("`sox` is needed for these tests (apt-get install sox libsox-fmt-all)");
    assert!(st.success(), "sox {args:?}");
}

/// A tiny corpus: mono 44.1 kHz WAV, stereo FLAC, 22.05 kHz OGG, an odd-rate file in a
/// subfolder, a silent file, a corrupt file and an empty file.
fn corpus(dir: &Path) -> PathBuf {
    let input = dir.join("corpus");
    std::fs::create_dir_all(input.join("sub/deeper")).expect("mkdir");
    let p = |name: &str| input.join(name).to_string_lossy().into_owned();
    sox(&[
        "-R",
        "-n",
        "-r",
        "44100",
        "-c",
        "1",
        &p("tone.wav"),
        "synth",
        "2.5",
        "sine",
        "440",
        "vol",
        "0.5",
    ]);
    sox(&[
        "-R",
        "-n",
        "-r",
        "48000",
        "-c",
        "2",
        &p("sub/pluck.flac"),
        "synth",
        "2.2",
        "pluck",
        "220",
        "vol",
        "0.6",
    ]);
    sox(&[
        "-R",
        "-n",
        "-r",
        "22050",
        "-c",
        "1",
        &p("sub/square.ogg"),
        "synth",
        "1.6",
        "square",
        "330",
        "vol",
        "0.3",
    ]);
    sox(&[
        "-R",
        "-n",
        "-r",
        "11025",
        "-c",
        "2",
        &p("sub/deeper/noise.wav"),
        "synth",
        "2.0",
        "pinknoise",
        "vol",
        "0.3",
    ]);
    sox(&[
        "-R",
        "-n",
        "-r",
        "48000",
        "-c",
        "2",
        &p("silence.wav"),
        "trim",
        "0",
        "2",
    ]);
    std::fs::write(
        input.join("corrupt.wav"),
        b"RIFF\x10\x00\x00\x00WAVEjunkjunk",
    )
    .expect("write");
    std::fs::write(input.join("empty.flac"), b"").expect("write");
    input
}

fn hashes(dir: &Path) -> BTreeMap<PathBuf, (String, SystemTime)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let mtime = e.metadata().and_then(|m| m.modified()).expect("mtime");
                out.insert(p.clone(), (sha256_file(&p).expect("hash"), mtime));
            }
        }
    }
    out
}

fn build(input: &Path, out: &Path, config: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "dataset",
        "build",
        "--input",
        input.to_str().expect("utf8"),
        "--out",
        out.to_str().expect("utf8"),
        "--config",
        config.to_str().expect("utf8"),
        "--quiet",
    ];
    args.extend_from_slice(extra);
    xodvox(&args, None)
}

fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = corpus(dir.path());
    let config = dir.path().join("dataset.toml");
    std::fs::write(&config, CONFIG).expect("config");
    (dir, input, config)
}

fn manifest_text(out: &Path) -> String {
    std::fs::read_to_string(out.join("manifest.jsonl")).expect("manifest.jsonl")
}

/// Asserts two manifests are byte-identical, showing the first differing row.
fn assert_same_manifest(a: &Path, b: &Path) {
    let (ta, tb) = (manifest_text(a), manifest_text(b));
    if ta != tb {
        let diff = ta
            .lines()
            .zip(tb.lines())
            .find(|(x, y)| x != y)
            .map(|(x, y)| format!("{x}\nvs\n{y}"))
            .unwrap_or_else(|| "different row counts".to_owned());
        panic!("{} and {} differ:\n{diff}", a.display(), b.display());
    }
}

#[test]
fn tiny_corpus_end_to_end() {
    let (dir, input, config) = setup();
    let before = hashes(&input);
    let out = dir.path().join("ds");
    let res = build(&input, &out, &config, &[]);
    let err = stderr(&res);
    assert!(res.status.success(), "build failed: {err}");
    // Corrupt and empty inputs are named and skipped; the silent one has no clip.
    for needle in [
        "skipped: corrupt.wav",
        "skipped: empty.flac",
        "skipped: silence.wav",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
    assert_eq!(hashes(&input), before, "inputs were modified");

    let rows = read_manifest(&out.join("manifest.jsonl")).expect("manifest");
    // tone 2 clips, pluck 2, square 1 (1.6 s < 2 clips), noise 2 → 7 clips, 14 pairs.
    assert_eq!(
        rows.len(),
        14,
        "rows: {:#?}",
        rows.iter().map(|r| &r.id).collect::<Vec<_>>()
    );
    let mut split_of: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for row in &rows {
        let case = &row.id;
        for (rel, frames, sha) in [
            (&row.input, row.num_frames_input, &row.input_sha256),
            (&row.target, row.num_frames_target, &row.target_sha256),
        ] {
            let path = out.join(rel);
            let reader =
                hound::WavReader::open(&path).unwrap_or_else(|e| panic!("{case}: {rel}: {e}"));
            assert_eq!(reader.spec().sample_rate, 48_000, "{case}");
            assert_eq!(reader.spec().channels, 2, "{case}");
            assert_eq!(u64::from(reader.duration()), frames, "{case}: {rel} length");
            assert_eq!(
                &sha256_file(&path).expect("hash"),
                sha,
                "{case}: {rel} hash"
            );
        }
        let want = (row.num_frames_input as f64 * row.stretch).round() as u64;
        assert_eq!(
            row.num_frames_target, want,
            "{case}: target = round(input × stretch)"
        );
        assert!((0.5..=2.0).contains(&row.stretch), "{case}");
        assert!((-12.0..=12.0).contains(&row.pitch_semitones), "{case}");
        let tool = row.generator.split(' ').next().unwrap_or_default();
        assert!(
            (row.style == "sox" && tool == "sox")
                || (row.style.starts_with("rb-") && tool == "rubberband"),
            "{case}: {} / {}",
            row.style,
            row.generator
        );
        assert!(
            row.generator.contains(&row.input) && row.generator.contains(&row.target),
            "{case}"
        );
        assert_eq!(row.licence, "unknown", "{case}");
        split_of
            .entry(&row.source_file)
            .or_default()
            .insert(&row.split);
    }
    for (source, splits) in &split_of {
        assert_eq!(splits.len(), 1, "{source} is in splits {splits:?}");
    }
    let used: BTreeSet<&str> = split_of.values().flatten().copied().collect();
    assert_eq!(
        used.len(),
        3,
        "4 sources should fill train, val and test: {used:?}"
    );

    // Re-running a finished build does nothing: no file is rewritten.
    let snapshot = hashes(&out);
    let again = xodvox(
        &[
            "dataset",
            "build",
            "--input",
            input.to_str().expect("utf8"),
            "--out",
            out.to_str().expect("utf8"),
            "--config",
            config.to_str().expect("utf8"),
        ],
        None,
    );
    let err = stderr(&again);
    assert!(again.status.success(), "{err}");
    assert!(err.contains("0 made now, 14 done before"), "{err}");
    assert!(err.contains("unchanged"), "{err}");
    assert_eq!(
        hashes(&out),
        snapshot,
        "a finished build re-run changed files"
    );

    // The card.
    let stats = xodvox(&["dataset", "stats", out.to_str().expect("utf8")], None);
    let text = String::from_utf8_lossy(&stats.stdout);
    assert!(stats.status.success(), "{}", stderr(&stats));
    for needle in [
        "| train |",
        "| val |",
        "| test |",
        "unknown: 14 pairs, 4 sources",
        "split leakage: none",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }

    // Same inputs and config elsewhere → byte-identical manifest (determinism), and the split
    // is the same.
    let out2 = dir.path().join("ds2");
    let res = build(&input, &out2, &config, &["--jobs", "1"]);
    assert!(res.status.success(), "{}", stderr(&res));
    assert_same_manifest(&out, &out2);
}

#[test]
fn interrupted_builds_resume_to_the_same_manifest() {
    let (dir, input, config) = setup();
    let full = dir.path().join("full");
    assert!(build(&input, &full, &config, &[]).status.success());

    // A partial run (--limit) writes no manifest; the re-run finishes it.
    let part = dir.path().join("part");
    let res = build(&input, &part, &config, &["--limit", "5"]);
    assert!(res.status.success(), "{}", stderr(&res));
    assert!(
        !part.join("manifest.jsonl").exists(),
        "a stopped run wrote a manifest"
    );
    let res = build(&input, &part, &config, &[]);
    assert!(res.status.success(), "{}", stderr(&res));
    assert_same_manifest(&full, &part);

    // A real kill in the middle of generating (SIGKILL), then a re-run.
    let killed = dir.path().join("killed");
    let mut child = Command::new(env!("CARGO_BIN_EXE_xodvox"))
        .args(["dataset", "build", "--quiet", "--jobs", "1", "--input"])
        .arg(&input)
        .arg("--out")
        .arg(&killed)
        .arg("--config")
        .arg(&config)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let pairs = killed.join(".state/pairs");
    let start = Instant::now();
    while std::fs::read_dir(&pairs).map(|d| d.count()).unwrap_or(0) < 3 {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "build made no progress"
        );
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
    let res = build(&input, &killed, &config, &[]);
    assert!(res.status.success(), "{}", stderr(&res));
    assert_same_manifest(&full, &killed);
    let leftovers: Vec<_> = hashes(&killed)
        .into_keys()
        .filter(|p| p.to_string_lossy().contains(".partial."))
        .collect();
    assert!(leftovers.is_empty(), "partial files left: {leftovers:?}");

    // Shards merge into the same manifest.
    let sharded = dir.path().join("sharded");
    for shard in ["1/3", "0/3", "2/3"] {
        let res = build(&input, &sharded, &config, &["--shard", shard]);
        assert!(res.status.success(), "shard {shard}: {}", stderr(&res));
    }
    let merged = xodvox(&["dataset", "merge", sharded.to_str().expect("utf8")], None);
    assert!(merged.status.success(), "{}", stderr(&merged));
    assert_same_manifest(&full, &sharded);
}

#[test]
fn missing_tools_are_reported() {
    let (dir, input, config) = setup();
    // A PATH with sox but no rubberband: rb-* pairs are skipped and named, sox pairs are made.
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    let sox_path = which("sox");
    std::os::unix::fs::symlink(&sox_path, bin.join("sox")).expect("symlink");
    let out = dir.path().join("ds");
    let res = xodvox(
        &[
            "dataset",
            "build",
            "--quiet",
            "--input",
            input.to_str().expect("utf8"),
            "--out",
            out.to_str().expect("utf8"),
            "--config",
            config.to_str().expect("utf8"),
        ],
        Some(bin.to_str().expect("utf8")),
    );
    let err = stderr(&res);
    assert!(res.status.success(), "{err}");
    assert!(
        err.contains("needs `rubberband`, which is not installed"),
        "{err}"
    );
    assert!(err.contains("tone.wav"), "skips name the source: {err}");
    let rows: Vec<ManifestRow> = read_manifest(&out.join("manifest.jsonl")).expect("manifest");
    assert!(
        !rows.is_empty() && rows.iter().all(|r| r.style == "sox"),
        "only sox pairs expected"
    );

    // Without sox nothing can be converted: one clear error naming it.
    let empty = dir.path().join("nothing");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let res = xodvox(
        &[
            "dataset",
            "build",
            "--input",
            input.to_str().expect("utf8"),
            "--out",
            dir.path().join("ds3").to_str().expect("utf8"),
        ],
        Some(empty.to_str().expect("utf8")),
    );
    let err = stderr(&res);
    assert!(!res.status.success());
    assert!(err.starts_with("error: `sox` not found"), "{err}");
}

#[test]
fn changed_config_is_refused_and_bad_values_named() {
    let (dir, input, config) = setup();
    let out = dir.path().join("ds");
    std::fs::create_dir_all(&out).expect("mkdir");
    std::fs::write(out.join("dataset.toml"), "clip_seconds = 2.0\n").expect("write");
    let res = build(&input, &out, &config, &[]);
    assert_eq!(res.status.code(), Some(2), "{}", stderr(&res));
    assert!(
        stderr(&res).contains("different configuration"),
        "{}",
        stderr(&res)
    );
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "stretch_min = 0.01\n").expect("write");
    let res = build(&input, &dir.path().join("ds2"), &bad, &[]);
    assert_eq!(res.status.code(), Some(2));
    assert!(stderr(&res).contains("stretch range"), "{}", stderr(&res));
    let res = build(
        &input,
        &dir.path().join("ds3"),
        &config,
        &["--shard", "3/3"],
    );
    assert_eq!(res.status.code(), Some(2));
}

fn which(program: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(program))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| panic!("`{program}` not on PATH"))
}

#[test]
fn corpus_manifest_gives_licences_categories_and_groups() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("corpus");
    std::fs::create_dir_all(&input).expect("mkdir");
    let mut lines = String::new();
    // Six scores, each "rendered" twice (two files of one group).
    for score in 0..6 {
        for sf in ["a", "b"] {
            let file = format!("s{score}-{sf}.wav");
            let hz = (220 + 40 * score).to_string();
            sox(&[
                "-R",
                "-n",
                "-r",
                "48000",
                "-c",
                "2",
                input.join(&file).to_str().expect("utf8"),
                "synth",
                "1.0",
                "sine",
                &hz,
                "vol",
                "0.4",
            ]);
            lines.push_str(&format!(
                "{{\"file\":\"{file}\",\"licence\":\"CC0-1.0\",\"category\":\"music\",\"group\":\"score{score}\",\"source\":\"score {score} font {sf}\"}}\n"
            ));
        }
    }
    std::fs::write(input.join("corpus.jsonl"), lines).expect("write");
    let config = dir.path().join("dataset.toml");
    std::fs::write(
        &config,
        "clip_seconds = 1.0\npairs_per_clip = 1\nstyles = [\"sox\"]\n",
    )
    .expect("config");
    let out = dir.path().join("ds");
    let res = build(&input, &out, &config, &[]);
    assert!(res.status.success(), "{}", stderr(&res));
    let rows = read_manifest(&out.join("manifest.jsonl")).expect("manifest");
    assert_eq!(rows.len(), 12);
    let mut split_of_group: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for row in &rows {
        assert_eq!(row.licence, "CC0-1.0", "{}", row.id);
        assert_eq!(row.category.as_deref(), Some("music"), "{}", row.id);
        assert!(row.source.starts_with("score "), "{}", row.source);
        split_of_group
            .entry(&row.group)
            .or_default()
            .insert(&row.split);
    }
    assert_eq!(split_of_group.len(), 6);
    for (group, splits) in &split_of_group {
        assert_eq!(splits.len(), 1, "group {group} is in {splits:?}");
    }
}
