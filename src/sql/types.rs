//! Column types and default expressions reduced to what the rules compare: canonical type
//! names, type-change safety, and how volatile a default is.

use super::Dialect;
use super::ir::{TypeName, Volatility};

/// Maps a type as written (`CHARACTER VARYING(20)`, `int4`, `ENUM('a','b')`, `timestamp with
/// time zone`) to a [`TypeName`] with one canonical spelling.
pub fn type_name(raw: &str) -> TypeName {
    let raw_trim = raw.trim();
    let lower = raw_trim.to_ascii_lowercase();
    let array = lower.ends_with("[]") || lower.contains(" array");
    let base_end = lower.find('(').unwrap_or(lower.len());
    let mut base: String = lower[..base_end]
        .trim()
        .trim_end_matches("[]")
        .trim()
        .to_string();
    // keep suffix words after the parenthesis (e.g. "timestamp(3) with time zone")
    let after = lower
        .rfind(')')
        .map(|i| lower[i + 1..].trim().to_string())
        .unwrap_or_default();
    if !after.is_empty() && !after.starts_with('[') {
        base = format!("{base} {after}");
    }
    let base = base.split_whitespace().collect::<Vec<_>>().join(" ");
    let inner = match (lower.find('('), lower.rfind(')')) {
        (Some(a), Some(b)) if b > a => &raw_trim[a + 1..b],
        _ => "",
    };
    let mut args = Vec::new();
    let mut values = Vec::new();
    if base == "enum" || base == "set" {
        values = split_quoted_list(inner);
    } else {
        for part in inner.split(',') {
            if let Ok(n) = part.trim().parse::<u64>() {
                args.push(n);
            }
        }
    }
    let unsigned = base.contains("unsigned");
    let base = base.replace(" unsigned", "").replace(" zerofill", "");
    let (name, serial) = match base.as_str() {
        "int" | "integer" | "int4" | "mediumint" => ("integer", false),
        "smallint" | "int2" => ("smallint", false),
        "tinyint" => ("tinyint", false),
        "bigint" | "int8" => ("bigint", false),
        "serial" | "serial4" => ("integer", true),
        "bigserial" | "serial8" => ("bigint", true),
        "smallserial" | "serial2" => ("smallint", true),
        "varchar" | "character varying" | "nvarchar" | "varchar2" | "char varying" => {
            ("varchar", false)
        }
        "char" | "character" | "bpchar" | "nchar" => ("char", false),
        "text" | "tinytext" | "mediumtext" | "longtext" | "clob" | "string" => ("text", false),
        "citext" => ("citext", false),
        "numeric" | "decimal" | "dec" => ("numeric", false),
        "real" | "float4" => ("real", false),
        "double precision" | "float8" | "double" | "float" => ("double", false),
        "bool" | "boolean" => ("boolean", false),
        "timestamp" | "timestamp without time zone" | "datetime" => ("timestamp", false),
        "timestamptz" | "timestamp with time zone" => ("timestamptz", false),
        "time" | "time without time zone" => ("time", false),
        "timetz" | "time with time zone" => ("timetz", false),
        "date" => ("date", false),
        "json" => ("json", false),
        "jsonb" => ("jsonb", false),
        "uuid" => ("uuid", false),
        "bytea" | "blob" | "tinyblob" | "mediumblob" | "longblob" | "binary" | "varbinary" => {
            ("bytes", false)
        }
        "enum" => ("enum", false),
        "set" => ("set", false),
        other => {
            return TypeName {
                name: other.to_string(),
                args,
                values,
                serial: false,
                array,
                raw: raw_trim.to_string(),
            };
        }
    };
    let name = if unsigned {
        format!("{name} unsigned")
    } else {
        name.to_string()
    };
    TypeName {
        name,
        args,
        values,
        serial,
        array,
        raw: raw_trim.to_string(),
    }
}

fn split_quoted_list(inner: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_q = false;
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' if in_q && chars.peek() == Some(&'\'') => {
                cur.push('\'');
                chars.next();
            }
            '\'' => {
                if in_q {
                    out.push(std::mem::take(&mut cur));
                }
                in_q = !in_q;
            }
            _ if in_q => cur.push(c),
            _ => {}
        }
    }
    out
}

/// Integer width rank for widening/narrowing comparisons.
fn int_rank(name: &str) -> Option<u8> {
    match name.trim_end_matches(" unsigned") {
        "tinyint" => Some(1),
        "smallint" => Some(2),
        "integer" => Some(3),
        "bigint" => Some(4),
        _ => None,
    }
}

fn is_stringy(name: &str) -> bool {
    matches!(name, "varchar" | "text" | "char" | "citext")
}

/// How a conversion that cannot keep every value behaves on the values that do not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    /// The migration fails on the first value that does not fit (PostgreSQL assignment casts
    /// of too-long strings or out-of-range integers): nothing is lost, but it can fail.
    Rejects,
    /// Values are silently rounded or cut (numeric scale, timestamp precision, float → int,
    /// timestamp → date, explicit casts to varchar(n)): data is lost.
    Truncates,
    /// MySQL/MariaDB: rejected in strict SQL mode, silently truncated or clamped without it.
    StrictRejects,
}

/// What changing a column from `old` to `new` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeChange {
    /// Binary-coercible or metadata-only: no rewrite, no data loss.
    MetadataOnly,
    /// The table (and its indexes) are rewritten under an exclusive lock; no data is lost.
    Rewrite,
    /// Some values do not fit the new type: `loss` says what happens to them.
    Lossy { reason: String, loss: Loss },
}

fn lossy(reason: String, loss: Loss) -> TypeChange {
    TypeChange::Lossy { reason, loss }
}

/// A value too long or out of range: PostgreSQL's assignment cast rejects it, MySQL rejects it
/// only in strict mode.
fn rejects(dialect: Dialect) -> Loss {
    if dialect == Dialect::Mysql {
        Loss::StrictRejects
    } else {
        Loss::Rejects
    }
}

/// Temporal types with a fractional-seconds precision argument.
fn is_temporal(name: &str) -> bool {
    matches!(name, "timestamp" | "timestamptz" | "time" | "timetz")
}

/// Compares two column types (`USING` and casts are judged by the caller).
pub fn type_change(old: &TypeName, new: &TypeName, dialect: Dialect) -> TypeChange {
    let (o, n) = (old.name.as_str(), new.name.as_str());
    if old.array != new.array {
        return lossy(
            format!("{} → {} changes array-ness", old.raw, new.raw),
            Loss::Rejects,
        );
    }
    if o == n {
        // MySQL TINYTEXT/TEXT/MEDIUMTEXT/LONGTEXT (and the BLOB sizes) share a canonical name
        // but store different length prefixes: changing between them copies the table, and a
        // smaller one cannot hold long values
        if dialect == Dialect::Mysql
            && let (Some(a), Some(b)) = (lob_size(&old.raw), lob_size(&new.raw))
            && a != b
        {
            return if b < a {
                lossy(
                    format!(
                        "{} → {} shortens the maximum length: longer values are cut",
                        old.raw, new.raw
                    ),
                    Loss::StrictRejects,
                )
            } else {
                TypeChange::Rewrite
            };
        }
        let olen = old.args.first().copied();
        let nlen = new.args.first().copied();
        return match o {
            "varchar" | "char" | "bytes" => match (olen, nlen) {
                (Some(a), Some(b)) if b < a => lossy(
                    format!(
                        "{} → {} shortens the column: longer values do not fit",
                        old.raw, new.raw
                    ),
                    rejects(dialect),
                ),
                (None, Some(_)) => lossy(
                    format!(
                        "{} → {} adds a length limit: longer values do not fit",
                        old.raw, new.raw
                    ),
                    rejects(dialect),
                ),
                (Some(a), Some(b)) if b > a => {
                    if dialect == Dialect::Mysql && a <= 255 && b > 255 {
                        // the length prefix grows from 1 to 2 bytes: MySQL copies the table
                        TypeChange::Rewrite
                    } else if o == "char" && dialect == Dialect::Postgres {
                        TypeChange::Rewrite
                    } else {
                        TypeChange::MetadataOnly
                    }
                }
                _ => TypeChange::MetadataOnly,
            },
            "numeric" => {
                let (op, os) = (
                    old.args.first().copied(),
                    old.args.get(1).copied().unwrap_or(0),
                );
                let (np, ns) = (
                    new.args.first().copied(),
                    new.args.get(1).copied().unwrap_or(0),
                );
                match (op, np) {
                    (_, None) => TypeChange::MetadataOnly,
                    (None, Some(_)) => lossy(
                        format!(
                            "{} → {} limits precision and scale: extra decimals are rounded away, too large values do not fit",
                            old.raw, new.raw
                        ),
                        Loss::Truncates,
                    ),
                    (Some(_), Some(_)) if ns < os => lossy(
                        format!(
                            "{} → {} reduces the scale: decimals beyond {ns} are rounded away",
                            old.raw, new.raw
                        ),
                        Loss::Truncates,
                    ),
                    (Some(a), Some(b)) if b - ns < a - os => lossy(
                        format!(
                            "{} → {} allows fewer integer digits: larger values do not fit",
                            old.raw, new.raw
                        ),
                        rejects(dialect),
                    ),
                    (Some(_), Some(_)) if ns == os => TypeChange::MetadataOnly,
                    _ => TypeChange::Rewrite,
                }
            }
            "enum" | "set" => {
                let removed: Vec<&String> = old
                    .values
                    .iter()
                    .filter(|v| !new.values.contains(v))
                    .collect();
                if !removed.is_empty() {
                    let list = removed
                        .iter()
                        .map(|v| format!("'{v}'"))
                        .collect::<Vec<_>>()
                        .join(", ");
                    lossy(
                        format!("removes {o} value(s) {list}: rows holding them become '' or fail"),
                        Loss::StrictRejects,
                    )
                } else if new.values.len() >= old.values.len()
                    && new.values[..old.values.len()] == old.values[..]
                {
                    // appended at the end: metadata-only unless the storage size grows
                    let grows = (o == "enum" && old.values.len() <= 255 && new.values.len() > 255)
                        || (o == "set"
                            && set_bytes(old.values.len()) != set_bytes(new.values.len()));
                    if grows {
                        TypeChange::Rewrite
                    } else {
                        TypeChange::MetadataOnly
                    }
                } else {
                    TypeChange::Rewrite
                }
            }
            // fractional seconds: timestamp(6) → timestamp(3) rounds
            _ if is_temporal(o) => {
                let full = if dialect == Dialect::Mysql { 0 } else { 6 };
                let (a, b) = (olen.unwrap_or(full), nlen.unwrap_or(full));
                if b < a {
                    lossy(
                        format!(
                            "{} → {} reduces the fractional-second precision: values are rounded",
                            old.raw, new.raw
                        ),
                        Loss::Truncates,
                    )
                } else if a == b {
                    TypeChange::MetadataOnly
                } else {
                    TypeChange::Rewrite
                }
            }
            // MySQL integer "display widths" (int(11) vs int) change nothing stored
            _ if int_rank(o).is_some() => TypeChange::MetadataOnly,
            _ if old.args != new.args => TypeChange::Rewrite,
            _ => TypeChange::MetadataOnly,
        };
    }
    // different type names
    if let (Some(a), Some(b)) = (int_rank(o), int_rank(n)) {
        return if b < a {
            lossy(
                format!(
                    "{} → {} narrows the integer range: larger values do not fit",
                    old.raw, new.raw
                ),
                rejects(dialect),
            )
        } else {
            TypeChange::Rewrite
        };
    }
    match (o, n) {
        ("varchar", "text") | ("text", "varchar") if new.args.is_empty() => {
            TypeChange::MetadataOnly
        }
        ("citext", "text") | ("text", "citext") | ("varchar", "citext") => TypeChange::MetadataOnly,
        ("text" | "citext", "varchar") | ("varchar" | "text", "char") => lossy(
            format!(
                "{} → {} adds a length limit: longer values do not fit",
                old.raw, new.raw
            ),
            rejects(dialect),
        ),
        ("char", "varchar" | "text") => TypeChange::Rewrite,
        ("cidr", "inet") => TypeChange::MetadataOnly,
        ("json", "jsonb") => TypeChange::Rewrite,
        ("jsonb", "json") => TypeChange::Rewrite,
        ("timestamp", "timestamptz") | ("timestamptz", "timestamp") => TypeChange::Rewrite,
        ("timestamp" | "timestamptz", "date") => lossy(
            format!("{} → {} drops the time of day", old.raw, new.raw),
            Loss::Truncates,
        ),
        ("double" | "real" | "numeric", _) if int_rank(n).is_some() => lossy(
            format!(
                "{} → {} rounds away the fractional digits",
                old.raw, new.raw
            ),
            Loss::Truncates,
        ),
        ("double", "real") => lossy(
            format!("{} → {} keeps fewer significant digits", old.raw, new.raw),
            Loss::Truncates,
        ),
        (_, "text" | "citext") => TypeChange::Rewrite,
        (_, "varchar") if new.args.is_empty() => TypeChange::Rewrite,
        (s, _) if is_stringy(s) => lossy(
            format!(
                "{} → {} converts text: values that do not read as {} make the migration fail{}",
                old.raw,
                new.raw,
                new.raw,
                if dialect == Dialect::Mysql {
                    " in strict mode and become 0 or empty without it"
                } else {
                    ""
                }
            ),
            rejects(dialect),
        ),
        (_, "boolean") => lossy(
            format!(
                "{} → {} collapses the values to true/false",
                old.raw, new.raw
            ),
            Loss::Truncates,
        ),
        _ => TypeChange::Rewrite,
    }
}

/// MySQL TEXT/BLOB size class (1 tiny … 4 long), from the type as written.
fn lob_size(raw: &str) -> Option<u8> {
    let w = raw
        .trim()
        .split(|c: char| c.is_whitespace() || c == '(')
        .next()?
        .to_ascii_lowercase();
    match w.as_str() {
        "tinytext" | "tinyblob" => Some(1),
        "text" | "blob" => Some(2),
        "mediumtext" | "mediumblob" => Some(3),
        "longtext" | "longblob" => Some(4),
        _ => None,
    }
}

fn set_bytes(n: usize) -> usize {
    n.div_ceil(8).clamp(1, 8)
}

/// What changing to `new` can do to values when the old type is unknown, read pessimistically
/// among the types of the same family (a column becoming `integer` was most likely a `bigint`,
/// one becoming `numeric(10,2)` may have had more decimals): `None` when no value can be lost.
pub fn unknown_old_loss(new: &TypeName, dialect: Dialect) -> Option<Loss> {
    let n = new.name.as_str();
    if !may_narrow(new) {
        return None;
    }
    Some(match n {
        "numeric" | "real" | "date" => Loss::Truncates,
        // PostgreSQL's timestamp without a precision keeps every fraction: nothing to round
        _ if is_temporal(n) && new.args.is_empty() && dialect == Dialect::Postgres => return None,
        _ if is_temporal(n) => Loss::Truncates,
        "boolean" => Loss::Rejects,
        _ => rejects(dialect),
    })
}

/// Whether changing to `new` can lose data whatever the old type was (used when migsafe has not
/// seen the column's definition): anything with a length or range limit can.
pub fn may_narrow(new: &TypeName) -> bool {
    let n = new.name.as_str();
    !(matches!(
        n,
        "text" | "citext" | "bigint" | "double" | "jsonb" | "json" | "bytes"
    ) || (n == "varchar" && new.args.is_empty())
        || (n == "numeric" && new.args.is_empty()))
}

const VOLATILE: &[&str] = &[
    "random",
    "gen_random_uuid",
    "uuid_generate_v1",
    "uuid_generate_v1mc",
    "uuid_generate_v4",
    "uuidv4",
    "uuidv7",
    "uuid_generate_v7",
    "clock_timestamp",
    "timeofday",
    "nextval",
    "setseed",
    "txid_current",
    "gen_random_bytes",
    "uuid",
    "uuid_short",
    "rand",
    "sysdate",
    "random_uuid",
    "randomblob",
];

const STABLE: &[&str] = &[
    "now",
    "current_timestamp",
    "current_date",
    "current_time",
    "localtimestamp",
    "localtime",
    "transaction_timestamp",
    "statement_timestamp",
    "current_user",
    "session_user",
    "user",
    "current_schema",
    "current_setting",
    "utc_timestamp",
    "curdate",
    "curtime",
    "datetime",
    "date",
    "strftime",
    "julianday",
    "unixepoch",
];

/// Functions that are immutable and harmless in defaults.
const IMMUTABLE: &[&str] = &[
    "lower",
    "upper",
    "coalesce",
    "nullif",
    "concat",
    "to_jsonb",
    "to_json",
    "jsonb_build_object",
    "json_build_object",
    "jsonb_build_array",
    "json_build_array",
    "array",
    "make_interval",
    "interval",
    "greatest",
    "least",
    "length",
    "md5",
    "abs",
    "round",
    "cast",
    "convert",
    "replace",
    "trim",
    "ltrim",
    "rtrim",
    "substring",
    "substr",
    "char",
    "chr",
    "ascii",
    "json_object",
    "json_array",
    "point",
    "int4range",
    "tstzrange",
    "daterange",
];

/// How volatile a default expression is, from the functions it calls.
pub fn default_volatility(text: &str) -> Volatility {
    let lower = text.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let mut worst = Volatility::Constant;
    let rank = |v: Volatility| match v {
        Volatility::Constant => 0,
        Volatility::Stable => 1,
        Volatility::Unknown => 2,
        Volatility::Volatile => 3,
    };
    let mut i = 0;
    let mut in_str = false;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'\'' {
            in_str = !in_str;
            i += 1;
            continue;
        }
        if in_str || !(c.is_ascii_alphabetic() || c == b'_') {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len()
            && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'.')
        {
            i += 1;
        }
        let word = &lower[start..i];
        let word = word.rsplit('.').next().unwrap_or(word);
        let mut j = i;
        while j < bytes.len() && bytes[j] == b' ' {
            j += 1;
        }
        let call = j < bytes.len() && bytes[j] == b'(';
        // bytes, not a str slice: the character before the word may be several bytes long
        let after_cast = bytes[..start].ends_with(b"::");
        let v = if after_cast {
            Volatility::Constant
        } else if VOLATILE.contains(&word) && (call || word == "uuid") {
            Volatility::Volatile
        } else if STABLE.contains(&word) {
            Volatility::Stable
        } else if call && !IMMUTABLE.contains(&word) {
            Volatility::Unknown
        } else {
            Volatility::Constant
        };
        if rank(v) > rank(worst) {
            worst = v;
        }
    }
    worst
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_names() {
        assert_eq!(type_name("CHARACTER VARYING(20)").name, "varchar");
        assert_eq!(type_name("CHARACTER VARYING(20)").args, vec![20]);
        assert_eq!(type_name("int4").name, "integer");
        assert!(type_name("bigserial").serial);
        assert_eq!(type_name("timestamp with time zone").name, "timestamptz");
        assert_eq!(type_name("TIMESTAMP(3) WITH TIME ZONE").name, "timestamptz");
        assert_eq!(type_name("ENUM('a','b''c')").values, vec!["a", "b'c"]);
        assert!(type_name("text[]").array);
        assert_eq!(type_name("numeric(10, 2)").args, vec![10, 2]);
    }

    #[test]
    fn type_changes() {
        let t = |a: &str, b: &str| type_change(&type_name(a), &type_name(b), Dialect::Postgres);
        let loss = |c: TypeChange| match c {
            TypeChange::Lossy { loss, .. } => Some(loss),
            _ => None,
        };
        assert_eq!(t("varchar(10)", "varchar(20)"), TypeChange::MetadataOnly);
        assert_eq!(t("varchar(20)", "text"), TypeChange::MetadataOnly);
        // PostgreSQL assignment casts reject what does not fit
        assert_eq!(loss(t("varchar(20)", "varchar(10)")), Some(Loss::Rejects));
        assert_eq!(loss(t("text", "integer")), Some(Loss::Rejects));
        assert_eq!(loss(t("bigint", "integer")), Some(Loss::Rejects));
        assert_eq!(
            loss(t("numeric(12,2)", "numeric(10,2)")),
            Some(Loss::Rejects)
        );
        // and silently round these
        assert_eq!(
            loss(t("numeric(10,4)", "numeric(10,2)")),
            Some(Loss::Truncates)
        );
        assert_eq!(loss(t("numeric", "numeric(10,2)")), Some(Loss::Truncates));
        assert_eq!(
            loss(t("timestamp(6)", "timestamp(3)")),
            Some(Loss::Truncates)
        );
        assert_eq!(loss(t("timestamptz", "date")), Some(Loss::Truncates));
        assert_eq!(
            loss(t("double precision", "integer")),
            Some(Loss::Truncates)
        );
        assert_eq!(loss(t("double precision", "real")), Some(Loss::Truncates));
        assert_eq!(t("integer", "bigint"), TypeChange::Rewrite);
        assert_eq!(t("timestamp", "timestamptz"), TypeChange::Rewrite);
        assert_eq!(t("timestamp(3)", "timestamp"), TypeChange::Rewrite);
        assert_eq!(
            t("numeric(10,2)", "numeric(12,2)"),
            TypeChange::MetadataOnly
        );
        assert_eq!(
            type_change(
                &type_name("varchar(100)"),
                &type_name("varchar(300)"),
                Dialect::Mysql
            ),
            TypeChange::Rewrite
        );
        // MySQL truncates without strict mode
        let my = |a: &str, b: &str| type_change(&type_name(a), &type_name(b), Dialect::Mysql);
        assert_eq!(
            loss(my("varchar(20)", "varchar(10)")),
            Some(Loss::StrictRejects)
        );
        assert_eq!(
            loss(my("enum('a','b','c')", "enum('a','b')")),
            Some(Loss::StrictRejects)
        );
        assert_eq!(
            t("enum('a','b')", "enum('a','b','c')"),
            TypeChange::MetadataOnly
        );
        assert_eq!(t("enum('a','b')", "enum('c','a','b')"), TypeChange::Rewrite);
        assert_eq!(my("int(11)", "int"), TypeChange::MetadataOnly);
        assert_eq!(my("TEXT", "MEDIUMTEXT"), TypeChange::Rewrite);
        assert_eq!(loss(my("LONGTEXT", "TEXT")), Some(Loss::StrictRejects));
        assert_eq!(my("text", "TEXT"), TypeChange::MetadataOnly);
        // unknown old type: the worst of the same family
        let pg = Dialect::Postgres;
        assert_eq!(unknown_old_loss(&type_name("bigint"), pg), None);
        assert_eq!(
            unknown_old_loss(&type_name("integer"), pg),
            Some(Loss::Rejects)
        );
        assert_eq!(
            unknown_old_loss(&type_name("numeric(10,2)"), pg),
            Some(Loss::Truncates)
        );
        assert_eq!(unknown_old_loss(&type_name("timestamptz"), pg), None);
        assert_eq!(
            unknown_old_loss(&type_name("varchar(10)"), Dialect::Mysql),
            Some(Loss::StrictRejects)
        );
    }

    #[test]
    fn volatility() {
        assert_eq!(default_volatility("0"), Volatility::Constant);
        assert_eq!(default_volatility("'{}'::jsonb"), Volatility::Constant);
        assert_eq!(default_volatility("now()"), Volatility::Stable);
        assert_eq!(default_volatility("CURRENT_TIMESTAMP"), Volatility::Stable);
        assert_eq!(
            default_volatility("gen_random_uuid()"),
            Volatility::Volatile
        );
        assert_eq!(default_volatility("my_func(1)"), Volatility::Unknown);
        assert_eq!(default_volatility("'random()'"), Volatility::Constant);
    }

    /// Found by `examples/fuzz_sql.rs` (fallback target, seed 1): a word right after a
    /// multi-byte character made the `::` look-behind slice inside that character.
    #[test]
    fn volatility_after_a_multi_byte_character_does_not_panic() {
        assert_eq!(
            default_volatility("(\u{3ced1}uuid())"),
            Volatility::Volatile
        );
        assert_eq!(default_volatility("é::text"), Volatility::Constant);
        assert_eq!(default_volatility("'x'::text"), Volatility::Constant);
    }
}
