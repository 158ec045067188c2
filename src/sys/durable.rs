//! Files that survive a crash or say they are unfinished: created 0600 under a temp name, fsynced,
//! renamed into place without replacing anything, the folder fsynced; private 0700 folders for
//! staging and secrets; append-only lines fsynced one by one (journals); the streaming sha256 used
//! while a tool writes through migsafe.

use sha2::{Digest, Sha256};
use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

pub use super::hex::hex;

const CHUNK: usize = 256 * 1024;

pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates a file that did not exist, mode 0600.
pub fn create_private(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

/// Creates `dir` (and its parents) if missing; the last component is made 0700.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    match std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
    {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => {}
        Err(e) => return Err(e),
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// Replaces `path` with `bytes` atomically: a 0600 temp file in the same folder, fsync, rename,
/// fsync of the folder. Readers see the old content or the new, never a mix.
pub fn write_replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut n = 0u32;
    let (tmp, mut f) = loop {
        let tmp = dir.join(format!(".{name}.tmp-{}-{n}", std::process::id()));
        match create_private(&tmp) {
            Ok(f) => break (tmp, f),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
            Err(e) => return Err(e),
        }
    };
    let result = f
        .write_all(bytes)
        .and_then(|_| f.sync_all())
        .and_then(|_| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    fsync_dir(dir)
}

/// Appends one line (a `\n` is added) and fsyncs it before returning: after a crash the line is
/// either complete on disk or absent (readers drop a torn last line).
pub fn append_line_synced(file: &mut File, line: &str) -> io::Result<()> {
    let mut buf = Vec::with_capacity(line.len() + 1);
    buf.extend_from_slice(line.as_bytes());
    buf.push(b'\n');
    file.write_all(&buf)?;
    file.sync_data()
}

/// Renames `from` to `to` unless `to` exists (Linux: renameat2 RENAME_NOREPLACE, atomic;
/// filesystems without it, and other systems, get a check-then-rename, still inside our own name
/// reservation).
pub fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let c = |p: &Path| {
            CString::new(p.as_os_str().as_bytes())
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))
        };
        let (f, t) = (c(from)?, c(to)?);
        // SAFETY: both pointers are valid NUL-terminated strings for the duration of the call.
        let rc = unsafe {
            libc::renameat2(
                libc::AT_FDCWD,
                f.as_ptr(),
                libc::AT_FDCWD,
                t.as_ptr(),
                libc::RENAME_NOREPLACE,
            )
        };
        if rc == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if !matches!(err.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOSYS)) {
            return Err(err);
        }
    }
    if to.exists() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} already exists", to.display()),
        ));
    }
    std::fs::rename(from, to)
}

/// fsyncs every file under `path` (or `path` itself), then each directory.
pub fn fsync_tree(path: &Path) -> io::Result<()> {
    if path.is_dir() {
        for entry in std::fs::read_dir(path)? {
            fsync_tree(&entry?.path())?;
        }
        fsync_dir(path)
    } else {
        File::open(path)?.sync_all()
    }
}

/// Makes every file under `path` 0600 and every directory 0700.
pub fn make_private(path: &Path) -> io::Result<()> {
    if path.is_dir() {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
        for entry in std::fs::read_dir(path)? {
            make_private(&entry?.path())?;
        }
        Ok(())
    } else {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
    }
}

/// Running sha256 and byte count.
#[derive(Default)]
pub struct Digest256 {
    hasher: Sha256,
    pub bytes: u64,
}

impl Digest256 {
    pub fn update(&mut self, data: &[u8]) {
        self.hasher.update(data);
        self.bytes += data.len() as u64;
    }

    pub fn hex(self) -> String {
        hex(&self.hasher.finalize())
    }
}

/// Copies `from` into `to` while hashing, reporting progress; returns bytes and sha256.
/// A write error (ENOSPC, EFBIG, EIO) is returned as is: the caller removes the partial file.
pub fn copy_hashing(
    from: &mut dyn Read,
    to: &mut dyn Write,
    on_bytes: &dyn Fn(u64),
) -> io::Result<(u64, String)> {
    let mut d = Digest256::default();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buf[..n])?;
        d.update(&buf[..n]);
        on_bytes(n as u64);
    }
    to.flush()?;
    let bytes = d.bytes;
    Ok((bytes, d.hex()))
}

/// sha256 and size of a file.
pub fn hash_file(path: &Path, on_bytes: &dyn Fn(u64)) -> io::Result<(u64, String)> {
    let mut f = File::open(path)?;
    copy_hashing(&mut f, &mut io::sink(), on_bytes)
}

/// Free bytes on the filesystem holding `path`.
pub fn free_bytes(path: &Path) -> Option<u64> {
    let c = CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs writes into the zeroed struct we own; the path is NUL-terminated.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    (rc == 0).then(|| st.f_bavail as u64 * st.f_frsize as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_replace_is_private_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.json");
        write_replace(&p, b"one").unwrap();
        write_replace(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn rename_noreplace_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, b"a").unwrap();
        std::fs::write(&b, b"b").unwrap();
        assert!(rename_noreplace(&a, &b).is_err());
        assert_eq!(std::fs::read(&b).unwrap(), b"b");
    }

    #[test]
    fn private_folders_and_synced_lines() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("a/b");
        private_dir(&d).unwrap();
        assert_eq!(
            std::fs::metadata(&d).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let p = d.join("j");
        let mut f = create_private(&p).unwrap();
        append_line_synced(&mut f, "{}").unwrap();
        append_line_synced(&mut f, "[]").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "{}\n[]\n");
        assert!(free_bytes(Path::new("/")).is_some());
        assert!(free_bytes(Path::new("/nonexistent/folder")).is_none());
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
    }
}
