//! The output file while it is being written: an unnamed file in the destination's directory
//! (Linux `O_TMPFILE`), given a name only when it is complete, so neither a failure, nor a
//! signal, nor a `SIGKILL` leaves a partial file in the folder. Where the file system cannot
//! make unnamed files, a hidden `.xodvox-<pid>-*.tmp` file is used instead; such files left by
//! processes that no longer run are removed by the next render into that folder.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::errors::{CliError, ExitKind, Tag};

/// Prefix of the temporary names (followed by the process id and a dash).
const TEMP_PREFIX: &str = ".xodvox-";
/// Suffix of the temporary names.
const TEMP_SUFFIX: &str = ".tmp";

/// An output file under construction; dropped without [`commit`](Self::commit), it vanishes.
pub struct PendingOutput {
    file: File,
    /// `None` for an unnamed file; the temporary path of the fallback otherwise.
    named: Option<tempfile::TempPath>,
    dir: PathBuf,
    destination: PathBuf,
}

impl PendingOutput {
    /// Creates the file in `destination`'s directory, proving early that the directory is
    /// writable, and removes temporary files that dead `xodvox` processes left there.
    ///
    /// # Errors
    /// [`ExitKind::Output`] if the directory is missing or not writable, or `destination` is a
    /// directory.
    pub fn create(destination: &Path) -> Result<Self, CliError> {
        if destination.is_dir() {
            return Err(CliError::new(
                ExitKind::Output,
                format!("{}: is a directory", destination.display()),
            ));
        }
        let dir = match destination.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let not_writable = || {
            format!(
                "cannot write {}: output directory {} is missing or not writable",
                destination.display(),
                dir.display()
            )
        };
        remove_stale_temp_files(&dir);
        let (file, named) = match unnamed_file(&dir) {
            Some(file) => (file, None),
            None => {
                let tmp = tempfile::Builder::new()
                    .prefix(&own_prefix())
                    .suffix(TEMP_SUFFIX)
                    .tempfile_in(&dir)
                    .with_context(not_writable)
                    .tag(ExitKind::Output)?;
                let (file, path) = tmp.into_parts();
                (file, Some(path))
            }
        };
        Ok(PendingOutput {
            file,
            named,
            dir,
            destination: destination.to_path_buf(),
        })
    }

    /// The open file, to write into.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Flushes the file to disk and moves it onto the destination.
    ///
    /// # Errors
    /// [`ExitKind::Output`] if syncing, naming or renaming fails; nothing is left behind.
    pub fn commit(self) -> Result<(), CliError> {
        let dest = self.destination.display().to_string();
        self.file
            .sync_all()
            .with_context(|| format!("cannot write {dest}"))
            .tag(ExitKind::Output)?;
        set_readable(&self.file);
        let path = match self.named {
            Some(path) => path,
            None => link_unnamed(&self.file, &self.dir)
                .with_context(|| format!("cannot write {dest}"))
                .tag(ExitKind::Output)?,
        };
        path.persist(&self.destination)
            .map_err(|e| e.error)
            .with_context(|| format!("cannot move the finished file onto {dest}"))
            .tag(ExitKind::Output)?;
        Ok(())
    }
}

/// `.xodvox-<pid>-`: the temporary-name prefix of this process.
fn own_prefix() -> String {
    format!("{TEMP_PREFIX}{}-", std::process::id())
}

/// An unnamed, linkable file in `dir`, where the kernel and file system support it.
#[cfg(target_os = "linux")]
fn unnamed_file(dir: &Path) -> Option<File> {
    use rustix::fs::{Mode, OFlags, CWD};
    let fd = rustix::fs::openat(
        CWD,
        dir,
        OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o644),
    )
    .ok()?;
    Some(File::from(fd))
}

#[cfg(not(target_os = "linux"))]
fn unnamed_file(_dir: &Path) -> Option<File> {
    None
}

/// Gives the unnamed `file` a temporary name in `dir` (removed again if dropped).
#[cfg(target_os = "linux")]
fn link_unnamed(file: &File, dir: &Path) -> anyhow::Result<tempfile::TempPath> {
    use rustix::fs::{AtFlags, CWD};
    use std::os::fd::AsRawFd;
    let source = format!("/proc/self/fd/{}", file.as_raw_fd());
    let mut last_error = None;
    for attempt in 0..16u32 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!("{}{nanos:09}{attempt}{TEMP_SUFFIX}", own_prefix());
        let path = dir.join(name);
        match rustix::fs::linkat(CWD, source.as_str(), CWD, &path, AtFlags::SYMLINK_FOLLOW) {
            Ok(()) => return Ok(tempfile::TempPath::try_from_path(path)?),
            Err(e) if e == rustix::io::Errno::EXIST => last_error = Some(e),
            Err(e) => return Err(std::io::Error::from(e)).context("cannot link the finished file"),
        }
    }
    Err(std::io::Error::from(
        last_error.unwrap_or(rustix::io::Errno::EXIST),
    ))
    .context("cannot find a free temporary name")
}

#[cfg(not(target_os = "linux"))]
fn link_unnamed(_file: &File, _dir: &Path) -> anyhow::Result<tempfile::TempPath> {
    anyhow::bail!("unnamed files are only made on Linux")
}

/// Removes `.xodvox-<pid>-*.tmp` files in `dir` whose process no longer runs (left by a
/// killed render). Failures are ignored: the files are only clutter.
fn remove_stale_temp_files(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let own = std::process::id();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(temp_file_pid) else {
            continue;
        };
        if pid != own && !process_alive(pid) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The process id in a temporary name `.xodvox-<pid>-<anything>.tmp`.
fn temp_file_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(TEMP_PREFIX)?;
    if !rest.ends_with(TEMP_SUFFIX) {
        return None;
    }
    let (pid, _) = rest.split_once('-')?;
    pid.parse().ok()
}

/// Whether a process `pid` exists (one of another user counts as alive).
#[cfg(unix)]
fn process_alive(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return true;
    };
    !matches!(
        rustix::process::test_kill_process(pid),
        Err(rustix::io::Errno::SRCH)
    )
}

#[cfg(not(unix))]
fn process_alive(_pid: u32) -> bool {
    true
}

/// Temporary files are created private; a finished output should be readable like any new file.
fn set_readable(file: &File) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = file.set_permissions(std::fs::Permissions::from_mode(0o644));
    }
    #[cfg(not(unix))]
    let _ = file;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn nothing_is_visible_until_commit_and_a_drop_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.wav");
        let p = PendingOutput::create(&dest).unwrap();
        p.file().write_all(b"abc").unwrap();
        if cfg!(target_os = "linux") {
            assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
        }
        drop(p);
        assert!(names(dir.path()).is_empty());
        let p = PendingOutput::create(&dest).unwrap();
        p.file().write_all(b"done").unwrap();
        p.commit().unwrap();
        assert_eq!(names(dir.path()), ["out.wav"]);
        assert_eq!(std::fs::read(&dest).unwrap(), b"done");
    }

    #[test]
    fn stale_temp_files_of_dead_processes_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        // A pid above the kernel's maximum (4194304) never runs.
        let stale = dir.path().join(".xodvox-99999999-abc.tmp");
        let ours = dir.path().join(format!("{}x.tmp", own_prefix()));
        let other = dir.path().join(".xodvox-notapid.tmp");
        for p in [&stale, &ours, &other] {
            std::fs::write(p, b"x").unwrap();
        }
        let _p = PendingOutput::create(&dir.path().join("out.wav")).unwrap();
        assert!(!stale.exists());
        assert!(ours.exists() && other.exists());
    }

    #[test]
    fn temp_names_parse() {
        assert_eq!(temp_file_pid(".xodvox-123-abc.tmp"), Some(123));
        assert_eq!(temp_file_pid(".xodvox-123-abc.wav"), None);
        assert_eq!(temp_file_pid("xodvox-123-abc.tmp"), None);
        assert_eq!(temp_file_pid(".xodvox-abc.tmp"), None);
    }
}
