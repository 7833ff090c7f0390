//! ONNX Runtime library discovery (cargo feature `ort`): [`locate_library`] finds the
//! `libonnxruntime.so` to load (`ORT_DYLIB_PATH`; beside the executable; the onnxruntime
//! Python wheel in the site-packages of `python3`; a system library) without loading it or
//! starting any process. Re-exported from [`crate::ort_backend`], which loads it.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// How [`locate_library`] found the ONNX Runtime library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LibrarySource {
    /// The `ORT_DYLIB_PATH` environment variable (used as given, even if the file is missing).
    EnvVar,
    /// `libonnxruntime.so` in the executable's directory.
    BesideExecutable,
    /// `onnxruntime/capi/libonnxruntime.so*` of the onnxruntime Python wheel.
    PythonWheel,
    /// `libonnxruntime.so*` in a directory of the dynamic loader's search path.
    System,
}

impl std::fmt::Display for LibrarySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::EnvVar => "ORT_DYLIB_PATH",
            Self::BesideExecutable => "beside the executable",
            Self::PythonWheel => "onnxruntime Python wheel",
            Self::System => "system library",
        })
    }
}

/// An ONNX Runtime library file and how it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrtLibrary {
    /// The file to load.
    pub path: PathBuf,
    /// Where it came from.
    pub source: LibrarySource,
}

/// Finds the ONNX Runtime library without loading it or starting any process, in this order:
///
/// 1. `ORT_DYLIB_PATH`, when set and not empty (returned even if the file does not exist, so
///    that loading reports the bad path);
/// 2. `libonnxruntime.so` in the executable's directory;
/// 3. the onnxruntime Python wheel's `onnxruntime/capi/libonnxruntime.so*` in the
///    site-packages of `python3`: the active virtual or conda environment (`VIRTUAL_ENV`,
///    `CONDA_PREFIX`), then each `python3` on `PATH` (its own prefix and, through symlinks,
///    its interpreter's; for a pyenv shim the selected pyenv version), then the user site
///    (`~/.local/lib/python3.*/site-packages`); the directories are read, `python3` is not run;
/// 4. `libonnxruntime.so*` in `LD_LIBRARY_PATH` or the usual system library directories.
///
/// `None` when there is none of these.
pub fn locate_library() -> Option<OrtLibrary> {
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        return Some(OrtLibrary {
            path: PathBuf::from(p),
            source: LibrarySource::EnvVar,
        });
    }
    let beside = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join("libonnxruntime.so")))
        .filter(|p| p.is_file());
    if let Some(path) = beside {
        return Some(OrtLibrary {
            path,
            source: LibrarySource::BesideExecutable,
        });
    }
    if let Some(path) = python_site_dirs()
        .iter()
        .find_map(|d| newest_library(&d.join("onnxruntime").join("capi")))
    {
        return Some(OrtLibrary {
            path,
            source: LibrarySource::PythonWheel,
        });
    }
    system_lib_dirs()
        .iter()
        .find_map(|d| newest_library(d))
        .map(|path| OrtLibrary {
            path,
            source: LibrarySource::System,
        })
}

/// The newest `libonnxruntime.so` / `libonnxruntime.so.<version>` file in `dir` (the plain
/// name first, as that is what the loader would pick), if any.
fn newest_library(dir: &Path) -> Option<PathBuf> {
    let plain = dir.join("libonnxruntime.so");
    if plain.is_file() {
        return Some(plain);
    }
    let mut found: Vec<(Vec<u64>, PathBuf)> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let version = name.strip_prefix("libonnxruntime.so.")?;
            let key: Vec<u64> = version
                .split('.')
                .map(|v| v.parse().ok())
                .collect::<Option<_>>()?;
            let path = e.path();
            path.is_file().then_some((key, path))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, p)| p)
}

/// Site-packages directories of the `python3` a shell would run, most specific first.
fn python_site_dirs() -> Vec<PathBuf> {
    let mut prefixes: Vec<(PathBuf, Option<String>)> = Vec::new();
    for var in ["VIRTUAL_ENV", "CONDA_PREFIX"] {
        if let Some(p) = std::env::var_os(var).filter(|p| !p.is_empty()) {
            prefixes.push((PathBuf::from(p), None));
        }
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let exe = dir.join("python3");
        if !exe.is_file() {
            continue;
        }
        if let Some(prefix) = pyenv_prefix(&dir) {
            match prefix {
                // `pyenv global system`: the next python3 on PATH is the one that runs.
                None => continue,
                Some(p) => {
                    prefixes.push((p, None));
                    break;
                }
            }
        }
        // A virtual environment's bin/python3 links to its base interpreter: the
        // environment's own site-packages come first, then the interpreter's.
        if let Some(p) = dir.parent() {
            prefixes.push((p.to_path_buf(), None));
        }
        if let Ok(real) = std::fs::canonicalize(&exe) {
            let version = real
                .file_name()
                .and_then(OsStr::to_str)
                .and_then(|n| n.strip_prefix("python"))
                .filter(|v| v.starts_with("3."))
                .map(str::to_string);
            if let Some(p) = real.parent().and_then(Path::parent) {
                prefixes.push((p.to_path_buf(), version));
            }
        }
        break;
    }
    let mut dirs = Vec::new();
    for (prefix, version) in &prefixes {
        for lib in [prefix.join("lib"), prefix.join("local").join("lib")] {
            dirs.extend(python_dirs(&lib, version.as_deref()));
        }
        dirs.push(prefix.join("lib").join("python3").join("dist-packages"));
    }
    if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        dirs.extend(python_dirs(
            &PathBuf::from(home).join(".local").join("lib"),
            None,
        ));
    }
    dirs
}

/// `lib/python3.X/{site,dist}-packages` under `lib`: version `want` first, then the others
/// newest first.
fn python_dirs(lib: &Path, want: Option<&str>) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(lib) else {
        return Vec::new();
    };
    let mut versions: Vec<(bool, u32, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let minor: u32 = name.strip_prefix("python3.")?.parse().ok()?;
            let wanted = want == Some(name.trim_start_matches("python"));
            Some((!wanted, u32::MAX - minor, e.path()))
        })
        .collect();
    versions.sort();
    versions
        .into_iter()
        .flat_map(|(_, _, d)| [d.join("site-packages"), d.join("dist-packages")])
        .collect()
}

/// For a pyenv shims directory, the selected version's prefix (`Some(None)` for the
/// `system` version); `None` when `dir` is not pyenv's shims.
fn pyenv_prefix(dir: &Path) -> Option<Option<PathBuf>> {
    if dir.file_name() != Some(OsStr::new("shims")) {
        return None;
    }
    let root = dir.parent()?;
    let root = if root.file_name() == Some(OsStr::new("pyenv-virtualenv")) {
        // plugins/pyenv-virtualenv/shims
        root.parent()?.parent()?
    } else {
        root
    };
    if !root.join("versions").is_dir() {
        return None;
    }
    let from_file = |p: PathBuf| {
        std::fs::read_to_string(p)
            .ok()
            .and_then(|s| s.split_whitespace().next().map(str::to_string))
    };
    let version = std::env::var("PYENV_VERSION")
        .ok()
        .and_then(|v| v.split(':').next().map(str::to_string))
        .filter(|v| !v.is_empty())
        .or_else(|| {
            let cwd = std::env::current_dir().ok()?;
            cwd.ancestors()
                .find_map(|d| from_file(d.join(".python-version")))
        })
        .or_else(|| from_file(root.join("version")))
        .unwrap_or_else(|| "system".into());
    if version == "system" {
        return Some(None);
    }
    Some(Some(root.join("versions").join(version)))
}

/// `LD_LIBRARY_PATH`'s directories, then the usual system library directories.
fn system_lib_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("LD_LIBRARY_PATH")
        .map(|v| {
            std::env::split_paths(&v)
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default();
    let arch = format!("{}-linux-gnu", std::env::consts::ARCH);
    for d in ["/usr/local/lib", "/usr/lib", "/lib", "/usr/lib64", "/lib64"] {
        dirs.push(PathBuf::from(d).join(&arch));
        dirs.push(PathBuf::from(d));
    }
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(dir: &Path, name: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, b"").unwrap();
        p
    }

    #[test]
    fn newest_library_prefers_the_plain_name_then_the_highest_version() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(newest_library(d.path()), None);
        touch(d.path(), "libonnxruntime_providers_shared.so");
        touch(d.path(), "libonnxruntime.so.1.9.0");
        let newest = touch(d.path(), "libonnxruntime.so.1.22.1");
        touch(d.path(), "libonnxruntime.so.1.22.1.bak~");
        assert_eq!(newest_library(d.path()), Some(newest), "1.22.1 > 1.9.0");
        let plain = touch(d.path(), "libonnxruntime.so");
        assert_eq!(newest_library(d.path()), Some(plain));
        assert_eq!(newest_library(&d.path().join("missing")), None);
    }

    #[test]
    fn python_dirs_put_the_interpreters_version_first() {
        let d = tempfile::tempdir().unwrap();
        for v in [
            "python3.9",
            "python3.12",
            "python3.11",
            "python2.7",
            "other",
        ] {
            std::fs::create_dir(d.path().join(v)).unwrap();
        }
        let names = |want| -> Vec<String> {
            python_dirs(d.path(), want)
                .iter()
                .map(|p| {
                    let rel = p.strip_prefix(d.path()).unwrap();
                    rel.display().to_string()
                })
                .collect()
        };
        assert_eq!(
            names(Some("3.11")),
            [
                "python3.11/site-packages",
                "python3.11/dist-packages",
                "python3.12/site-packages",
                "python3.12/dist-packages",
                "python3.9/site-packages",
                "python3.9/dist-packages",
            ]
        );
        assert_eq!(names(None)[0], "python3.12/site-packages");
    }

    #[test]
    fn pyenv_shims_resolve_to_the_global_version() {
        let d = tempfile::tempdir().unwrap();
        let shims = d.path().join("shims");
        std::fs::create_dir_all(&shims).unwrap();
        std::fs::create_dir_all(d.path().join("versions/3.11.7")).unwrap();
        std::fs::write(d.path().join("version"), "3.11.7\n").unwrap();
        assert_eq!(pyenv_prefix(d.path()), None, "not a shims directory");
        if std::env::var_os("PYENV_VERSION").is_none() {
            let cwd = std::env::current_dir().unwrap();
            if !cwd.ancestors().any(|a| a.join(".python-version").is_file()) {
                assert_eq!(
                    pyenv_prefix(&shims),
                    Some(Some(d.path().join("versions/3.11.7")))
                );
                std::fs::write(d.path().join("version"), "system\n").unwrap();
                assert_eq!(pyenv_prefix(&shims), Some(None));
            }
        }
    }
}
