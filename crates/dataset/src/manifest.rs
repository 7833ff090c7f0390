//! The dataset manifest (`manifest.jsonl`, schema in `docs/dataset-manifest.md`, version 1),
//! the split by source group, and the merge of shard manifests.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::SplitFractions;
use crate::error::{DatasetError, Result};
use crate::hash::key_u64;

/// File name of the manifest in a dataset folder.
pub const MANIFEST_FILE: &str = "manifest.jsonl";

/// Folder (inside a dataset folder) that holds the shard manifests of `--shard i/N` builds.
pub const SHARDS_DIR: &str = "shards";

/// One (input, target) pair. The first 17 fields are the required fields of
/// `docs/dataset-manifest.md`, in its order; the rest are extra fields the trainer ignores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestRow {
    /// Unique pair id, `<clip id>-p<k>`.
    pub id: String,
    /// `train`, `val` or `test`.
    pub split: String,
    /// Input clip, relative to the manifest's folder (`input/<clip id>.wav`).
    pub input: String,
    /// Target, relative to the manifest's folder (`target/<pair id>.wav`).
    pub target: String,
    /// Sample rate of both files, Hz.
    pub sample_rate: u32,
    /// Channel count of both files.
    pub channels: u16,
    /// Input length in frames.
    pub num_frames_input: u64,
    /// Target length in frames, always `round(num_frames_input × stretch)`.
    pub num_frames_target: u64,
    /// Duration ratio (target / input; 2 = twice as long).
    pub stretch: f64,
    /// Pitch shift in semitones (+12 = one octave up).
    pub pitch_semitones: f64,
    /// Style name (`rb-fine`, `rb-crisp`, `rb-formant`, `sox`).
    pub style: String,
    /// Exact command line that made the target, run in the manifest's folder.
    pub generator: String,
    /// Version of the tool in `generator`.
    pub tool_version: String,
    /// SHA-256 of the input file.
    pub input_sha256: String,
    /// SHA-256 of the target file.
    pub target_sha256: String,
    /// Where the input came from (the corpus row's `source`, else the file's path in the input
    /// folder).
    pub source: String,
    /// Licence of the source.
    pub licence: String,
    /// Extra: the source file, relative to the input folder of the build.
    #[serde(default)]
    pub source_file: String,
    /// Extra: SHA-256 of the source file.
    #[serde(default)]
    pub source_sha256: String,
    /// Extra: first frame of the clip in the source after conversion to the dataset rate.
    #[serde(default)]
    pub source_start_frame: u64,
    /// Extra: the split group (sources of one group share a split).
    #[serde(default)]
    pub group: String,
    /// Extra: category from `corpus.jsonl`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Extra: frames appended (positive, silence) or cut from the end (negative) after the
    /// generator ran, so the target is exactly `round(num_frames_input × stretch)` frames; 0
    /// when the generator's output already had that length.
    #[serde(default)]
    pub length_adjust_frames: i64,
}

/// Serialises rows as JSON Lines, sorted by id (so the bytes do not depend on the order in
/// which parallel workers finished).
pub fn to_jsonl(rows: &[ManifestRow]) -> String {
    let mut sorted: Vec<&ManifestRow> = rows.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    let mut out = String::new();
    for row in sorted {
        // Serialising a struct of strings and numbers cannot fail.
        out.push_str(&serde_json::to_string(row).unwrap_or_default());
        out.push('\n');
    }
    out
}

/// Reads a manifest written by this crate (or any manifest with the required fields).
///
/// # Errors
/// [`DatasetError::Manifest`] naming the line of a malformed row or a duplicate id.
pub fn read_manifest(path: &Path) -> Result<Vec<ManifestRow>> {
    let text = std::fs::read_to_string(path).map_err(|e| DatasetError::io(path, e))?;
    let mut rows = Vec::new();
    let mut ids = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let row: ManifestRow = serde_json::from_str(line).map_err(|e| DatasetError::Manifest {
            path: path.to_owned(),
            line: i + 1,
            message: e.to_string(),
        })?;
        if !ids.insert(row.id.clone()) {
            return Err(DatasetError::Manifest {
                path: path.to_owned(),
                line: i + 1,
                message: format!("duplicate id {}", row.id),
            });
        }
        rows.push(row);
    }
    Ok(rows)
}

/// One of the three splits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Split {
    /// Training split.
    Train,
    /// Validation split.
    Val,
    /// Test split.
    Test,
}

impl Split {
    /// All splits in order.
    pub const ALL: [Split; 3] = [Split::Train, Split::Val, Split::Test];

    /// `train`, `val` or `test`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Train => "train",
            Self::Val => "val",
            Self::Test => "test",
        }
    }
}

/// Assigns every group (a source file, or several that must stay together) to a split.
///
/// The groups are ordered by a hash of `(seed, group)`; the first `round(n × test)` go to
/// `test`, the next `round(n × val)` to `val`, the rest to `train`. With 3 or more groups a
/// split with a non-zero fraction gets at least one group. The result depends only on the set of
/// group names, the seed and the fractions — never on the order of files or on sharding.
pub fn assign_splits<'a>(
    groups: impl IntoIterator<Item = &'a str>,
    seed: u64,
    fractions: SplitFractions,
) -> BTreeMap<String, Split> {
    let unique: BTreeSet<&str> = groups.into_iter().collect();
    let mut ordered: Vec<&str> = unique.into_iter().collect();
    ordered.sort_by_key(|g| (key_u64(&format!("split/{seed}/{g}")), g.to_string()));
    let n = ordered.len();
    let count = |fraction: f64| {
        let c = (n as f64 * fraction).round() as usize;
        if c == 0 && fraction > 0.0 && n >= 3 {
            1
        } else {
            c
        }
    };
    let mut n_test = count(fractions.test);
    let mut n_val = count(fractions.val);
    // Keep at least one training group when training has a share.
    while fractions.train > 0.0 && n > 0 && n_test + n_val >= n {
        if n_val >= n_test && n_val > 0 {
            n_val -= 1;
        } else if n_test > 0 {
            n_test -= 1;
        } else {
            break;
        }
    }
    ordered
        .into_iter()
        .enumerate()
        .map(|(i, g)| {
            let split = if i < n_test {
                Split::Test
            } else if i < n_test + n_val {
                Split::Val
            } else {
                Split::Train
            };
            (g.to_owned(), split)
        })
        .collect()
}

/// A `--shard i/N` selection: this run handles sources whose index (in sorted order) is `i`
/// modulo `N`. `i` counts from 0 (as `SLURM_ARRAY_TASK_ID` does with `--array=0-(N-1)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This shard, 0 to `count − 1`.
    pub index: usize,
    /// Number of shards, 1 to 10000.
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = DatasetError;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            DatasetError::Shard(format!(
                "'{s}' is not I/N with 0 <= I < N <= 10000 (e.g. 0/4)"
            ))
        };
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || count > 10_000 || index >= count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }
}

impl Shard {
    /// File name of this shard's manifest inside [`SHARDS_DIR`].
    pub fn manifest_name(self) -> String {
        format!("shard-{:05}-of-{:05}.jsonl", self.index, self.count)
    }
}

/// Merges the shard manifests of `dir/shards/` into `dir/manifest.jsonl`.
///
/// Every shard `0..N` of one `N` must be present; rows are sorted by id, so the result is
/// byte-identical to the manifest of an unsharded build. Returns the manifest path and the row
/// count.
///
/// # Errors
/// [`DatasetError::Shard`] when shards are missing or of different counts; [`DatasetError::Manifest`]
/// for malformed rows and duplicate ids.
pub fn merge_shards(dir: &Path) -> Result<(PathBuf, usize)> {
    let shards_dir = dir.join(SHARDS_DIR);
    let entries = std::fs::read_dir(&shards_dir).map_err(|e| DatasetError::io(&shards_dir, e))?;
    let mut found: BTreeMap<usize, (usize, PathBuf)> = BTreeMap::new();
    let mut counts = BTreeSet::new();
    for entry in entries {
        let entry = entry.map_err(|e| DatasetError::io(&shards_dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name
            .strip_prefix("shard-")
            .and_then(|r| r.strip_suffix(".jsonl"))
        else {
            continue;
        };
        let Some((i, n)) = rest.split_once("-of-") else {
            continue;
        };
        let (Ok(i), Ok(n)) = (i.parse::<usize>(), n.parse::<usize>()) else {
            continue;
        };
        counts.insert(n);
        found.insert(i, (n, entry.path()));
    }
    if counts.len() != 1 {
        return Err(DatasetError::Shard(format!(
            "{} holds manifests of {} different shard counts {:?}; expected one",
            shards_dir.display(),
            counts.len(),
            counts
        )));
    }
    let n = counts.into_iter().next().unwrap_or(0);
    let missing: Vec<usize> = (0..n).filter(|i| !found.contains_key(i)).collect();
    if !missing.is_empty() {
        return Err(DatasetError::Shard(format!(
            "{}: shard(s) {:?} of {n} have not finished (no manifest)",
            shards_dir.display(),
            missing
        )));
    }
    let mut rows = Vec::new();
    let mut ids = BTreeSet::new();
    for (_, path) in found.values() {
        for row in read_manifest(path)? {
            if !ids.insert(row.id.clone()) {
                return Err(DatasetError::Manifest {
                    path: path.clone(),
                    line: 0,
                    message: format!("id {} is in two shards", row.id),
                });
            }
            rows.push(row);
        }
    }
    let path = dir.join(MANIFEST_FILE);
    write_if_changed(&path, to_jsonl(&rows).as_bytes())?;
    Ok((path, rows.len()))
}

/// Writes `bytes` atomically unless the file already holds exactly them; returns whether it
/// wrote.
///
/// # Errors
/// [`DatasetError::Io`] naming the file.
pub fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<bool> {
    if std::fs::read(path).ok().as_deref() == Some(bytes) {
        return Ok(false);
    }
    crate::audio::write_file_atomic(path, bytes)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_are_deterministic_and_proportional() {
        let groups: Vec<String> = (0..100).map(|i| format!("src{i}.wav")).collect();
        let a = assign_splits(
            groups.iter().map(String::as_str),
            7,
            SplitFractions::default(),
        );
        let b = assign_splits(
            groups.iter().rev().map(String::as_str),
            7,
            SplitFractions::default(),
        );
        assert_eq!(a, b, "order of groups must not matter");
        let count = |s| a.values().filter(|&&v| v == s).count();
        assert_eq!(
            (count(Split::Train), count(Split::Val), count(Split::Test)),
            (80, 10, 10)
        );
        let c = assign_splits(
            groups.iter().map(String::as_str),
            8,
            SplitFractions::default(),
        );
        assert_ne!(a, c, "another seed gives another split");
    }

    #[test]
    fn small_sets_get_every_split() {
        let a = assign_splits(["a", "b", "c"], 0, SplitFractions::default());
        let mut got: Vec<Split> = a.values().copied().collect();
        got.sort();
        assert_eq!(got, vec![Split::Train, Split::Val, Split::Test]);
        let one = assign_splits(["a"], 0, SplitFractions::default());
        assert_eq!(one["a"], Split::Train);
    }

    #[test]
    fn shard_parsing() {
        assert_eq!(
            "1/4".parse::<Shard>().expect("ok"),
            Shard { index: 1, count: 4 }
        );
        for bad in ["4/4", "x/2", "1", "0/0", "-1/2"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }
}
