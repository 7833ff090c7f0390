//! Spectral peaks and their regions of influence, shared by the classical phase engine
//! (identity phase locking) and the spectral pitch shifter (which moves whole regions).

/// Peaks quieter than this fraction of the loudest bin are not tracked (−80 dB).
pub(crate) const PEAK_FLOOR: f32 = 1e-4;

/// Writes into `peaks` the bins of `mag` that are larger than their two neighbours on each
/// side (ties go to the lower bin) and above `PEAK_FLOOR` × the largest magnitude, in
/// increasing order. `peaks` must have capacity for `mag.len()` entries (no allocation).
pub(crate) fn find_peaks(mag: &[f32], peaks: &mut Vec<usize>) {
    peaks.clear();
    let max = mag.iter().copied().fold(0.0f32, f32::max);
    let floor = max * PEAK_FLOOR;
    let n = mag.len();
    for k in 0..n {
        let m = mag[k];
        if m <= floor || m == 0.0 {
            continue;
        }
        let lo = k.saturating_sub(2);
        let hi = (k + 2).min(n - 1);
        let is_peak = (lo..=hi).all(|j| j == k || (j < k && mag[j] < m) || (j > k && mag[j] <= m));
        if is_peak {
            peaks.push(k);
        }
    }
}

/// End (exclusive) of the region of influence of `peaks[i]`: the lowest bin between it and
/// the next peak (at least one past the peak), or `mag.len()` for the last peak.
pub(crate) fn region_end(mag: &[f32], peaks: &[usize], i: usize) -> usize {
    let p = peaks[i];
    match peaks.get(i + 1) {
        Some(&next) => {
            let mut lowest = p;
            for j in p..next {
                if mag[j] < mag[lowest] {
                    lowest = j;
                }
            }
            lowest.max(p + 1).min(next)
        }
        None => mag.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_peaks_and_regions() {
        let mag = [0.0, 1.0, 5.0, 1.0, 0.5, 2.0, 6.0, 2.0, 0.1, 0.1];
        let mut peaks = Vec::with_capacity(mag.len());
        find_peaks(&mag, &mut peaks);
        assert_eq!(peaks, vec![2, 6]);
        assert_eq!(region_end(&mag, &peaks, 0), 4);
        assert_eq!(region_end(&mag, &peaks, 1), mag.len());
    }
}
