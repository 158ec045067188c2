//! What a backup argument names, for every command that takes one (`restore`, `backup verify`,
//! `integrity-check --against`, `dry-run --from-backup`, `recover`): `latest`, the pointer file
//! (`backups/LATEST`), a backup folder (meaning its `LATEST`), a backup file or its manifest.
//! Also the trust checks on what is read (as ssh does with key files): a backup folder another
//! user can write to, or a backup that is a symbolic link, is refused with the reason.

use super::BackupError;
use super::manifest::{self, LATEST_FILE, MANIFEST_SUFFIX, Manifest};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Which backup a command is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackupRef {
    /// The one `<dir>/LATEST` names.
    Latest,
    /// A backup file or directory (or its manifest), the `LATEST` pointer file, or a backup
    /// folder (its `LATEST`).
    Path(PathBuf),
}

impl BackupRef {
    /// `latest` (any case) or a path.
    pub fn parse(arg: &str) -> BackupRef {
        if arg.eq_ignore_ascii_case("latest") {
            BackupRef::Latest
        } else {
            BackupRef::Path(PathBuf::from(arg))
        }
    }
}

/// The backup file (or pg_dump directory) `which` names; `dir` is the backup folder `latest`
/// refers to. The backup is not opened here beyond `LATEST` and, for a pointer, its manifest.
pub fn resolve(dir: &Path, which: &BackupRef) -> Result<PathBuf, BackupError> {
    match which {
        BackupRef::Latest => pointed(dir),
        BackupRef::Path(p) => {
            if p.file_name().is_some_and(|n| n == LATEST_FILE) && !p.is_dir() {
                return pointed(folder_of(p));
            }
            let s = p.to_string_lossy();
            let path = match s.strip_suffix(MANIFEST_SUFFIX) {
                Some(stripped) => PathBuf::from(stripped),
                None => p.clone(),
            };
            // a folder that is not itself a backup (a pg_dump directory has a manifest next to
            // it): the backup folder, so its LATEST
            // (nor a pg_dump directory made outside migsafe, which has a toc.dat)
            if path.is_dir()
                && !Manifest::path_for(&path).exists()
                && !path.join("toc.dat").exists()
            {
                if path.join(LATEST_FILE).exists() || is_backup_folder(&path) {
                    return pointed(&path);
                }
                return Err(BackupError::Usage(format!(
                    "{}: a folder that is neither a backup nor a backup folder (no {LATEST_FILE}, no backup_* files)",
                    path.display()
                )));
            }
            Ok(path)
        }
    }
}

/// The folder a backup (or manifest) path is in; `.` for a bare file name.
pub fn folder_of(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

fn is_backup_folder(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|rd| {
        rd.flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(MANIFEST_SUFFIX))
    })
}

/// The backup `<dir>/LATEST` names, or why it names nothing usable.
fn pointed(dir: &Path) -> Result<PathBuf, BackupError> {
    let pointer = dir.join(LATEST_FILE);
    let shown = pointer.display();
    let text = match std::fs::read_to_string(&pointer) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(BackupError::Usage(format!(
                "{shown}: no verified backup (LATEST is missing): run `migsafe backup create`, or name a backup file"
            )));
        }
        Err(e) => {
            return Err(BackupError::Usage(format!("{shown}: cannot read: {e}")));
        }
    };
    let name = text.trim();
    let invalid = |why: String| {
        BackupError::Usage(format!(
            "{shown} names {name:?}, {why}; run `migsafe backup list --dir {}` to see the backups, and `migsafe backup verify <file>` to make one LATEST again",
            dir.display()
        ))
    };
    if let Err(why) = manifest::check_file_name(name) {
        return Err(invalid(format!("which {why}")));
    }
    let path = dir.join(name);
    if std::fs::symlink_metadata(&path).is_err() {
        return Err(invalid("which does not exist".into()));
    }
    let mpath = Manifest::path_for(&path);
    if !mpath.exists() {
        return Err(invalid(
            "which has no manifest, so it never finished (the manifest is written last)".into(),
        ));
    }
    match Manifest::load(&mpath) {
        Err(e) => Err(invalid(format!("whose manifest is not valid ({e})"))),
        Ok(m) if m.file != name => Err(invalid(format!("but its manifest describes {:?}", m.file))),
        Ok(m) if !m.verified() => Err(invalid(
            "which is not verified (LATEST only names verified backups)".into(),
        )),
        Ok(_) => Ok(path),
    }
}

/// Refuses a backup folder that another user could have written to: writable by everyone, or
/// owned by someone other than this user or root.
pub fn check_folder(dir: &Path) -> Result<(), BackupError> {
    let md = std::fs::metadata(dir).map_err(|e| {
        BackupError::Usage(format!("{}: cannot read the folder: {e}", dir.display()))
    })?;
    check_owner_mode(dir, &md, "backup folder")
}

fn check_owner_mode(path: &Path, md: &std::fs::Metadata, what: &str) -> Result<(), BackupError> {
    // SAFETY: geteuid has no preconditions and cannot fail
    let me = unsafe { libc::geteuid() };
    let mode = md.mode() & 0o7777;
    if md.uid() != me && md.uid() != 0 {
        return Err(BackupError::Usage(format!(
            "{}: the {what} is owned by uid {}, not by you (uid {me}) or root: that user could replace a backup with anything; refusing to read it (chown it to yourself, or run migsafe as its owner)",
            path.display(),
            md.uid()
        )));
    }
    if mode & 0o002 != 0 {
        return Err(BackupError::Usage(format!(
            "{}: the {what} is writable by everyone (mode {mode:04o}): anyone could replace a backup with anything; refusing to read it (chmod o-w {})",
            path.display(),
            path.display()
        )));
    }
    Ok(())
}

/// Refuses a backup (or manifest) that is a symbolic link: it could point anywhere, and what
/// migsafe verifies must be what it restores.
pub fn check_not_symlink(path: &Path) -> Result<(), BackupError> {
    match std::fs::symlink_metadata(path) {
        Ok(md) if md.file_type().is_symlink() => {
            let to = std::fs::read_link(path)
                .map(|t| format!(" (to {})", t.display()))
                .unwrap_or_default();
            Err(BackupError::Usage(format!(
                "{}: the backup is a symbolic link{to}; refusing to read it: copy the file into the backup folder instead",
                path.display()
            )))
        }
        _ => Ok(()),
    }
}

/// Both checks for a backup at `path`, its folder and its manifest.
pub fn check_trusted(path: &Path) -> Result<(), BackupError> {
    check_folder(folder_of(path))?;
    check_not_symlink(path)?;
    check_not_symlink(&Manifest::path_for(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn latest_in_any_spelling() {
        assert_eq!(BackupRef::parse("latest"), BackupRef::Latest);
        assert_eq!(BackupRef::parse("LATEST"), BackupRef::Latest);
        assert_eq!(
            BackupRef::parse("backups/LATEST"),
            BackupRef::Path("backups/LATEST".into())
        );
    }

    #[test]
    fn a_pointer_to_nothing_says_what_it_names() {
        let d = tempfile::tempdir().unwrap();
        let e = resolve(d.path(), &BackupRef::Latest).unwrap_err();
        assert!(e.to_string().contains("LATEST is missing"), "{e}");
        std::fs::write(d.path().join("LATEST"), "../etc/passwd\n").unwrap();
        let e = resolve(d.path(), &BackupRef::Latest).unwrap_err();
        assert!(e.to_string().contains("names \"../etc/passwd\""), "{e}");
        std::fs::write(d.path().join("LATEST"), "backup_x.dump\n").unwrap();
        let e = resolve(d.path(), &BackupRef::Path(d.path().join("LATEST"))).unwrap_err();
        assert!(
            e.to_string()
                .contains("\"backup_x.dump\", which does not exist"),
            "{e}"
        );
        std::fs::write(d.path().join("backup_x.dump"), "x").unwrap();
        let e = resolve(d.path(), &BackupRef::Path(d.path().to_path_buf())).unwrap_err();
        assert!(e.to_string().contains("has no manifest"), "{e}");
    }

    #[test]
    fn writable_folders_and_links_are_refused() {
        let d = tempfile::tempdir().unwrap();
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = check_folder(d.path()).unwrap_err();
        assert!(e.to_string().contains("writable by everyone"), "{e}");
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        check_folder(d.path()).unwrap();
        let link = d.path().join("backup_1.dump");
        std::os::unix::fs::symlink("/etc/passwd", &link).unwrap();
        let e = check_not_symlink(&link).unwrap_err();
        assert!(
            e.to_string().contains("symbolic link (to /etc/passwd)"),
            "{e}"
        );
    }
}
