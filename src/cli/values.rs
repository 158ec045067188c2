//! Option values clap checks itself (`ValueEnum`): `--dialect`, `--layout`, `--format` and
//! `--fail-on` arrive typed, so a wrong value is refused once, by clap, with the list of possible
//! values, and nothing downstream parses the string again.

use crate::migrations::Layout;
use crate::model::FailOn;
use crate::report::Format;
use crate::sql::Dialect;
use clap::ValueEnum;
use clap::builder::PossibleValue;

impl ValueEnum for Dialect {
    fn value_variants<'a>() -> &'a [Self] {
        &Dialect::ALL
    }
    fn to_possible_value(&self) -> Option<PossibleValue> {
        let v = PossibleValue::new(self.as_str());
        Some(match self {
            Dialect::Postgres => v.aliases(["postgresql", "pg"]),
            Dialect::Mysql => v.alias("mariadb"),
            Dialect::Sqlite => v.alias("sqlite3"),
        })
    }
}

impl ValueEnum for Layout {
    fn value_variants<'a>() -> &'a [Self] {
        &Layout::ALL
    }
    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.as_str()))
    }
}

impl ValueEnum for Format {
    fn value_variants<'a>() -> &'a [Self] {
        &Format::ALL
    }
    fn to_possible_value(&self) -> Option<PossibleValue> {
        let v = PossibleValue::new(self.as_str());
        Some(match self {
            Format::Human => v.alias("text"),
            Format::Markdown => v.alias("md"),
            _ => v,
        })
    }
}

impl ValueEnum for FailOn {
    fn value_variants<'a>() -> &'a [Self] {
        &FailOn::ALL
    }
    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names clap accepts are the ones the config file and the rest of migsafe use.
    #[test]
    fn every_value_round_trips_through_its_name() {
        for d in Dialect::ALL {
            assert_eq!(Dialect::from_str(d.as_str(), false), Ok(d));
            assert_eq!(Dialect::parse(d.as_str()), Some(d));
        }
        assert_eq!(Dialect::from_str("mariadb", false), Ok(Dialect::Mysql));
        for l in Layout::ALL {
            assert_eq!(Layout::from_str(l.as_str(), false), Ok(l));
        }
        for f in Format::ALL {
            assert_eq!(Format::from_str(f.as_str(), false), Ok(f));
            assert_eq!(Format::parse(f.as_str()), Some(f));
        }
        for f in FailOn::ALL {
            assert_eq!(FailOn::from_str(f.as_str(), false), Ok(f));
            assert_eq!(FailOn::parse(f.as_str()), Some(f));
        }
    }
}
