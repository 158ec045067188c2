//! Deterministic fuzzing of the SQL lexer, the statement splitter and the fallback parser
//! (run by `bench/fuzz.sh`):
//!
//! ```sh
//! cargo run --release --example fuzz_sql -- <lexer|splitter|fallback|all> <count> <seed>
//! ```
//!
//! Each input is either generated from SQL fragments chosen to stress the error-tolerant paths
//! (unclosed quotes and comments, dollar quotes, `DELIMITER`, goose markers, `BEGIN … END`,
//! multi-byte characters) or a mutation of a real migration from `fixtures/`. Every call runs
//! inside `catch_unwind` and checks the invariants of `migsafe::sql::fuzz` (token and statement
//! spans on character boundaries, in order, within the range, …): a broken one is a panic too.
//! Prints `fuzz_sql/<target>: <count> inputs, <panics> panics` per target and exits 1 on any
//! panic, printing the first failing input for each place that panicked.

use migsafe::sql::Dialect;
use migsafe::sql::fuzz::{self, PIECES};
use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Real migrations the mutations start from.
const SEEDS: [&str; 8] = [
    include_str!("../fixtures/catalog/postgres/procedural.sql"),
    include_str!("../fixtures/catalog/postgres/destructive.sql"),
    include_str!("../fixtures/catalog/postgres/maintenance.sql"),
    include_str!("../fixtures/catalog/mysql/online_ddl.sql"),
    include_str!("../fixtures/catalog/mysql/dynamic.sql"),
    include_str!("../fixtures/catalog/sqlite/rebuild.sql"),
    include_str!("../fixtures/demo/20240101090000_create_users.sql"),
    include_str!("../fixtures/demo/20240502110000_reviewed_backfill.sql"),
];

/// splitmix64: small, fast and the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

/// A character boundary of `s` at or before `i`.
fn floor(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn random_char(rng: &mut Rng) -> char {
    match rng.below(4) {
        0 => (b' ' + rng.below(95) as u8) as char,
        1 => char::from_u32(rng.below(0x80) as u32).unwrap_or('?'),
        _ => char::from_u32(rng.below(0x11_0000) as u32).unwrap_or('\u{fffd}'),
    }
}

/// Fragments and random characters glued together.
fn generated(rng: &mut Rng) -> String {
    let mut s = String::new();
    for _ in 0..rng.below(40) {
        if rng.below(5) == 0 {
            s.push(random_char(rng));
        } else {
            s.push_str(rng.pick(PIECES));
        }
    }
    s
}

/// A window of a real migration, then a few edits at character boundaries.
fn mutated(rng: &mut Rng) -> String {
    let seed = SEEDS[rng.below(SEEDS.len())];
    let a = floor(seed, rng.below(seed.len()));
    let b = floor(seed, a + rng.below(600));
    let mut s = seed[a..b].to_string();
    for _ in 0..1 + rng.below(6) {
        let at = floor(&s, rng.below(s.len() + 1));
        match rng.below(6) {
            0 | 1 => s.insert_str(at, rng.pick(PIECES)),
            2 => s.insert(at, random_char(rng)),
            3 => {
                let to = floor(&s, at + rng.below(20));
                s.replace_range(at..to, "");
            }
            4 => {
                let to = floor(&s, at + rng.below(40));
                let copy = s[at..to].to_string();
                s.insert_str(to, &copy);
            }
            _ => {
                let other = SEEDS[rng.below(SEEDS.len())];
                let from = floor(other, rng.below(other.len()));
                let to = floor(other, from + rng.below(80));
                s.insert_str(at, &other[from..to]);
            }
        }
    }
    s
}

/// Mostly the whole input; sometimes a part of it, as for a goose `Up` section.
fn range(rng: &mut Rng, s: &str) -> Range<usize> {
    if rng.below(4) != 0 {
        return 0..s.len();
    }
    let a = floor(s, rng.below(s.len() + 1));
    let b = floor(s, a + rng.below(s.len() - a + 1));
    a..b
}

/// Where the last panic happened (file:line) and its message.
static LAST_PANIC: std::sync::Mutex<(String, String)> =
    std::sync::Mutex::new((String::new(), String::new()));

type Target = fn(&str, Range<usize>, Dialect);

const TARGETS: [(&str, Target); 3] = [
    ("lexer", fuzz::lexer),
    ("splitter", fuzz::splitter),
    ("fallback", fuzz::fallback),
];

/// Runs one target on `count` inputs; returns the number of panics. The first input that panics
/// at each distinct place is printed.
fn run(name: &str, target: Target, count: u64, seed: u64) -> u64 {
    let mut rng = Rng(seed);
    let mut panics = 0;
    let mut places = std::collections::BTreeSet::new();
    for _ in 0..count {
        let src = if rng.below(2) == 0 {
            generated(&mut rng)
        } else {
            mutated(&mut rng)
        };
        let r = range(&mut rng, &src);
        let dialect = Dialect::ALL[rng.below(3)];
        if catch_unwind(AssertUnwindSafe(|| target(&src, r.clone(), dialect))).is_err() {
            panics += 1;
            let (place, msg) = LAST_PANIC.lock().map(|m| m.clone()).unwrap_or_default();
            if places.insert(place) {
                eprintln!("fuzz_sql/{name}: panic ({msg}) on {dialect:?} {r:?} of {src:?}");
            }
        }
    }
    panics
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: fuzz_sql <lexer|splitter|fallback|all> <count> <seed>";
    let [which, count, seed] = args.as_slice() else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let (Ok(count), Ok(seed)) = (count.parse::<u64>(), seed.parse::<u64>()) else {
        eprintln!("{usage} (count and seed are whole numbers)");
        std::process::exit(2);
    };
    let chosen: Vec<&(&str, Target)> = TARGETS
        .iter()
        .filter(|(n, _)| which == "all" || which == n)
        .collect();
    if chosen.is_empty() {
        eprintln!("{usage}");
        std::process::exit(2);
    }
    // each place that panics is printed once with its input; the default hook would print every
    // panic without it
    std::panic::set_hook(Box::new(|info| {
        if let Ok(mut m) = LAST_PANIC.lock() {
            let place = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            *m = (place, info.to_string());
        }
    }));
    let mut failed = false;
    for (name, target) in chosen {
        let panics = run(name, *target, count, seed);
        println!("fuzz_sql/{name}: {count} inputs, {panics} panics");
        failed |= panics > 0;
    }
    std::process::exit(i32::from(failed));
}
