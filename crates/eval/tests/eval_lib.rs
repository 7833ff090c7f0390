//! The evaluation library on known cases: a deterministic set, metrics that give the right
//! numbers, missing engines skipped, and a report whose figures decode and whose tables list
//! every engine. Short clips keep this quick.

use std::ffi::OsString;

use xodvox_eval::engines::find_program;
use xodvox_eval::metrics::{
    lsd_db, mrstft_distance, onset_errors, pitch_errors, spectral_convergence,
};
use xodvox_eval::run::evaluate;
use xodvox_eval::set::{PitchSegment, Truth};
use xodvox_eval::{
    builtin_set, prepare_engines, write_report, Category, EngineKind, EngineOptions, MachineInfo,
    ReportOptions, SetOptions, Task,
};

const SR: f64 = 48_000.0;

fn short_set() -> xodvox_eval::EvalSet {
    builtin_set(&SetOptions {
        seconds: 0.6,
        espeak: None,
        midi: None,
    })
    .expect("valid options")
}

fn sine(freq: f64, len: usize) -> Vec<f32> {
    (0..len)
        .map(|n| (0.5 * (std::f64::consts::TAU * freq * n as f64 / SR).sin()) as f32)
        .collect()
}

#[test]
fn builtin_set_is_deterministic_and_covers_every_category() {
    let a = short_set();
    let b = short_set();
    assert_eq!(a, b, "two generations differ");
    let cats: Vec<Category> = a.clips.iter().map(|c| c.category).collect();
    for c in [Category::Monophonic, Category::Polyphonic, Category::Drums] {
        assert!(cats.contains(&c), "no {c:?} clip");
    }
    assert!(
        a.notes.iter().any(|n| n.contains("speech skipped")),
        "{:?}",
        a.notes
    );
    for clip in &a.clips {
        assert_eq!(clip.audio.len(), 28_800, "{}", clip.id);
        let peak = clip.audio.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(peak > 0.05 && peak < 1.0, "{} peak {peak}", clip.id);
        // The identity task's reference is the input itself.
        let r = clip
            .reference(Task::stretch(1.0))
            .expect("synthetic clips have references");
        assert_eq!(r.audio, clip.audio, "{}", clip.id);
        for task in &a.tasks {
            let r = clip.reference(*task).expect("reference");
            assert_eq!(
                r.audio.len(),
                task.output_len(clip.audio.len()),
                "{} {task:?}",
                clip.id
            );
        }
    }
}

#[test]
fn additive_references_move_partials_exactly() {
    let set = short_set();
    let clip = set
        .clips
        .iter()
        .find(|c| c.id == "mono-a3")
        .expect("mono-a3");
    for task in [Task::pitch(7.0), Task::pitch(-3.0), Task::stretch(2.0)] {
        let r = clip.reference(task).expect("reference");
        let errs = pitch_errors(&r.audio, SR, &clip.expected_pitch(task));
        assert_eq!(errs.len(), 1);
        assert!(errs[0].cents.abs() < 1.0, "{task:?}: {errs:?}");
    }
    let drums = set
        .clips
        .iter()
        .find(|c| c.id == "drums-clicks")
        .expect("drums");
    assert!(matches!(drums.truth, Truth::Events(_)));
    let onsets = drums.expected_onsets(Task::stretch(2.0));
    assert_eq!(onsets[0], 0.2);
}

#[test]
fn identical_signals_score_zero() {
    let set = short_set();
    for clip in &set.clips {
        let x = &clip.audio;
        assert_eq!(mrstft_distance(x, x), 0.0, "{}", clip.id);
        assert_eq!(lsd_db(x, x), 0.0, "{}", clip.id);
        assert_eq!(
            spectral_convergence(x, Task::stretch(1.0), x),
            0.0,
            "{}",
            clip.id
        );
        let onsets = clip.expected_onsets(Task::stretch(1.0));
        if !onsets.is_empty() {
            let e = onset_errors(x, Some(x), SR, &onsets);
            assert_eq!(e.missed, 0, "{}", clip.id);
            assert!(
                e.errors_ms.iter().all(|&v| v == 0.0),
                "{}: {:?}",
                clip.id,
                e.errors_ms
            );
        }
    }
}

#[test]
fn floored_distances_ignore_inaudible_residue_but_not_errors() {
    let a = sine(440.0, 24_000);
    // Residue 120 dB down where the reference is silent barely moves the floored distances.
    let residue: Vec<f32> = a
        .iter()
        .enumerate()
        .map(|(i, v)| v + 1e-6 * ((i % 7) as f32 - 3.0))
        .collect();
    assert!(lsd_db(&a, &residue) < 0.5, "{}", lsd_db(&a, &residue));
    assert!(mrstft_distance(&a, &residue) < 0.05);
    // A semitone off is a large error on both.
    let b = sine(466.16, 24_000);
    assert!(lsd_db(&a, &b) > 1.0, "{}", lsd_db(&a, &b));
    assert!(mrstft_distance(&a, &b) > 0.5, "{}", mrstft_distance(&a, &b));
}

#[test]
fn one_semitone_detune_is_100_cents() {
    let expected = 440.0;
    let detuned = sine(expected * 2f64.powf(1.0 / 12.0), 48_000);
    let seg = [PitchSegment {
        start_s: 0.1,
        end_s: 0.9,
        f0_hz: expected,
    }];
    let e = pitch_errors(&detuned, SR, &seg);
    assert!((e[0].cents - 100.0).abs() < 0.5, "{e:?}");
    let e = pitch_errors(&sine(expected, 48_000), SR, &seg);
    assert!(e[0].cents.abs() < 0.5, "{e:?}");
}

#[test]
fn delayed_onsets_give_the_delay() {
    let set = short_set();
    for id in ["drums-clicks", "drums-kit"] {
        let clip = set.clips.iter().find(|c| c.id == id).expect("drum clip");
        let onsets = clip.expected_onsets(Task::stretch(1.0));
        for delay in [48usize, 240] {
            let mut late = vec![0.0f32; delay];
            late.extend_from_slice(&clip.audio[..clip.audio.len() - delay]);
            let e = onset_errors(&late, Some(&clip.audio), SR, &onsets);
            let want = delay as f64 / SR * 1000.0;
            assert_eq!(e.missed, 0, "{id}");
            for v in &e.errors_ms {
                assert!(
                    (v - want).abs() < 0.05,
                    "{id} delay {delay}: {v} ms, want {want}"
                );
            }
        }
    }
}

#[test]
fn spectral_convergence_is_one_for_silence_and_small_for_the_classical_engine() {
    let set = short_set();
    let clip = set.clips.iter().find(|c| c.id == "mono-a3").expect("clip");
    let task = Task::stretch(1.25);
    let silent = vec![0.0f32; task.output_len(clip.audio.len())];
    assert!((spectral_convergence(&clip.audio, task, &silent) - 1.0).abs() < 1e-9);
    let (engines, _) = prepare_engines(&[EngineKind::Classical], &EngineOptions::default());
    let out = engines[0]
        .render(&clip.audio, clip.sample_rate, task)
        .expect("render");
    assert_eq!(out.audio.len(), silent.len());
    let sc = spectral_convergence(&clip.audio, task, &out.audio);
    assert!(sc < 0.3, "classical SC {sc}");
}

#[test]
fn missing_tools_are_skipped_not_errors() {
    let kinds = [
        EngineKind::RubberbandR3,
        EngineKind::RubberbandR2,
        EngineKind::Sox,
        EngineKind::Classical,
    ];
    let (engines, skipped) = prepare_engines(
        &kinds,
        &EngineOptions {
            model_dir: None,
            search_path: Some(OsString::from("/nonexistent-xodvox-path")),
        },
    );
    assert_eq!(engines.len(), 1);
    assert_eq!(skipped.len(), 3);
    for s in &skipped {
        assert!(s.reason.contains("not installed"), "{s:?}");
    }
    assert!(EngineKind::parse_list("classical,warp").is_err());
    // The earlier spelling still parses, to the same engine.
    assert_eq!(
        EngineKind::parse_list("classic,classical,classic-resample").unwrap(),
        [EngineKind::Classical, EngineKind::ClassicalResample]
    );
    assert_eq!(
        EngineKind::parse_list("all").expect("all").len(),
        EngineKind::ALL.len()
    );
}

#[test]
fn report_renders_with_every_engine() {
    let mut set = short_set();
    set.tasks = vec![Task::stretch(2.0), Task::pitch(7.0)];
    let (engines, skipped) = prepare_engines(&EngineKind::ALL, &EngineOptions::default());
    // Without ort compiled in, neural-ort is skipped; everything else that is installed runs.
    assert!(engines.iter().any(|e| e.kind() == EngineKind::Classical));
    assert!(engines
        .iter()
        .any(|e| e.label().contains("shipped default model")));
    let mut calls = 0;
    let outcome = evaluate(
        &set,
        &engines,
        skipped.clone(),
        &[("poly-chord", Task::stretch(2.0))],
        &mut |_, _, _| calls += 1,
    );
    assert_eq!(calls, set.clips.len() * 2 * engines.len());
    for m in &outcome.measurements {
        assert!(
            m.error.is_none(),
            "{} {} {}: {:?}",
            m.engine,
            m.clip,
            m.task_label,
            m.error
        );
        assert!(m.spectral_convergence.is_some_and(f64::is_finite));
        assert!(m.mrstft.is_some_and(f64::is_finite));
    }
    let bench = xodvox_eval::bench_engines(&engines, 1.0, &mut |_, _, _| {});
    let dir = tempfile::tempdir().expect("tempdir");
    let files = write_report(
        dir.path(),
        &outcome,
        Some(&bench),
        &MachineInfo::detect(),
        &ReportOptions::default(),
    )
    .expect("report");
    assert!(files.images.len() >= 6, "{:?}", files.images);
    for img in &files.images {
        let decoder = png::Decoder::new(std::fs::File::open(img).expect("open png"));
        let mut reader = decoder.read_info().expect("valid PNG header");
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).expect("valid PNG data");
        assert!(info.width > 100 && info.height > 100, "{}", img.display());
        assert!(buf.iter().any(|&b| b != 255), "{} is blank", img.display());
    }
    let md = std::fs::read_to_string(&files.markdown).expect("markdown");
    for e in &engines {
        assert!(md.contains(e.label()), "report lacks {}", e.label());
    }
    for s in &skipped {
        assert!(
            md.contains(&format!("skipped: {}", s.reason)),
            "report lacks {s:?}"
        );
    }
    let csv = std::fs::read_to_string(&files.csv).expect("csv");
    assert_eq!(csv.lines().count(), 1 + outcome.measurements.len());
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&files.json).expect("json"))
            .expect("valid JSON");
    assert_eq!(
        json["measurements"].as_array().map(Vec::len),
        Some(outcome.measurements.len())
    );
    assert_eq!(json["bench"].as_array().map(Vec::len), Some(engines.len()));
}

/// Whether a missing external tool must fail a test instead of skipping it: under `CI`, or
/// `XODVOX_REQUIRE_TOOLS` (set by `scripts/test` after installing everything).
fn tools_required() -> bool {
    std::env::var_os("CI").is_some() || std::env::var_os("XODVOX_REQUIRE_TOOLS").is_some()
}

#[test]
fn external_tools_match_the_conventions_when_installed() {
    // Rubber Band and SoX must produce the duration XodVox asks for (within a few ms before the
    // length fit), which proves the duration-ratio / speed-factor conversion.
    // scripts/test installs both and sets XODVOX_REQUIRE_TOOLS: there a missing tool fails.
    if find_program("rubberband", None).is_none() || find_program("sox", None).is_none() {
        assert!(
            !tools_required(),
            "CI / XODVOX_REQUIRE_TOOLS is set but rubberband or sox is not on PATH"
        );
        eprintln!("rubberband or sox not installed; skipping");
        return;
    }
    let set = short_set();
    let clip = &set.clips[0];
    let (engines, _) = prepare_engines(
        &[EngineKind::RubberbandR3, EngineKind::Sox],
        &EngineOptions::default(),
    );
    for e in &engines {
        for task in [Task::stretch(2.0), Task::stretch(0.5)] {
            let out = e
                .render(&clip.audio, clip.sample_rate, task)
                .expect("render");
            assert!(
                out.length_fix.abs() < 2400,
                "{:?} {task:?}: fixed by {}",
                e.kind(),
                out.length_fix
            );
        }
    }
}

/// MIDI ground-truth pairs: FluidSynth re-renders the phrase at tempo / stretch or
/// transposed. Requires `fluidsynth` and `fluid-soundfont-gm` (installed by `scripts/setup`).
#[test]
fn midi_clip_has_a_rerendered_reference_per_task() {
    let Some(renderer) = xodvox_eval::midi::MidiRenderer::find(|p| find_program(p, None)) else {
        assert!(
            !tools_required(),
            "fluidsynth and fluid-soundfont-gm must be installed under CI / XODVOX_REQUIRE_TOOLS (scripts/setup)"
        );
        eprintln!("skipped: fluidsynth or the soundfont is missing");
        return;
    };
    let tasks = [Task::stretch(2.0), Task::pitch(12.0), Task::pitch(3.5)];
    let a = xodvox_eval::midi::midi_clip(&renderer, 1.0, &tasks).expect("midi clip");
    let b = xodvox_eval::midi::midi_clip(&renderer, 1.0, &tasks).expect("midi clip");
    assert_eq!(a, b, "FluidSynth renders are deterministic");
    assert_eq!(a.audio.len(), 48_000);
    assert!(a.audio.iter().any(|v| v.abs() > 0.01), "input is silent");
    let Truth::Targets(targets) = &a.truth else {
        panic!("MIDI references are stored targets");
    };
    // A fractional pitch has no MIDI re-render.
    assert_eq!(targets.len(), 2);
    for (task, audio) in targets {
        assert_eq!(audio.len(), task.output_len(a.audio.len()), "{task:?}");
        assert!(
            audio.iter().any(|v| v.abs() > 0.01),
            "{task:?}: silent reference"
        );
        let r = a.reference(*task).expect("reference");
        assert!(!r.exact, "MIDI references are not sample-exact");
    }
    // The stretch-2 reference plays the phrase half as fast: its last note-on comes twice as
    // late (the last 10 ms block whose energy jumps fourfold).
    let last_onset = |x: &[f32]| {
        let block = 480;
        let env: Vec<f32> = x
            .chunks(block)
            .map(|c| c.iter().map(|v| v * v).sum::<f32>())
            .collect();
        let idx = (1..env.len())
            .rev()
            .find(|&i| env[i] > 4.0 * env[i - 1] && env[i] > 1e-4)
            .expect("an onset");
        (idx * block) as f64 / SR
    };
    let (t_in, t_slow) = (last_onset(&a.audio), last_onset(&targets[0].1));
    let ratio = t_slow / t_in;
    assert!(
        (ratio - 2.0).abs() < 0.1,
        "last onset {t_in:.3} s -> {t_slow:.3} s"
    );
}

/// A dataset's `formant` rows are their own category (the report's Formant rows), and the
/// neural engine renders each row in the row's style: `formant` rows with the model's formant
/// style, other rows with the style of their name (or style 0).
#[test]
fn dataset_rows_of_style_formant_are_their_own_category_and_render_in_that_style() {
    let dir = tempfile::tempdir().unwrap();
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let x = sine(330.0, 24_000);
    for name in ["in.wav", "target.wav"] {
        let mut w = hound::WavWriter::create(dir.path().join(name), spec).unwrap();
        x.iter().for_each(|&v| w.write_sample(v).unwrap());
        w.finalize().unwrap();
    }
    let row = |id: &str, style: &str| xodvox_dataset::ManifestRow {
        id: id.into(),
        split: "test".into(),
        input: "in.wav".into(),
        target: "target.wav".into(),
        sample_rate: 48_000,
        channels: 1,
        num_frames_input: x.len() as u64,
        num_frames_target: x.len() as u64,
        stretch: 1.0,
        pitch_semitones: 4.0,
        style: style.into(),
        generator: "test".into(),
        tool_version: "0".into(),
        input_sha256: String::new(),
        target_sha256: String::new(),
        source: "test".into(),
        licence: "CC0-1.0".into(),
        source_file: String::new(),
        source_sha256: String::new(),
        source_start_frame: 0,
        group: String::new(),
        category: None,
        length_adjust_frames: 0,
    };
    let manifest = xodvox_dataset::manifest::to_jsonl(&[row("a", "natural"), row("b", "formant")]);
    std::fs::write(dir.path().join("manifest.jsonl"), &manifest).unwrap();
    // A row without the required fields (here: without `generator`) is refused, naming the line.
    let broken = manifest.replacen("\"generator\":\"test\",", "", 1);
    std::fs::write(dir.path().join("manifest.jsonl"), broken).unwrap();
    let err = xodvox_eval::load_dataset(dir.path())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("manifest.jsonl:1:") && err.contains("generator"),
        "{err}"
    );
    std::fs::write(dir.path().join("manifest.jsonl"), &manifest).unwrap();
    let set = xodvox_eval::load_dataset(dir.path()).unwrap();
    let cats: Vec<_> = set.clips.iter().map(|c| c.category).collect();
    assert_eq!(cats, [Category::Dataset, Category::Formant]);
    assert_eq!(set.clips[1].style.as_deref(), Some("formant"));
    assert_eq!(Category::Formant.name(), "formant");

    let (engines, _) = prepare_engines(
        &[EngineKind::Neural(xodvox_infer::BackendKind::Tract)],
        &EngineOptions::default(),
    );
    let neural = &engines[0];
    let task = Task::pitch(4.0);
    let render = |style| neural.render_style(&x, 48_000, task, style).unwrap().audio;
    let (plain, natural, formant) = (
        render(None),
        render(Some("natural")),
        render(Some("formant")),
    );
    assert_eq!(plain, natural, "no style = the model's first style");
    let diff = plain
        .iter()
        .zip(&formant)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(diff > 1e-3, "the formant style renders differently: {diff}");
    assert_eq!(
        render(Some("no-such-style")),
        plain,
        "unknown styles use style 0"
    );
}
