//! Every bad-input case of `xodvox render`: one `error:` line, its exit code, the input never
//! modified and no file (partial or temporary) left behind.

mod common;

use std::path::Path;

use common::*;

const USAGE: i32 = 2;
const INPUT: i32 = 3;
const OUTPUT: i32 = 4;

fn render(input: &Path, output: &Path, flags: &[&str]) -> std::process::Output {
    xodvox(
        ["render".as_ref(), input.as_os_str(), output.as_os_str()]
            .into_iter()
            .chain(flags.iter().map(|f| f.as_ref())),
    )
}

/// A temp dir with a valid 0.5 s stereo WAV `in.wav`.
fn setup() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let input = path_in(&dir, "in.wav");
    write_wav_f32(&input, &test_signal(2, 24_000, 48_000), 48_000);
    (dir, input)
}

#[test]
fn bad_values_are_usage_errors() {
    let (dir, input) = setup();
    let output = path_in(&dir, "out.wav");
    let before = std::fs::read(&input).unwrap();
    let cases: &[(&[&str], &[&str])] = &[
        (&["--stretch", "nan"], &["--stretch", "0.25", "4"]),
        (&["--stretch", "NaN"], &["--stretch"]),
        (&["--stretch", "inf"], &["--stretch"]),
        (&["--stretch", "0"], &["--stretch", "0.25"]),
        (&["--stretch", "-2"], &["--stretch"]),
        (&["--stretch", "4.5"], &["--stretch", "4.5"]),
        (&["--stretch", "fast"], &["--stretch", "fast"]),
        (&["--pitch", "25"], &["--pitch", "25", "semitones"]),
        (&["--pitch", "-24.01"], &["--pitch"]),
        (&["--pitch", "nan"], &["--pitch"]),
        (&["--cents", "150"], &["--cents", "150"]),
        (&["--pitch", "24", "--cents", "1"], &["total pitch", "24"]),
        (&["--pitch", "-24", "--cents", "-50"], &["total pitch"]),
        (&["--model", "/tmp"], &["--model", "--engine neural"]),
        (&["--engine", "magic"], &["magic"]),
        (&["--format", "mp3"], &["mp3"]),
        (&["--bogus"], &["--bogus"]),
    ];
    for (flags, needles) in cases {
        let out = render(&input, &output, flags);
        assert_fails(&out, USAGE, needles, &format!("{flags:?}"));
        assert!(!output.exists(), "{flags:?}: output written");
    }
    // A model directory that is not a bundle is an unusable input (the model), not a usage error.
    let out = render(
        &input,
        &output,
        &["--engine", "neural", "--model", "/nonexistent"],
    );
    assert_fails(&out, INPUT, &["model"], "missing model bundle");
    assert!(!output.exists(), "missing model: output written");
    let out = xodvox(["render", "only-one-arg.wav"]);
    assert_fails(&out, USAGE, &["OUT"], "missing OUT");
    assert_eq!(std::fs::read(&input).unwrap(), before, "input modified");
    assert_eq!(dir_entries(dir.path()), ["in.wav"], "files left behind");
}

#[test]
fn unreadable_inputs_are_input_errors() {
    let dir = tempfile::tempdir().unwrap();
    let output = path_in(&dir, "out.wav");

    let missing = path_in(&dir, "missing.wav");
    assert_fails(
        &render(&missing, &output, &[]),
        INPUT,
        &["missing.wav", "no such file"],
        "missing",
    );

    let empty_bytes = path_in(&dir, "zero-bytes.wav");
    std::fs::write(&empty_bytes, b"").unwrap();
    assert_fails(
        &render(&empty_bytes, &output, &[]),
        INPUT,
        &["zero-bytes.wav", "empty"],
        "0 bytes",
    );

    let no_frames = path_in(&dir, "no-frames.wav");
    write_wav_f32(&no_frames, &[vec![], vec![]], 48_000);
    assert_fails(
        &render(&no_frames, &output, &[]),
        INPUT,
        &["no-frames.wav", "0 frames"],
        "0 frames",
    );

    let text = path_in(&dir, "notes.txt");
    std::fs::write(&text, "these are not audio samples\n".repeat(50)).unwrap();
    assert_fails(
        &render(&text, &output, &[]),
        INPUT,
        &["notes.txt", "unsupported"],
        "text file",
    );

    let garbage = path_in(&dir, "garbage.wav");
    let bytes: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&garbage, &bytes).unwrap();
    assert_fails(
        &render(&garbage, &output, &[]),
        INPUT,
        &["garbage.wav"],
        "garbage bytes",
    );

    // A valid header whose data chunk claims more bytes than there are, then cut mid-header.
    let truncated = path_in(&dir, "truncated.wav");
    let good = path_in(&dir, "good.wav");
    write_wav_i16(&good, &test_signal(2, 4_800, 48_000), 48_000);
    std::fs::write(&truncated, &std::fs::read(&good).unwrap()[..30]).unwrap();
    assert_fails(
        &render(&truncated, &output, &[]),
        INPUT,
        &["truncated.wav"],
        "truncated header",
    );

    let corrupt_flac = path_in(&dir, "corrupt.flac");
    let mut flac = b"fLaC".to_vec();
    flac.extend_from_slice(&bytes);
    std::fs::write(&corrupt_flac, &flac).unwrap();
    assert_fails(
        &render(&corrupt_flac, &output, &[]),
        INPUT,
        &["corrupt.flac"],
        "corrupt flac",
    );

    let nine = path_in(&dir, "nine.wav");
    write_wav_f32(&nine, &test_signal(9, 4_800, 48_000), 48_000);
    assert_fails(
        &render(&nine, &output, &[]),
        INPUT,
        &["nine.wav", "9 channels", "1 to 8"],
        "9 channels",
    );

    assert_fails(
        &render(dir.path(), &output, &[]),
        INPUT,
        &["directory"],
        "input is a directory",
    );
    assert!(!output.exists(), "output written for a bad input");
}

#[test]
fn unsupported_container_from_sox_is_an_input_error() {
    let dir = tempfile::tempdir().unwrap();
    let au = path_in(&dir, "tone.au");
    let wav = path_in(&dir, "tone.wav");
    write_wav_i16(&wav, &test_signal(1, 4_800, 48_000), 48_000);
    sox_convert(&wav, &au, &[]);
    let out = render(&au, &path_in(&dir, "out.wav"), &[]);
    assert_fails(&out, INPUT, &["tone.au", "unsupported"], "sun .au");
}

#[test]
fn output_equal_to_input_is_refused() {
    let (dir, input) = setup();
    let before = std::fs::read(&input).unwrap();
    std::fs::create_dir(path_in(&dir, "sub")).unwrap();
    let dotted = dir.path().join("sub").join("..").join("in.wav");
    let hard = path_in(&dir, "hard.wav");
    std::fs::hard_link(&input, &hard).unwrap();
    let soft = path_in(&dir, "soft.wav");
    std::os::unix::fs::symlink(&input, &soft).unwrap();
    for (case, output) in [
        ("same path", &input),
        ("via ..", &dotted),
        ("hard link", &hard),
        ("symlink", &soft),
    ] {
        let out = render(&input, output, &["--stretch", "2"]);
        assert_fails(&out, OUTPUT, &["in.wav", "input"], case);
        assert_eq!(
            std::fs::read(&input).unwrap(),
            before,
            "{case}: input modified"
        );
    }
    // Relative spelling from inside the directory.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xodvox"))
        .current_dir(dir.path())
        .args(["render", "in.wav", "./in.wav"])
        .output()
        .unwrap();
    assert_fails(&out, OUTPUT, &["input"], "./in.wav");
    assert_eq!(std::fs::read(&input).unwrap(), before, "input modified");
    assert_eq!(
        dir_entries(dir.path()),
        ["hard.wav", "in.wav", "soft.wav", "sub"]
    );
}

#[test]
fn unwritable_output_is_refused_without_leftovers() {
    let (dir, input) = setup();
    let before = std::fs::read(&input).unwrap();

    let missing_dir = dir.path().join("no-such-dir").join("out.wav");
    assert_fails(
        &render(&input, &missing_dir, &[]),
        OUTPUT,
        &["no-such-dir"],
        "missing dir",
    );

    // A regular file used as a directory (fails even for root).
    let under_file = input.join("out.wav");
    assert_fails(
        &render(&input, &under_file, &[]),
        OUTPUT,
        &["out.wav"],
        "parent is a file",
    );

    // OUT is an existing directory.
    let as_dir = path_in(&dir, "outdir");
    std::fs::create_dir(&as_dir).unwrap();
    assert_fails(
        &render(&input, &as_dir, &[]),
        OUTPUT,
        &["outdir", "directory"],
        "OUT is a dir",
    );

    // A read-only directory (only meaningful when not running as root).
    let ro = path_in(&dir, "readonly");
    std::fs::create_dir(&ro).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    let probe = ro.join("probe");
    let root_can_write = std::fs::write(&probe, b"x").is_ok();
    let _ = std::fs::remove_file(&probe);
    if !root_can_write {
        let out = render(&input, &ro.join("out.wav"), &[]);
        assert_fails(&out, OUTPUT, &["readonly", "not writable"], "read-only dir");
    }
    assert!(
        dir_entries(&ro).is_empty(),
        "left a file in the read-only dir: {:?}",
        dir_entries(&ro)
    );
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();

    assert_eq!(std::fs::read(&input).unwrap(), before, "input modified");
    assert!(dir_entries(&as_dir).is_empty());
    assert_eq!(
        dir_entries(dir.path()),
        ["in.wav", "outdir", "readonly"],
        "leftovers"
    );
}
