//! Real-time building blocks around the chain: a ring-buffer delay line with a fractional
//! (cubic Hermite) read, and a linear ramp for parameter glides. Both allocate only in
//! `new`.
//!
//! Hand-written: rubato and realfft do not offer a single-sample fractional delay tap, and a
//! linear ramp with a sample-exact length is a few lines (the plugin's `Smoother` lives in
//! nice-plug, which this crate must not depend on).

/// Linear ramp towards a target over a fixed number of samples.
#[derive(Debug, Clone, Copy)]
pub struct Ramp {
    current: f64,
    target: f64,
    step: f64,
    remaining: usize,
    length: usize,
}

impl Ramp {
    /// A ramp resting at `value` that glides over `length` samples (at least 1).
    pub fn new(value: f64, length: usize) -> Self {
        Self {
            current: value,
            target: value,
            step: 0.0,
            remaining: 0,
            length: length.max(1),
        }
    }

    /// Starts a glide from the current value to `target` (nothing if it is the target
    /// already).
    pub fn set_target(&mut self, target: f64) {
        if target != self.target {
            self.target = target;
            self.remaining = self.length;
            self.step = (target - self.current) / self.length as f64;
        }
    }

    /// Jumps to the target.
    pub fn snap(&mut self) {
        self.current = self.target;
        self.remaining = 0;
    }

    /// The current value.
    pub fn current(&self) -> f64 {
        self.current
    }

    /// Advances one sample; returns the new current value.
    #[inline]
    pub fn next_value(&mut self) -> f64 {
        if self.remaining > 0 {
            self.remaining -= 1;
            self.current = if self.remaining == 0 {
                self.target
            } else {
                self.current + self.step
            };
        }
        self.current
    }

    /// Advances `n` samples (as `n` calls of [`Ramp::next_value`]).
    pub fn advance(&mut self, n: usize) {
        for _ in 0..n.min(self.remaining) {
            self.next_value();
        }
    }
}

/// Power-of-two ring buffer delay line.
#[derive(Debug, Clone)]
pub struct DelayLine {
    buf: Vec<f32>,
    mask: usize,
    write: usize,
}

impl DelayLine {
    /// A silent line that can delay by up to `max_delay` samples (plus the cubic read's
    /// two samples of look-around).
    pub fn new(max_delay: usize) -> Self {
        let size = (max_delay + 4).next_power_of_two();
        Self {
            buf: vec![0.0; size],
            mask: size - 1,
            write: 0,
        }
    }

    /// Back to silence.
    pub fn clear(&mut self) {
        self.buf.iter_mut().for_each(|v| *v = 0.0);
        self.write = 0;
    }

    /// Pushes one sample.
    #[inline]
    pub fn push(&mut self, x: f32) {
        self.buf[self.write] = x;
        self.write = (self.write + 1) & self.mask;
    }

    /// The sample pushed `d` pushes ago (0 = the last one).
    #[inline]
    pub fn tap(&self, d: usize) -> f32 {
        self.buf[(self.write.wrapping_sub(1).wrapping_sub(d)) & self.mask]
    }

    /// Fractional delay (`d >= 1`), cubic Hermite interpolation; exact at integer `d`.
    #[inline]
    pub fn read(&self, d: f64) -> f32 {
        let i = d.floor();
        let frac = (d - i) as f32;
        let i = i as usize;
        if frac == 0.0 {
            return self.tap(i);
        }
        // Going from tap i (t = 0) to tap i + 1 (t = 1).
        let (ym1, y0, y1, y2) = (
            self.tap(i.saturating_sub(1)),
            self.tap(i),
            self.tap(i + 1),
            self.tap(i + 2),
        );
        cubic_hermite(ym1, y0, y1, y2, frac)
    }
}

/// 4-point cubic Hermite (Catmull-Rom) interpolation between `y0` (`frac` 0) and `y1`
/// (`frac` 1), with the neighbours `ym1` before and `y2` after; exact at the two ends.
#[inline]
pub fn cubic_hermite(ym1: f32, y0: f32, y1: f32, y2: f32, frac: f32) -> f32 {
    let c1 = 0.5 * (y1 - ym1);
    let c2 = ym1 - 2.5 * y0 + 2.0 * y1 - 0.5 * y2;
    let c3 = 0.5 * (y2 - ym1) + 1.5 * (y0 - y1);
    ((c3 * frac + c2) * frac + c1) * frac + y0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ramp_reaches_the_target_in_length_samples() {
        let mut r = Ramp::new(0.0, 4);
        r.set_target(1.0);
        let v: Vec<f64> = (0..5).map(|_| r.next_value()).collect();
        assert_eq!(v, vec![0.25, 0.5, 0.75, 1.0, 1.0]);
        let mut a = Ramp::new(0.0, 4);
        a.set_target(1.0);
        a.advance(2);
        assert_eq!(a.current(), 0.5);
    }

    #[test]
    fn delay_line_taps_and_reads_between_samples() {
        let mut d = DelayLine::new(8);
        for x in 0..8 {
            d.push(x as f32);
        }
        assert_eq!(d.tap(0), 7.0);
        assert_eq!(d.tap(3), 4.0);
        assert_eq!(d.read(3.0), 4.0);
        // A ramp is reproduced exactly by the cubic read between samples.
        assert!((d.read(2.5) - 4.5).abs() < 1e-6);
    }
}
