//! The build's progress callback, with the real `sox`: each stage reports `done = 0` first,
//! every item once, and `done = total` last; the counts match the summary.

use std::sync::Mutex;

use xodvox_dataset::audio::write_wav;
use xodvox_dataset::{build, BuildOptions, DatasetConfig, Progress, Stage, Style};

#[test]
fn every_item_of_both_stages_is_reported_once_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    for (k, hz) in [220.0, 330.0, 495.0].into_iter().enumerate() {
        let samples: Vec<f32> = (0..48_000 * 2)
            .map(|i| (0.4 * (std::f64::consts::TAU * hz * i as f64 / 48_000.0).sin()) as f32)
            .collect();
        write_wav(&input.join(format!("tone{k}.wav")), 48_000, 1, &samples).unwrap();
    }
    let config = DatasetConfig {
        clip_seconds: 1.0,
        min_clip_seconds: 0.5,
        pairs_per_clip: 2,
        styles: vec![Style::Sox],
        ..DatasetConfig::default()
    };
    let opts = BuildOptions {
        input,
        out: dir.path().join("out"),
        config,
        shard: None,
        limit: None,
        jobs: Some(2),
    };
    let seen = Mutex::new(Vec::<Progress>::new());
    let summary = build(&opts, &|p| seen.lock().unwrap().push(p)).expect("build");
    let seen = seen.into_inner().unwrap();
    assert!(summary.pairs_planned > 0, "{summary:?}");

    for (stage, total) in [
        (Stage::Sources, summary.sources),
        (Stage::Pairs, summary.pairs_planned),
    ] {
        let events: Vec<&Progress> = seen.iter().filter(|p| p.stage == stage).collect();
        assert_eq!(events.len(), total + 1, "{stage:?}: {events:?}");
        assert_eq!(events[0].done, 0, "{stage:?} starts at 0");
        assert!(events.iter().all(|p| p.total == total), "{stage:?}");
        let mut done: Vec<usize> = events[1..].iter().map(|p| p.done).collect();
        done.sort_unstable();
        assert_eq!(done, (1..=total).collect::<Vec<_>>(), "{stage:?}");
    }
    let first_pair = seen.iter().position(|p| p.stage == Stage::Pairs).unwrap();
    assert!(
        seen[first_pair..].iter().all(|p| p.stage == Stage::Pairs),
        "the sources stage ends before the pairs stage starts"
    );
}
