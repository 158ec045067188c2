//! Writing backups so a failure never leaves a file that looks complete: work happens in a
//! private staging directory (0700) inside the backup folder, reserved under the backup's final
//! name before the dump starts; files are 0600, fsynced, then renamed into place without
//! replacing anything, and the folder is fsynced (the file primitives are `sys::durable`).

pub use crate::sys::durable::{
    Digest256, copy_hashing, create_private, fsync_dir, fsync_tree, hash_file, hex, make_private,
    rename_noreplace, write_replace,
};
use sha2::{Digest, Sha256};
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// Prefix of staging directories; `backup list` ignores them and `backup prune` removes those
/// whose process is gone.
pub const STAGING_PREFIX: &str = ".migsafe-staging-";

/// A reserved backup name and its private staging directory. Dropping it without
/// [`Staging::commit`] removes the staging directory and everything in it.
#[derive(Debug)]
pub struct Staging {
    pub dir: PathBuf,
    /// The final name, e.g. `backup_20261129_141500.dump`.
    pub name: String,
    /// Where the tool writes: `<staging>/<name>.partial`.
    pub partial: PathBuf,
    committed: bool,
    /// Removes the staging directory if migsafe is interrupted meanwhile.
    _on_interrupt: crate::sys::signals::CleanupGuard,
}

impl Staging {
    /// Reserves `<stem>.<ext>` in `backup_dir`, or `<stem>_2.<ext>`, `<stem>_3.<ext>`… when that
    /// name (or its manifest) exists or another run has reserved it, so backups started within
    /// the same second never overwrite each other.
    pub fn reserve(backup_dir: &Path, stem: &str, ext: &str) -> io::Result<Staging> {
        for n in 1..10_000u32 {
            let name = if n == 1 {
                format!("{stem}.{ext}")
            } else {
                format!("{stem}_{n}.{ext}")
            };
            let final_path = backup_dir.join(&name);
            if final_path.exists() || super::manifest::Manifest::path_for(&final_path).exists() {
                continue;
            }
            // the name alone (not the pid) makes the reservation: two runs in the same second
            // cannot both take it, and the second learns it before its dump starts
            let dir = backup_dir.join(format!("{STAGING_PREFIX}{name}"));
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => {
                    let me = std::process::id();
                    let owner = format!("{me} {}\n", crate::sys::proc::start_time(me).unwrap_or(0));
                    if let Err(e) = std::fs::write(dir.join(OWNER_FILE), owner) {
                        let _ = std::fs::remove_dir_all(&dir);
                        return Err(e);
                    }
                    // re-check: a concurrent run may have finished this name meanwhile
                    if final_path.exists() {
                        let _ = std::fs::remove_dir(&dir);
                        continue;
                    }
                    let partial = dir.join(format!("{name}.partial"));
                    let (d, n) = (dir.clone(), name.clone());
                    let guard = crate::sys::signals::on_interrupt(move || {
                        std::fs::remove_dir_all(&d)
                            .ok()
                            .map(|_| format!("the unfinished backup {n} was removed"))
                    });
                    return Ok(Staging {
                        dir,
                        name,
                        partial,
                        committed: false,
                        _on_interrupt: guard,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other("no free backup name after 10000 tries"))
    }

    /// Makes the partial file (or directory) private, fsyncs it, and renames it to its final
    /// name in the backup folder (never replacing anything), then fsyncs the folder.
    pub fn commit(mut self, backup_dir: &Path) -> io::Result<PathBuf> {
        let final_path = backup_dir.join(&self.name);
        make_private(&self.partial)?;
        fsync_tree(&self.partial)?;
        rename_noreplace(&self.partial, &final_path)?;
        fsync_dir(backup_dir)?;
        self.committed = true;
        let _ = std::fs::remove_dir_all(&self.dir);
        Ok(final_path)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The file in a staging directory that names the run holding the reservation.
const OWNER_FILE: &str = "owner";

/// Whether the run that reserved a staging directory still runs (pid and start time from its
/// owner file; a directory without one is judged by its age by the caller).
pub fn staging_alive(dir: &Path) -> Option<bool> {
    let text = std::fs::read_to_string(dir.join(OWNER_FILE)).ok()?;
    let mut it = text.split_whitespace();
    let pid: u32 = it.next()?.parse().ok()?;
    let start: Option<u64> = it.next().and_then(|s| s.parse().ok()).filter(|s| *s != 0);
    Some(crate::sys::proc::alive(pid, start))
}

/// Every file under `root` as (relative path, bytes, sha256), sorted by path, and the digest of
/// the listing (`<sha256>  <path>\n` per file, like `sha256sum`) that stands for the directory.
pub fn hash_dir(
    root: &Path,
    on_bytes: &dyn Fn(u64),
) -> io::Result<(Vec<super::manifest::FileEntry>, u64, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let p = entry?.path();
            if p.is_dir() {
                walk(&p, out)?;
            } else {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut paths = Vec::new();
    walk(root, &mut paths)?;
    let mut entries = Vec::with_capacity(paths.len());
    for p in paths {
        let rel = p
            .strip_prefix(root)
            .unwrap_or(&p)
            .to_string_lossy()
            .into_owned();
        let (bytes, sha256) = hash_file(&p, on_bytes)?;
        entries.push(super::manifest::FileEntry {
            path: rel,
            bytes,
            sha256,
        });
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    let (total, digest) = listing_digest(&entries);
    Ok((entries, total, digest))
}

/// The digest of a directory listing (see [`hash_dir`]).
pub fn listing_digest(entries: &[super::manifest::FileEntry]) -> (u64, String) {
    let mut d = Sha256::new();
    let mut total = 0;
    for e in entries {
        d.update(format!("{}  {}\n", e.sha256, e.path).as_bytes());
        total += e.bytes;
    }
    (total, hex(&d.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn reservations_within_a_second_get_suffixes_and_uncommitted_ones_vanish() {
        let dir = tempfile::tempdir().unwrap();
        let a = Staging::reserve(dir.path(), "backup_20261129_141500", "dump").unwrap();
        let b = Staging::reserve(dir.path(), "backup_20261129_141500", "dump").unwrap();
        assert_eq!(a.name, "backup_20261129_141500.dump");
        assert_eq!(b.name, "backup_20261129_141500_2.dump");
        std::fs::write(&a.partial, b"data").unwrap();
        let done = a.commit(dir.path()).unwrap();
        assert_eq!(
            std::fs::metadata(&done).unwrap().permissions().mode() & 0o777,
            0o600
        );
        std::fs::write(&b.partial, b"half").unwrap();
        drop(b);
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["backup_20261129_141500.dump".to_string()]);
        let c = Staging::reserve(dir.path(), "backup_20261129_141500", "dump").unwrap();
        assert_eq!(c.name, "backup_20261129_141500_2.dump");
        assert_eq!(staging_alive(&c.dir), Some(true));
    }

    #[test]
    fn hashes_match_sha256sum_conventions() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"abc").unwrap();
        let (n, h) = hash_file(&p, &|_| {}).unwrap();
        assert_eq!(n, 3);
        assert_eq!(
            h,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let (entries, total, digest) = hash_dir(dir.path(), &|_| {}).unwrap();
        assert_eq!((entries.len(), total), (1, 3));
        let listing = format!("{h}  f\n");
        assert_eq!(digest, hex(&Sha256::digest(listing.as_bytes())));
    }
}
