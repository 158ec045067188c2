//! The check every command that connects to a database makes first: is an operation on its
//! server unfinished (this machine's journals, the server's markers)? Each one found is named on
//! stderr with when, which host, and the command that ends it.

use crate::engines::target::Target;

/// Prints one warning line per unfinished operation on `url`'s server; returns how many.
pub fn warn(rt: &tokio::runtime::Runtime, url: &str) -> usize {
    warn_found(rt, url).len()
}

/// [`warn`], returning what was found.
pub fn warn_found(rt: &tokio::runtime::Runtime, url: &str) -> Vec<crate::journal::Unfinished> {
    let Ok(target) = Target::parse(url) else {
        return Vec::new();
    };
    let found = rt.block_on(crate::journal::unfinished_for(
        &target,
        &crate::journal::default_dir(),
    ));
    for u in &found {
        print(u);
    }
    found
}

/// One operation on stderr; a mode whose lease expired is shouted, since nothing will switch it
/// back by itself.
pub fn print(u: &crate::journal::Unfinished) {
    if u.active && u.lease_expired() {
        eprintln!("migsafe: WARNING: {}", u.describe());
    } else {
        eprintln!("migsafe: warning: {}", u.describe());
    }
}
