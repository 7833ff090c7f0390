//! Transient detection for phase reset: a rise of high-frequency energy arms the detector,
//! and the reset fires on the first frame whose energy centroid in time (from the
//! time-weighted reassignment window) sits within half an analysis hop of the frame centre,
//! so the attack is rebuilt from the frame that holds it best.

/// Energy rise (×) over the running average that arms the detector (+6 dB).
const RISE_FACTOR: f32 = 4.0;
/// Absolute high-band energy below which nothing counts as a transient (−100 dB-ish).
const ENERGY_FLOOR: f32 = 1e-3;

/// Per-frame transient detector state. Allocation-free.
#[derive(Debug, Clone)]
pub struct TransientDetector {
    /// First bin of the high band the detector looks at.
    first_bin: usize,
    /// Running average of the high-band energy.
    average_energy: f32,
    /// True between the energy rise and the reset frame.
    armed: bool,
    /// Frames since arming.
    armed_frames: usize,
    /// Frames left during which the detector cannot arm again.
    cooldown: usize,
}

impl TransientDetector {
    /// Creates a detector looking at bins at or above `min_freq_hz`.
    pub fn new(n_fft: usize, sample_rate: f64, min_freq_hz: f64) -> Self {
        let first_bin = ((min_freq_hz / sample_rate * n_fft as f64).ceil() as usize).min(n_fft / 2);
        Self {
            first_bin,
            average_energy: 0.0,
            armed: false,
            armed_frames: 0,
            cooldown: 0,
        }
    }

    /// Clears the state.
    pub fn reset(&mut self) {
        self.average_energy = 0.0;
        self.armed = false;
        self.armed_frames = 0;
        self.cooldown = 0;
    }

    /// Feeds one frame: `power[k] = |X_k|²`, `time_offset[k]` = reassigned time of bin `k`
    /// relative to the frame centre in samples; `analysis_hop` in samples; `n_fft` frame
    /// length. Returns true if the phase should be reset at this frame.
    pub fn update(
        &mut self,
        power: &[f32],
        time_offset: &[f32],
        analysis_hop: f64,
        n_fft: usize,
    ) -> bool {
        let mut energy = 0.0f32;
        let mut weighted_time = 0.0f32;
        for k in self.first_bin..power.len() {
            energy += power[k];
            weighted_time += power[k] * time_offset[k];
        }
        let centroid = if energy > 0.0 {
            weighted_time / energy
        } else {
            0.0
        };
        let frames_per_window = (n_fft as f64 / analysis_hop.max(1.0)).ceil() as usize;
        let rise = energy > ENERGY_FLOOR && energy > RISE_FACTOR * self.average_energy;
        let mut fire = false;
        if self.cooldown > 0 {
            self.cooldown -= 1;
        } else if !self.armed && rise {
            self.armed = true;
            self.armed_frames = 0;
        }
        if self.armed {
            self.armed_frames += 1;
            if f64::from(centroid) <= 0.5 * analysis_hop {
                fire = true;
                self.armed = false;
                self.cooldown = frames_per_window;
            } else if self.armed_frames > frames_per_window + 1 {
                self.armed = false;
            }
        }
        self.average_energy = 0.7 * self.average_energy + 0.3 * energy;
        fire
    }
}
