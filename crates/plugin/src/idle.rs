//! Idle detection: once the input has been silent for longer than the chain's latency and
//! tail, the output is silent too, and the plugin tells the host it may stop calling it
//! (CLAP `CLAP_PROCESS_SLEEP` through nice-plug's `ProcessStatus::Tail(0)`, with the
//! outputs flagged constant / silent; see `vendor/nice-plug/PATCHES.md`). The chain holds
//! only silence then, so when sound comes back it comes out at the reported latency, as
//! if the plugin had run all along.

/// Input samples whose magnitude is at most this count as silent (−180 dBFS).
pub const SILENCE_LEVEL: f32 = 1e-9;
/// The chain's tail beyond twice its latency, in seconds: the stretcher's window and the
/// rate bridge's filters ring for less than this (measured in `tests/rates.rs`).
pub const TAIL_MARGIN_S: f64 = 0.05;

/// Counts silent input and says when the plugin may sleep. Never allocates.
#[derive(Debug, Clone, Copy)]
pub struct IdleDetector {
    /// Silent input samples in a row (only whole silent blocks count).
    silent_run: u64,
    /// Silent input in a row before the block seen last (0 if that block was not silent):
    /// that block's output is silent only if this already exceeds the tail, because its
    /// output carries the input of the `after` samples before it.
    silent_before: u64,
    /// Silent input after which the output is silent for sure.
    after: u64,
}

impl IdleDetector {
    /// A detector for a chain with `latency_samples` of latency at `sample_rate` Hz.
    pub fn new(latency_samples: usize, sample_rate: f64) -> Self {
        let margin = (sample_rate.max(0.0) * TAIL_MARGIN_S).ceil() as u64;
        Self {
            silent_run: 0,
            silent_before: 0,
            after: 2 * latency_samples as u64 + margin,
        }
    }

    /// Forgets the silence seen so far (the chain may hold sound again).
    pub fn reset(&mut self) {
        self.silent_run = 0;
        self.silent_before = 0;
    }

    /// Silent input the chain needs before its output is silent.
    pub fn tail_samples(&self) -> u64 {
        self.after
    }

    /// Looks at one block of input (before it is processed in place): a silent block
    /// extends the silent run, any other block ends it.
    pub fn observe(&mut self, input: &[&mut [f32]]) {
        let len = input.iter().map(|c| c.len()).min().unwrap_or(0) as u64;
        let silent = input
            .iter()
            .all(|c| c.iter().all(|x| x.abs() <= SILENCE_LEVEL));
        if silent {
            self.silent_before = self.silent_run;
            self.silent_run = self.silent_run.saturating_add(len);
        } else {
            self.silent_before = 0;
            self.silent_run = 0;
        }
    }

    /// Whether the output of the block seen last is silent for sure: the block is silent
    /// and the input before it was silent for longer than the tail (a long silent block
    /// right after sound still carries that sound's delayed output).
    pub fn idle(&self) -> bool {
        self.silent_run > 0 && self.silent_before >= self.after
    }

    /// Samples of output still to come if the input stays silent: 0 exactly when
    /// [`idle`](Self::idle), at least 1 otherwise (a tail of 0 lets the host sleep).
    pub fn remaining(&self) -> u64 {
        if self.idle() {
            0
        } else {
            self.after.saturating_sub(self.silent_run).max(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_after_the_tail_of_silence_and_awake_at_the_first_sound() {
        let mut d = IdleDetector::new(100, 1000.0);
        assert_eq!(d.tail_samples(), 250);
        let mut silence = vec![0.0f32; 100];
        let mut sound = vec![0.0f32; 100];
        sound[99] = 0.01;
        d.observe(&[&mut sound]);
        assert!(!d.idle());
        for k in 1..=4 {
            d.observe(&[&mut silence]);
            // Block k's output carries the input of the 250 samples before it.
            assert_eq!(d.idle(), k == 4, "after {k} silent blocks");
            // Not idle: a tail of at least 1 (0 would let the host sleep too early).
            assert_eq!(d.remaining() == 0, k == 4, "after {k} silent blocks");
        }
        assert_eq!(d.remaining(), 0);
        d.observe(&[&mut sound]);
        assert!(!d.idle());
        assert_eq!(d.remaining(), 250);
    }

    #[test]
    fn a_long_silent_block_after_sound_is_not_idle() {
        // The block after the sound holds its delayed output, however long it is.
        let mut d = IdleDetector::new(100, 1000.0);
        let mut sound = vec![0.5f32; 64];
        let mut long_silence = vec![0.0f32; 4096];
        d.observe(&[&mut sound]);
        d.observe(&[&mut long_silence]);
        assert!(!d.idle());
        d.observe(&[&mut long_silence]);
        assert!(d.idle());
    }
}
