//! Rendering: aligned tables, human sizes and times, JSON, progress bars. Nothing here
//! decides anything; it shows what the library returned.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use comfy_table::{CellAlignment, ContentArrangement, presets};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

use crate::error::{CliError, CliResult};

/// Writes text to standard output, turning a write failure into an error (a closed pipe is
/// recognised and ends the program quietly; see `main`).
pub fn print(text: impl std::fmt::Display) -> CliResult {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").map_err(CliError::stdout)?;
    out.flush().map_err(CliError::stdout)
}

/// Prints a JSON document, pretty, on standard output.
pub fn print_json(value: &Value) -> CliResult {
    print(serde_json::to_string_pretty(value).unwrap_or_default())
}

/// A table with a header, aligned, fitted to the terminal when there is one.
pub fn table(header: &[&str]) -> comfy_table::Table {
    let mut table = comfy_table::Table::new();
    table.load_style(presets::UTF8_FULL_CONDENSED);
    if std::io::stdout().is_terminal() {
        table.set_content_arrangement(ContentArrangement::Dynamic);
    }
    table.set_header(header.to_vec());
    table
}

/// Right-aligns the given columns (numbers).
pub fn align_right(table: &mut comfy_table::Table, columns: &[usize]) {
    for &i in columns {
        if let Some(column) = table.column_mut(i) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
}

/// Key/value lines with the keys padded to one width.
pub fn fields(rows: &[(&str, String)]) -> String {
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    rows.iter()
        .map(|(k, v)| format!("{k:<width$}  {v}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `1.5 KiB`, `12.0 MiB`, `734 B`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Signed sizes from the library's `i64` byte counts.
pub fn bytes_i64(n: i64) -> String {
    bytes(n.max(0) as u64)
}

/// `1,234,567`.
pub fn count(n: impl Into<i128>) -> String {
    let n: i128 = n.into();
    let digits = n.unsigned_abs().to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    if n < 0 {
        format!("-{grouped}")
    } else {
        grouped
    }
}

/// `1 file`, `3 files`, `1,024 rows`.
pub fn plural(n: impl Into<i128>, noun: &str) -> String {
    let n: i128 = n.into();
    format!("{} {noun}{}", count(n), if n == 1 { "" } else { "s" })
}

/// `2026-11-23 18:48:16 UTC`.
pub fn time(ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        None => format!("{ms} ms"),
    }
}

/// RFC 3339 with milliseconds, for JSON: `2026-11-23T18:48:16.123Z`.
pub fn rfc3339(ms: i64) -> Value {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        None => Value::Null,
    }
}

/// `5 minutes ago`, `in the future`.
pub fn ago(ms: i64) -> String {
    let now = chrono::Utc::now().timestamp_millis();
    let seconds = now.saturating_sub(ms) / 1000;
    if seconds < 0 {
        return "in the future".into();
    }
    let (n, unit) = match seconds {
        0..60 => (seconds, "second"),
        60..3_600 => (seconds / 60, "minute"),
        3_600..86_400 => (seconds / 3_600, "hour"),
        _ => (seconds / 86_400, "day"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

/// A JSON value shown compactly: strings bare, everything else as JSON.
pub fn compact(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `k=v, k=v` from a JSON object.
pub fn key_values(map: &serde_json::Map<String, Value>) -> String {
    map.iter()
        .map(|(k, v)| format!("{k}={}", compact(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Progress on standard error, drawn only when it is a terminal and `--quiet` is off.
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    fn draw_target(quiet: bool) -> ProgressDrawTarget {
        if quiet || !std::io::stderr().is_terminal() {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        }
    }

    /// A bar counting bytes.
    pub fn bytes(quiet: bool, total: u64, message: &str) -> Progress {
        Progress::with_template(
            quiet,
            total,
            message,
            "{msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} ({eta} left)",
        )
    }

    /// A bar counting items.
    pub fn items(quiet: bool, total: u64, message: &str) -> Progress {
        Progress::with_template(
            quiet,
            total,
            message,
            "{msg} [{bar:30}] {pos}/{len} ({eta} left)",
        )
    }

    fn with_template(quiet: bool, total: u64, message: &str, template: &str) -> Progress {
        let bar = ProgressBar::with_draw_target(Some(total), Progress::draw_target(quiet));
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(message.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress { bar }
    }

    /// A spinner for work of unknown length.
    pub fn spinner(quiet: bool, message: &str) -> Progress {
        let bar = ProgressBar::with_draw_target(None, Progress::draw_target(quiet));
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
            bar.set_style(style);
        }
        bar.set_message(message.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        Progress { bar }
    }

    /// A handle the library's progress callbacks can own.
    pub fn handle(&self) -> ProgressBar {
        self.bar.clone()
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_numbers() {
        assert_eq!(bytes(734), "734 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(128 << 20), "128.0 MiB");
        assert_eq!(count(1_234_567i64), "1,234,567");
        assert_eq!(count(-1000i64), "-1,000");
        assert_eq!(count(12i64), "12");
        assert_eq!(time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(rfc3339(1), Value::String("1970-01-01T00:00:00.001Z".into()));
    }
}
