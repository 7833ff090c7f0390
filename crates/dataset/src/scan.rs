//! Recursive scan of an input folder for WAV, FLAC and OGG files, and the optional
//! `corpus.jsonl` that gives each file's package, licence, category and split group.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{DatasetError, Result};

/// File extensions the builder reads (case-insensitive).
pub const AUDIO_EXTENSIONS: [&str; 3] = ["wav", "flac", "ogg"];

/// Name of the per-file description the corpus builder writes next to the audio.
pub const CORPUS_MANIFEST: &str = "corpus.jsonl";

/// One audio file found under the input folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Absolute (or as given) path of the file.
    pub path: PathBuf,
    /// Path relative to the input folder, `/`-separated: the source's identity.
    pub rel: String,
}

/// Lists the audio files under `root` (recursively, following no hidden folders), sorted by
/// relative path. Files under any of `exclude` (e.g. an output folder inside the input folder)
/// are left out.
///
/// # Errors
/// [`DatasetError::NoInput`] when `root` is not a folder; [`DatasetError::Io`] when a folder
/// cannot be listed.
pub fn scan_audio(root: &Path, exclude: &[PathBuf]) -> Result<Vec<SourceFile>> {
    if !root.is_dir() {
        return Err(DatasetError::NoInput(root.to_owned()));
    }
    let exclude: Vec<PathBuf> = exclude
        .iter()
        .filter_map(|p| p.canonicalize().ok())
        .collect();
    let mut found = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        if let Ok(canonical) = dir.canonicalize() {
            if exclude.iter().any(|e| canonical.starts_with(e)) {
                continue;
            }
        }
        let entries = std::fs::read_dir(&dir).map_err(|e| DatasetError::io(&dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| DatasetError::io(&dir, e))?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let file_type = entry.file_type().map_err(|e| DatasetError::io(&path, e))?;
            if file_type.is_dir() || (file_type.is_symlink() && path.is_dir()) {
                stack.push(path);
            } else if is_audio_name(&name) && !name.ends_with(crate::audio::PARTIAL_SUFFIX) {
                let rel = path
                    .strip_prefix(root)
                    .unwrap_or(&path)
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                found.push(SourceFile { path, rel });
            }
        }
    }
    found.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(found)
}

/// Whether a file name has one of [`AUDIO_EXTENSIONS`].
pub fn is_audio_name(name: &str) -> bool {
    name.rsplit_once('.')
        .is_some_and(|(_, ext)| AUDIO_EXTENSIONS.iter().any(|a| a.eq_ignore_ascii_case(ext)))
}

/// One row of `corpus.jsonl` (written by `scripts/corpus`); see `docs/dataset.md`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CorpusEntry {
    /// Audio file, relative to the folder holding `corpus.jsonl`.
    pub file: String,
    /// Licence of the material (SPDX id where there is one).
    pub licence: String,
    /// Debian/PyPI package the material comes from.
    #[serde(default)]
    pub package: Option<String>,
    /// Where exactly it came from (original path, score name, synthesis command).
    #[serde(default)]
    pub source: Option<String>,
    /// Category (`music`, `monophonic`, `drums`, `speech`, ...).
    #[serde(default)]
    pub category: Option<String>,
    /// Files with the same group (e.g. one score rendered with two soundfonts) always land in
    /// the same split.
    #[serde(default)]
    pub group: Option<String>,
}

/// Reads `root/corpus.jsonl` when it exists, keyed by `file`.
///
/// # Errors
/// [`DatasetError::Manifest`] naming the line of a malformed row.
pub fn read_corpus_manifest(root: &Path) -> Result<BTreeMap<String, CorpusEntry>> {
    let path = root.join(CORPUS_MANIFEST);
    let mut map = BTreeMap::new();
    if !path.is_file() {
        return Ok(map);
    }
    let text = std::fs::read_to_string(&path).map_err(|e| DatasetError::io(&path, e))?;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let entry: CorpusEntry =
            serde_json::from_str(line).map_err(|e| DatasetError::Manifest {
                path: path.clone(),
                line: i + 1,
                message: e.to_string(),
            })?;
        map.insert(entry.file.clone(), entry);
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions() {
        assert!(is_audio_name("a.WAV"));
        assert!(is_audio_name("b.flac"));
        assert!(is_audio_name("c.d.ogg"));
        assert!(!is_audio_name("e.mp3"));
        assert!(!is_audio_name("wav"));
    }

    #[test]
    fn scan_is_sorted_and_recursive() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("b/c")).expect("mkdir");
        std::fs::create_dir_all(dir.path().join(".hidden")).expect("mkdir");
        for f in ["z.wav", "b/c/a.flac", "b/x.txt", ".hidden/h.wav", "a.ogg"] {
            std::fs::write(dir.path().join(f), b"x").expect("write");
        }
        let found = scan_audio(dir.path(), &[]).expect("scan");
        let rels: Vec<&str> = found.iter().map(|f| f.rel.as_str()).collect();
        assert_eq!(rels, ["a.ogg", "b/c/a.flac", "z.wav"]);
    }
}
