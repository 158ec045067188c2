//! What the engines report after each statement, in engine-neutral form: the locks the
//! migration's own session holds, and the state of every relation that existed before the file
//! (storage identity for rewrites, a digest of its columns for drops and type changes). Also the
//! PostgreSQL lock-mode table: what each mode blocks.

use super::model::LockTaken;
pub use crate::engines::observe::{Probe, RawError, RelState};

/// PostgreSQL's lock mode names (`AccessExclusiveLock`) in SQL spelling, with what they block
/// (from the table-level lock conflict table of the PostgreSQL manual, "Explicit Locking").
pub fn pg_lock(mode: &str, object: &str, object_kind: &str) -> LockTaken {
    let (name, reads, writes, blocks) = match mode {
        "AccessShareLock" => (
            "ACCESS SHARE",
            false,
            false,
            "only ACCESS EXCLUSIVE (DROP, most ALTER TABLE, VACUUM FULL)",
        ),
        "RowShareLock" => ("ROW SHARE", false, false, "EXCLUSIVE and ACCESS EXCLUSIVE"),
        "RowExclusiveLock" => (
            "ROW EXCLUSIVE",
            false,
            false,
            "SHARE and stronger: CREATE INDEX (non-concurrent) and most DDL",
        ),
        "ShareUpdateExclusiveLock" => (
            "SHARE UPDATE EXCLUSIVE",
            false,
            false,
            "other schema changes, VACUUM, ANALYZE, CREATE INDEX CONCURRENTLY; not reads or writes",
        ),
        "ShareLock" => (
            "SHARE",
            false,
            true,
            "writes (INSERT, UPDATE, DELETE) and DDL; reads continue",
        ),
        "ShareRowExclusiveLock" => (
            "SHARE ROW EXCLUSIVE",
            false,
            true,
            "writes (INSERT, UPDATE, DELETE) and DDL; reads continue",
        ),
        "ExclusiveLock" => (
            "EXCLUSIVE",
            false,
            true,
            "writes and SELECT … FOR UPDATE/SHARE; plain reads continue",
        ),
        "AccessExclusiveLock" => (
            "ACCESS EXCLUSIVE",
            true,
            true,
            "everything, including SELECT",
        ),
        other => (other, false, false, "unknown lock mode"),
    };
    LockTaken {
        mode: name.to_string(),
        object: object.to_string(),
        object_kind: object_kind.to_string(),
        blocks_reads: reads,
        blocks_writes: writes,
        blocks: blocks.to_string(),
    }
}

/// Strength order of PostgreSQL lock modes (for "the strongest lock").
pub fn pg_lock_rank(mode: &str) -> u8 {
    match mode {
        "ACCESS SHARE" => 1,
        "ROW SHARE" => 2,
        "ROW EXCLUSIVE" => 3,
        "SHARE UPDATE EXCLUSIVE" => 4,
        "SHARE" => 5,
        "SHARE ROW EXCLUSIVE" => 6,
        "EXCLUSIVE" => 7,
        "ACCESS EXCLUSIVE" => 8,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_modes_say_what_they_block() {
        let l = pg_lock("AccessExclusiveLock", "public.users", "table");
        assert_eq!(
            (l.mode.as_str(), l.blocks_reads, l.blocks_writes),
            ("ACCESS EXCLUSIVE", true, true)
        );
        let l = pg_lock("ShareLock", "public.users", "table");
        assert_eq!((l.blocks_reads, l.blocks_writes), (false, true));
        let l = pg_lock("ShareUpdateExclusiveLock", "public.users", "table");
        assert!(!l.blocks_reads && !l.blocks_writes);
        assert!(pg_lock_rank("ACCESS EXCLUSIVE") > pg_lock_rank("SHARE"));
    }
}
