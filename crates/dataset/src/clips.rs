//! Cutting converted audio into clips and recognising near-silent ones.

use crate::audio::rms_dbfs;
use crate::config::DatasetConfig;

/// Where a clip lies in its (converted) source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClipSlot {
    /// Index of the slot in the source (stable: silent slots keep their number).
    pub index: usize,
    /// First frame.
    pub start_frame: u64,
    /// Length in frames.
    pub num_frames: u64,
}

/// Non-overlapping clip slots of a source `num_frames` long: as many whole clips of
/// `clip_frames` as fit (the tail is dropped), or one clip of the whole source when it is
/// shorter than a clip but at least `min_clip_frames`; at most `max_clips` (0 = no limit).
pub fn clip_slots(num_frames: u64, config: &DatasetConfig) -> Vec<ClipSlot> {
    let clip = config.clip_frames() as u64;
    let min = config.min_clip_frames() as u64;
    let mut slots: Vec<ClipSlot> = if num_frames >= clip {
        (0..num_frames / clip)
            .map(|i| ClipSlot {
                index: i as usize,
                start_frame: i * clip,
                num_frames: clip,
            })
            .collect()
    } else if num_frames >= min && num_frames > 0 {
        vec![ClipSlot {
            index: 0,
            start_frame: 0,
            num_frames,
        }]
    } else {
        Vec::new()
    };
    if config.max_clips_per_source > 0 {
        slots.truncate(config.max_clips_per_source as usize);
    }
    slots
}

/// Whether a clip (interleaved samples) has enough sound: at least `min_active_fraction` of its
/// 100 ms blocks have an RMS above `silence_threshold_dbfs`.
pub fn is_active(samples: &[f32], channels: u16, config: &DatasetConfig) -> bool {
    let block = (config.sample_rate as usize / 10).max(1) * channels as usize;
    let blocks: Vec<&[f32]> = samples.chunks(block).collect();
    if blocks.is_empty() {
        return false;
    }
    let active = blocks
        .iter()
        .filter(|b| rms_dbfs(b) > config.silence_threshold_dbfs)
        .count();
    active as f64 >= config.min_active_fraction * blocks.len() as f64 && active > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots() {
        let c = DatasetConfig {
            clip_seconds: 1.0,
            min_clip_seconds: 0.5,
            sample_rate: 1000 * 48,
            ..DatasetConfig::default()
        };
        let s = clip_slots(48_000 * 3 + 100, &c);
        assert_eq!(s.len(), 3);
        assert_eq!(s[2].start_frame, 96_000);
        assert_eq!(clip_slots(30_000, &c).len(), 1);
        assert_eq!(clip_slots(20_000, &c).len(), 0);
        assert_eq!(clip_slots(0, &c).len(), 0);
        let capped = DatasetConfig {
            max_clips_per_source: 2,
            ..c
        };
        assert_eq!(clip_slots(48_000 * 10, &capped).len(), 2);
    }

    #[test]
    fn silence_detection() {
        let c = DatasetConfig::default();
        let silent = vec![0.0f32; 48_000 * 2];
        assert!(!is_active(&silent, 2, &c));
        let loud: Vec<f32> = (0..96_000)
            .map(|i| ((i as f32) * 0.01).sin() * 0.1)
            .collect();
        assert!(is_active(&loud, 2, &c));
        let mut mostly_silent = silent.clone();
        mostly_silent[..9_600].copy_from_slice(&loud[..9_600]);
        assert!(!is_active(&mostly_silent, 2, &c), "10% active < 30%");
    }
}
