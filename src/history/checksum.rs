//! The checksums and lock keys each migration tool computes, written from the tools' sources so
//! that what migsafe records and compares is byte for byte what the tool records and compares.
//!
//! | tool | checksum | source |
//! |---|---|---|
//! | sqlx | SHA-384 of the file as read (`fs::read_to_string`: BOM and line endings kept), stored as bytes | `sqlx-core/src/migrate/migration.rs` `checksum`, `source.rs` |
//! | Flyway | CRC-32 (ISO-HDLC, `java.util.zip.CRC32`) over the UTF-8 bytes of each line as `BufferedReader.readLine` returns it (no terminator), a BOM removed from the first line, stored as a signed 32-bit int | `flyway-core/.../resolver/ChecksumCalculator.java` |
//! | Prisma | SHA-256 of `migration.sql`, lower-case hex; a script also matches when only its line endings differ, and 2021 tables may hold the hex without zero padding | `schema-engine/connectors/schema-connector/src/checksum.rs` |
//! | Drizzle | SHA-256 of the file, lower-case hex | `drizzle-orm/src/migrator.ts` `readMigrationFiles` |
//! | golang-migrate, dbmate, goose, Diesel | none: a version present in the table is applied | |

use sha2::{Digest, Sha256, Sha384};

pub use crate::sys::hex::hex;

/// sqlx: SHA-384 of the migration file's text exactly as read.
pub fn sqlx(raw: &[u8]) -> Vec<u8> {
    Sha384::digest(raw).to_vec()
}

/// Prisma and Drizzle: SHA-256 of the file, lower-case hex.
pub fn sha256_hex(raw: &[u8]) -> String {
    hex(&Sha256::digest(raw))
}

/// Prisma's comparison: the script matches the recorded checksum as is, with CRLF turned into
/// LF, or with LF turned into CRLF (git may have changed them), in the zero-padded format or the
/// unpadded one an old schema engine wrote.
pub fn prisma_matches(raw: &[u8], recorded: &str) -> bool {
    let text = String::from_utf8_lossy(raw);
    let variants = [
        text.to_string(),
        text.replace("\r\n", "\n"),
        text.replace('\n', "\r\n"),
    ];
    variants.iter().any(|v| {
        let d = Sha256::digest(v.as_bytes());
        let padded = hex(&d);
        if !recorded.is_empty() && recorded.len() != 64 {
            let unpadded: String = d.iter().map(|b| format!("{b:x}")).collect();
            unpadded == recorded
        } else {
            padded == recorded
        }
    })
}

const fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

static CRC_TABLE: [u32; 256] = crc_table();

/// A running CRC-32 (ISO-HDLC / IEEE 802.3: `java.util.zip.CRC32`, Go's `crc32.ChecksumIEEE`,
/// the `crc` crate's `CRC_32_ISO_HDLC`).
#[derive(Debug, Clone, Copy)]
pub struct Crc32(u32);

impl Default for Crc32 {
    fn default() -> Self {
        Crc32(0xFFFF_FFFF)
    }
}

impl Crc32 {
    pub fn update(&mut self, bytes: &[u8]) {
        let mut c = self.0;
        for b in bytes {
            c = CRC_TABLE[((c ^ u32::from(*b)) & 0xFF) as usize] ^ (c >> 8);
        }
        self.0 = c;
    }

    pub fn value(self) -> u32 {
        self.0 ^ 0xFFFF_FFFF
    }
}

/// CRC-32 of `bytes` in one go.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut c = Crc32::default();
    c.update(bytes);
    c.value()
}

/// Flyway's checksum of a SQL migration: `BufferedReader.readLine` splits on `\n`, `\r` and
/// `\r\n` and drops the terminators, so the CRC runs over the text without any of them (an empty
/// line adds nothing); the first line loses a leading BOM. The file is read as UTF-8 (Flyway's
/// default encoding); bytes that are not UTF-8 are replaced as Java's decoder replaces them.
pub fn flyway(raw: &[u8]) -> i32 {
    let text = String::from_utf8_lossy(raw);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut c = Crc32::default();
    for line in text.split(['\n', '\r']) {
        c.update(line.as_bytes());
    }
    c.value() as i32
}

/// Java's `String.hashCode()` (UTF-16 code units, wrapping arithmetic).
pub fn java_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, u| h.wrapping_mul(31).wrapping_add(i32::from(u)))
}

/// Flyway's PostgreSQL advisory lock: `"Flyway"` as a 48-bit number plus the hash code of the
/// quoted table name (`PostgreSQLAdvisoryLockTemplate`, `PostgreSQLConnection.lock`).
pub fn flyway_pg_lock(quoted_table: &str) -> i64 {
    const MAGIC: i64 =
        (0x46 << 40) + (0x6C << 32) + (0x79 << 24) + (0x77 << 16) + (0x61 << 8) + 0x79;
    MAGIC + i64::from(java_hash(quoted_table))
}

/// sqlx's lock id (`generate_lock_id` in `sqlx-postgres/src/migrate.rs`, after Rails):
/// `0x3d32ad9e * crc32(database name)` as i64. MySQL uses its lower-case hex as the lock name.
pub fn sqlx_lock_id(database: &str) -> i64 {
    0x3d32_ad9e_i64.wrapping_mul(i64::from(crc32(database.as_bytes())))
}

/// golang-migrate's `GenerateAdvisoryLockId`: the names joined with NUL (the extra names first,
/// the database last), CRC-32, times 1486364155 in 32-bit arithmetic, as decimal text.
pub fn golang_migrate_lock_id(database: &str, additional: &[&str]) -> String {
    let joined = if additional.is_empty() {
        database.to_string()
    } else {
        let mut parts: Vec<&str> = additional.to_vec();
        parts.push(database);
        parts.join("\0")
    };
    crc32(joined.as_bytes())
        .wrapping_mul(1_486_364_155)
        .to_string()
}

/// A random UUID v4 (Prisma's `_prisma_migrations.id`), from the kernel's random source.
pub fn uuid_v4() -> String {
    let mut b = [0u8; 16];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut b);
    }
    if b == [0u8; 16] {
        // no /dev/urandom: time and pid still make it unique enough for one insert
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        b.copy_from_slice(&(t ^ (u128::from(std::process::id()) << 64)).to_le_bytes());
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_check_value() {
        // the CRC-32/ISO-HDLC check value (the catalogue of parametrised CRC algorithms)
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn sqlx_is_sha384_of_the_raw_text() {
        // FIPS 180-2 appendix D.1: SHA-384("abc")
        assert_eq!(
            hex(&sqlx(b"abc")),
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7"
        );
        // a BOM and CRLF change sqlx's checksum: it hashes the text exactly as read
        assert_ne!(sqlx(b"a\r\n"), sqlx(b"a\n"));
    }

    #[test]
    fn prisma_test_vectors() {
        // prisma-engines checksum.rs `format_checksum_does_not_strip_zeros`
        assert_eq!(
            sha256_hex(b"hello"),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        // `script_matches_checksum_is_line_ending_agnostic` and `..._negative`
        let scripts = [
            ["ab\ncd\nef\ngh\rab", "ab\r\ncd\r\nef\r\ngh\rab"],
            ["ab\ncd\nef\ngh\rab\n", "ab\r\ncd\r\nef\r\ngh\rab\r\n"],
        ];
        for pair in scripts {
            for a in pair {
                for b in pair {
                    assert!(prisma_matches(a.as_bytes(), &sha256_hex(b.as_bytes())));
                }
            }
        }
        assert!(!prisma_matches(b"abc", &sha256_hex(b"abcd")));
        assert!(!prisma_matches(b"abc\n", &sha256_hex(b"abc")));
        // the unpadded hex of prisma-engines issue 1887
        let d = Sha256::digest(b"hello");
        let unpadded: String = d.iter().map(|b| format!("{b:x}")).collect();
        assert!(unpadded.len() < 64 && prisma_matches(b"hello", &unpadded));
    }

    #[test]
    fn flyway_ignores_line_endings_and_bom() {
        // Flyway's own test (SqlMigrationResolverSmallTest.calculateChecksum, 2018): LF and CRLF
        // versions of one script have one checksum
        assert_eq!(
            flyway(b"abc\ndef efg\nxyz"),
            flyway(b"abc\r\ndef efg\nxyz\r\n")
        );
        assert_eq!(flyway("\u{feff}abc\ndef".as_bytes()), flyway(b"abc\rdef"));
        assert_eq!(flyway(b"abc\ndef"), crc32(b"abcdef") as i32);
        assert_ne!(flyway(b"abc def"), flyway(b"abcdef"));
    }

    #[test]
    fn lock_keys() {
        assert_eq!(java_hash("hello"), 99_162_322);
        assert_eq!(java_hash(""), 0);
        // goose's DefaultLockID comment: crc32.Checksum([]byte("goose"), IEEE) = 4097083626
        assert_eq!(crc32(b"goose"), 4_097_083_626);
        assert_eq!(
            sqlx_lock_id("app"),
            0x3d32_ad9e_i64 * i64::from(crc32(b"app"))
        );
        let g = golang_migrate_lock_id("app", &["public", "schema_migrations"]);
        assert_eq!(
            g,
            crc32(b"public\0schema_migrations\0app")
                .wrapping_mul(1_486_364_155)
                .to_string()
        );
        let u = uuid_v4();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_ne!(u, uuid_v4());
    }
}
