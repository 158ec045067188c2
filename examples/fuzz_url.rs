//! Fuzzes the URL module (`migsafe::engines::url`): `cargo run --release --example fuzz_url --
//! <count> <seed>` generates <count> inputs from <seed> (database URLs with a known password,
//! written percent-encoded or raw, then mutated byte- and character-wise, plus random strings),
//! parses and redacts each inside `catch_unwind`, and checks that no redaction shows the
//! password. Prints one line, `fuzz_url: <count> inputs, <panics> panics, <leaks> leaks`, and
//! exits 1 when either count is not zero. Deterministic for a seed; no crate beyond migsafe's.

use migsafe::engines::url::{DbUrl, encode, redact};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// xorshift64*: small, fast, and the same sequence for the same seed everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[self.below(v.len())]
    }
}

/// Characters chosen to hit URL syntax, escapes and multi-byte boundaries.
const ALPHABET: &[char] = &[
    'a', 'b', 'Z', '0', '9', ':', '@', '/', '?', '#', '%', '&', '=', ',', '.', '[', ']', '+', ' ',
    '-', '_', '~', '\\', '"', '\'', '*', 'é', 'ß', '€', '😀', '\u{0}', '\u{7f}', '\u{200b}',
];

fn random_text(r: &mut Rng, max: usize) -> String {
    let n = r.below(max + 1);
    (0..n).map(|_| ALPHABET[r.below(ALPHABET.len())]).collect()
}

/// A URL with a password; returns it and the password as it appears in the text.
fn generated_url(r: &mut Rng) -> (String, String) {
    let scheme = r.pick(&["postgres", "postgresql", "mysql", "mariadb", "POSTGRES"]);
    let user = r.pick(&["app", "postgres", "root", "a.b-c_d", "u%40x"]);
    // a password that is all syntax could equal part of the rest of the URL by chance: give it a
    // core no generated host, database or parameter contains, with syntax on either side (a
    // password that starts with `@` or `:` is the hard case for finding where it ends)
    let password = format!("{}Pw7q{}", random_text(r, 6), random_text(r, 14)).replace('\u{0}', "");
    let written = if r.below(2) == 0 {
        encode(&password)
    } else {
        password.clone()
    };
    let host = r.pick(&[
        "db",
        "db.example.com",
        "127.0.0.1",
        "[::1]",
        "",
        "h1:5432,h2:5433",
    ]);
    let port = r.pick(&["", ":5432", ":3306", ":", ":x"]);
    let db = r.pick(&["", "/app", "/my%20db", "/a@b", "/"]);
    let query = r.pick(&[
        "",
        "?sslmode=require",
        "?host=/run/postgresql&password=Pw7qX",
        "?ssl-mode=VERIFY_IDENTITY&ssl-ca=/ca.pem",
        "?application_name=a@b",
        "?x=%a\u{e9}",
    ]);
    (
        format!("{scheme}://{user}:{written}@{host}{port}{db}{query}"),
        written,
    )
}

/// Deletes, duplicates, swaps or inserts a few characters.
fn mutate(r: &mut Rng, s: &str) -> String {
    let mut c: Vec<char> = s.chars().collect();
    for _ in 0..1 + r.below(3) {
        let i = r.below(c.len() + 1);
        match r.below(4) {
            0 if i < c.len() => {
                c.remove(i);
            }
            1 if i < c.len() => c.insert(i, c[i]),
            2 if i + 1 < c.len() => c.swap(i, i + 1),
            _ => c.insert(i, ALPHABET[r.below(ALPHABET.len())]),
        }
    }
    c.into_iter().collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let parse = |i: usize, default: u64| {
        args.get(i)
            .map(|a| {
                a.parse::<u64>().unwrap_or_else(|_| {
                    eprintln!("usage: fuzz_url <count> <seed> (numbers; got {a:?})");
                    std::process::exit(2)
                })
            })
            .unwrap_or(default)
    };
    let count = parse(1, 100_000);
    let seed = parse(2, 1);
    std::panic::set_hook(Box::new(|_| {}));
    let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let (mut panics, mut leaks) = (0u64, 0u64);
    for _ in 0..count {
        let (input, secret) = match r.below(4) {
            0 => (random_text(&mut r, 60), None),
            1 => {
                let (u, _) = generated_url(&mut r);
                (mutate(&mut r, &u), None)
            }
            _ => {
                let (u, p) = generated_url(&mut r);
                (u, Some(p))
            }
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let shown = redact(&input);
            let parsed = DbUrl::parse(&input);
            let shown2 = match &parsed {
                Ok(u) => u.redacted(),
                Err(e) => e.to_string(),
            };
            if let Ok(u) = &parsed {
                let _ = (u.with_password(Some("x")), u.param("sslmode"));
            }
            (shown, shown2)
        }));
        match outcome {
            Err(_) => {
                panics += 1;
                if panics <= 3 {
                    eprintln!("panic on {input:?}");
                }
            }
            Ok((a, b)) => {
                if let Some(p) = secret
                    && (a.contains(&p) || b.contains(&p))
                {
                    leaks += 1;
                    if leaks <= 3 {
                        eprintln!("leak: {input:?} → {a:?} / {b:?}");
                    }
                }
            }
        }
    }
    println!("fuzz_url: {count} inputs, {panics} panics, {leaks} leaks");
    if panics + leaks > 0 {
        std::process::exit(1);
    }
}
