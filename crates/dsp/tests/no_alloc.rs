//! Proves that the streaming calls never touch the heap: a counting global allocator
//! (`xodvox_alloc_counter`) records every heap operation made on this thread.

mod common;

use common::*;
use xodvox_alloc_counter::{count_allocations as counted, CountingAllocator};
use xodvox_dsp::{ClassicalPhaseEngine, Controls, Stretcher, StretcherConfig};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

#[test]
fn the_counter_sees_allocations() {
    let (v, n) = counted(|| vec![1u8; 100]);
    assert_eq!(v.len(), 100);
    assert!(n >= 1, "the counting allocator must notice a Vec");
}

#[test]
fn streaming_process_push_pull_and_reset_never_allocate() {
    let len = 4 * 48_000;
    let input = [test_music(len, 21), test_music(len, 22)];
    let blocks = random_blocks(len, 4096, 23);
    let mut st = Stretcher::new(
        StretcherConfig::default(),
        Box::new(ClassicalPhaseEngine::new(1025)),
    )
    .unwrap();
    let mut out = vec![vec![0.0f32; 8192]; 2];
    let mut pos = 0;
    let mut total = 0;
    for (i, &b) in blocks.iter().enumerate() {
        let semis = ((i % 40) as f64 - 20.0) * 0.9;
        let ins = [&input[0][pos..pos + b], &input[1][pos..pos + b]];
        let (l, r) = out.split_at_mut(1);
        let mut outs = [&mut l[0][..b], &mut r[0][..b]];
        let ((), n) = counted(|| {
            st.set_controls(Controls {
                pitch_semitones: semis,
                ..Controls::default()
            })
            .unwrap();
            st.process(&ins, &mut outs);
        });
        total += n;
        pos += b;
    }
    assert_eq!(total, 0, "process allocated {total} times");
    assert_eq!(st.underruns(), 0);

    // push/pull at a non-unit stretch, then reset.
    let ((), n) = counted(|| {
        st.reset();
        st.set_controls(Controls {
            stretch: 1.7,
            pitch_semitones: -3.0,
            style_index: 0,
        })
        .unwrap();
        let mut p = 0;
        while p < len {
            let ins = [&input[0][p..], &input[1][p..]];
            p += st.push(&ins);
            let (l, r) = out.split_at_mut(1);
            let mut outs = [&mut l[0][..], &mut r[0][..]];
            while st.pull(&mut outs) > 0 {}
        }
    });
    assert_eq!(n, 0, "push/pull/reset allocated {n} times");
}

#[test]
fn rate_bridge_process_and_reset_never_allocate() {
    let len = 2 * 44_100;
    let input = [test_music(len, 31), test_music(len, 32)];
    let blocks = random_blocks(len, 4096, 33);
    let mut bridge = xodvox_dsp::RateBridge::new(44_100, 48_000, 2).unwrap();
    let mut st = Stretcher::new(
        StretcherConfig::default(),
        Box::new(ClassicalPhaseEngine::new(1025)),
    )
    .unwrap();
    st.set_controls(Controls {
        pitch_semitones: 4.0,
        ..Controls::default()
    })
    .unwrap();
    let mut out = vec![vec![0.0f32; 8192]; 2];
    let mut pos = 0;
    let mut total = 0;
    for &b in &blocks {
        let ins = [&input[0][pos..pos + b], &input[1][pos..pos + b]];
        let (l, r) = out.split_at_mut(1);
        let mut outs = [&mut l[0][..b], &mut r[0][..b]];
        let ((), n) = counted(|| {
            bridge.process(&ins, &mut outs, |i, o| st.process(i, o));
        });
        total += n;
        pos += b;
    }
    let ((), n) = counted(|| bridge.reset());
    assert_eq!(total + n, 0, "the bridge allocated {} times", total + n);
    assert!(out.iter().flatten().all(|v| v.is_finite()));
}
