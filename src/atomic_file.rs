//! Writing a file so that readers see the old content or the new, never half of it.

use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` through a temporary file in the same folder, flushed to disk and
/// renamed over `path` (a rename is atomic within one file system). Creates the folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
/// An exclusive advisory lock on `path` (created if missing), held until the file is dropped:
/// what makes a read-modify-write of a shared file safe between processes, on one machine or
/// on the nodes of a cluster sharing the folder (flock over NFS v4 and Lustre).
pub fn lock_exclusive(path: &Path) -> std::io::Result<std::fs::File> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: flock takes a descriptor this function owns (open until `file` drops) and
        // only blocks until the lock is granted; the lock ends when the descriptor closes.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(file)
}
