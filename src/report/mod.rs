//! Renderers: turn a check report into human text, JSON, SARIF or GitHub workflow commands.
//! They only format; every decision was made by the classifier.

pub mod backup;
pub mod dry_run;
pub mod github;
pub mod human;
pub mod integrity;
pub mod json;
pub mod progress;
pub mod recover;
pub mod rules_doc;
pub mod sarif;
pub mod status;
pub mod style;

use crate::model::Report;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
    Sarif,
    Github,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "human" | "text" => Some(Format::Human),
            "json" => Some(Format::Json),
            "sarif" => Some(Format::Sarif),
            "github" => Some(Format::Github),
            _ => None,
        }
    }

    /// Machine formats never show progress bars or colour.
    pub fn is_machine(self) -> bool {
        self != Format::Human
    }
}

/// Renders a report to the text printed on stdout.
pub fn render(report: &Report, format: Format, color: bool) -> String {
    match format {
        Format::Human => human::render(report, color),
        Format::Json => json::render(report),
        Format::Sarif => sarif::render(report),
        Format::Github => github::render(report),
    }
}
