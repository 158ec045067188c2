//! Cached data directories ("templates") for ephemeral servers: a server stopped cleanly after
//! initdb (and after the migrations every run applies the same way) is copied here under a key,
//! so the next run copies it back instead of initialising and migrating again.
//!
//! Layout: `<cache>/templates/<key>/data` plus `<key>/meta.json`; a template is written under a
//! temporary name and renamed into place, so a half-copied directory is never used. The least
//! recently used templates beyond [`KEEP`] are removed.

use crate::engines::process::ServiceUser;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// How many templates to keep (each is a full data directory, ~40 MB for PostgreSQL).
pub const KEEP: usize = 6;

/// `$MIGSAFE_CACHE_DIR`, else `$XDG_CACHE_HOME/migsafe`, else `~/.cache/migsafe`.
pub fn cache_root() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("MIGSAFE_CACHE_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d).join("migsafe"));
    }
    std::env::var_os("HOME")
        .filter(|d| !d.is_empty())
        .map(|h| PathBuf::from(h).join(".cache").join("migsafe"))
}

#[derive(Debug, Clone)]
pub struct TemplateStore {
    root: PathBuf,
}

impl TemplateStore {
    /// The store under `cache` (`<cache>/templates`).
    pub fn new(cache: &Path) -> TemplateStore {
        TemplateStore {
            root: cache.join("templates"),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The data directory of a complete template for `key`, touched as recently used.
    pub fn lookup(&self, key: &str) -> Option<PathBuf> {
        let dir = self.root.join(key);
        let meta = dir.join("meta.json");
        if !meta.is_file() || !dir.join("data").is_dir() {
            return None;
        }
        let _ = std::fs::File::options()
            .append(true)
            .open(&meta)
            .and_then(|f| f.set_modified(std::time::SystemTime::now()));
        Some(dir.join("data"))
    }

    /// Stores a copy of `data_dir` under `key` (temp name, then rename); keeps an existing one.
    pub fn save(&self, key: &str, data_dir: &Path, meta: &serde_json::Value) -> io::Result<()> {
        std::fs::create_dir_all(&self.root)?;
        let final_dir = self.root.join(key);
        if final_dir.join("meta.json").is_file() {
            return Ok(());
        }
        let staging = self.root.join(format!(".tmp-{key}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir_all(&staging)?;
        let result = (|| {
            copy_tree(data_dir, &staging.join("data"), None)?;
            std::fs::write(
                staging.join("meta.json"),
                serde_json::to_vec_pretty(meta).unwrap_or_default(),
            )?;
            match std::fs::rename(&staging, &final_dir) {
                Ok(()) => Ok(()),
                // another run stored the same template first: theirs is as good as ours
                Err(_) if final_dir.join("meta.json").is_file() => {
                    let _ = std::fs::remove_dir_all(&staging);
                    Ok(())
                }
                Err(e) => Err(e),
            }
        })();
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&staging);
        }
        self.evict();
        result
    }

    /// Removes a template that turned out unusable.
    pub fn discard(&self, key: &str) {
        let _ = std::fs::remove_dir_all(self.root.join(key));
    }

    /// Keeps the [`KEEP`] most recently used templates; removes stale staging directories.
    fn evict(&self) {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return;
        };
        let mut found: Vec<(std::time::SystemTime, PathBuf)> = Vec::new();
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(".tmp-") {
                let old = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|a| a.as_secs() > 3600);
                if old {
                    let _ = std::fs::remove_dir_all(&p);
                }
                continue;
            }
            let used = std::fs::metadata(p.join("meta.json"))
                .and_then(|m| m.modified())
                .unwrap_or(std::time::UNIX_EPOCH);
            found.push((used, p));
        }
        found.sort_by_key(|f| std::cmp::Reverse(f.0));
        for (_, p) in found.into_iter().skip(KEEP) {
            let _ = std::fs::remove_dir_all(p);
        }
    }
}

/// Copies a directory tree (files, subdirectories, symlinks) keeping permission bits; with
/// `owner`, every copy is chowned to it (servers run as an unprivileged user under root).
pub fn copy_tree(src: &Path, dst: &Path, owner: Option<&ServiceUser>) -> io::Result<()> {
    std::fs::create_dir_all(dst)?;
    let meta = std::fs::metadata(src)?;
    std::fs::set_permissions(dst, std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    if let Some(u) = owner {
        std::os::unix::fs::chown(dst, Some(u.uid), Some(u.gid))?;
    }
    for entry in std::fs::read_dir(src)? {
        let entry = entry?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let ft = entry.file_type()?;
        if ft.is_dir() {
            copy_tree(&from, &to, owner)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&from)?, &to)?;
            if let Some(u) = owner {
                std::os::unix::fs::lchown(&to, Some(u.uid), Some(u.gid))?;
            }
        } else if ft.is_file() {
            std::fs::copy(&from, &to)?;
            if let Some(u) = owner {
                std::os::unix::fs::chown(&to, Some(u.uid), Some(u.gid))?;
            }
        }
        // sockets and fifos (a server's socket) are not copied
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_lookup_and_evict() {
        let cache = tempfile::tempdir().unwrap();
        let src = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(src.path().join("base/1")).unwrap();
        std::fs::write(src.path().join("base/1/f"), b"x").unwrap();
        std::fs::set_permissions(src.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let store = TemplateStore::new(cache.path());
        assert!(store.lookup("k0").is_none());
        store
            .save("k0", src.path(), &serde_json::json!({}))
            .unwrap();
        let data = store.lookup("k0").expect("saved");
        assert_eq!(std::fs::read(data.join("base/1/f")).unwrap(), b"x");
        assert_eq!(
            std::fs::metadata(&data).unwrap().mode() & 0o777,
            0o700,
            "permissions kept (PostgreSQL insists)"
        );
        for i in 1..=KEEP + 2 {
            store
                .save(&format!("k{i}"), src.path(), &serde_json::json!({}))
                .unwrap();
        }
        let left = std::fs::read_dir(store.root()).unwrap().count();
        assert_eq!(left, KEEP);
        store.discard(&format!("k{}", KEEP + 2));
        assert!(store.lookup(&format!("k{}", KEEP + 2)).is_none());
    }
}
