//! Date spellings the three dialects use. Canonical timestamps are UTC; the spelling received is echoed by the
//! codecs when it differs from what they render, so A → canonical → A keeps it.

use std::fmt::Write;

use chrono::{DateTime, Datelike, NaiveDateTime, Timelike, Utc};

/// ISO 8601 / RFC 3339 with offset, or a naive `YYYY-MM-DD HH:MM:SS` taken as UTC (FluentCart raw columns).
pub fn parse_iso_or_naive(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return four_digit_year(dt.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, fmt) {
            return four_digit_year(naive.and_utc());
        }
    }
    None
}

pub fn parse_rfc2822(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc2822(text)
        .ok()
        .and_then(|dt| four_digit_year(dt.with_timezone(&Utc)))
}

/// `dt` if its year (in UTC) has four digits, as every dialect's date spelling has: a date in year 12025 parses in
/// one dialect and could be rendered in none.
fn four_digit_year(dt: DateTime<Utc>) -> Option<DateTime<Utc>> {
    (1..=9999).contains(&dt.year()).then_some(dt)
}

// Rendering is written out by hand: chrono's `format` interprets its pattern on every call, and dates are on the
// hot path of every translation.

fn date_time(dt: &DateTime<Utc>, date_time_separator: char, suffix: &str) -> String {
    let mut out = String::with_capacity(32);
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}{date_time_separator}{:02}:{:02}:{:02}{suffix}",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    );
    out
}

/// `2025-10-23T04:44:34+00:00` (FluentCart `created_at`).
pub fn render_iso_offset(dt: &DateTime<Utc>) -> String {
    date_time(dt, 'T', "+00:00")
}

/// `2025-10-23 04:44:42` (FluentCart raw date columns).
pub fn render_naive(dt: &DateTime<Utc>) -> String {
    date_time(dt, ' ', "")
}

/// `2018-01-01T12:00:00.000Z` (Commerce Layer).
pub fn render_iso_millis(dt: &DateTime<Utc>) -> String {
    let millis = dt.timestamp_subsec_millis();
    date_time(dt, 'T', &format!(".{millis:03}Z"))
}

/// `Tue, 20 Nov 2012 00:00:00 +0000` (BigCommerce).
pub fn render_rfc2822(dt: &DateTime<Utc>) -> String {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mut out = String::with_capacity(32);
    let _ = write!(
        out,
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} +0000",
        DAYS[dt.weekday().num_days_from_monday() as usize],
        dt.day(),
        MONTHS[dt.month0() as usize],
        dt.year(),
        dt.hour(),
        dt.minute(),
        dt.second()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_read_only_with_four_digit_years() {
        assert!(parse_rfc2822("Wed, 05 Mar 2025 20:22:41 +0000").is_some());
        assert!(parse_rfc2822("Wed, 05 Mar 12025 20:22:41 +0000").is_none());
        assert!(parse_iso_or_naive("2025-03-05T20:22:41+00:00").is_some());
        assert!(parse_iso_or_naive("12025-03-05 20:22:41").is_none());
        // Four digits as written, five once in UTC: no dialect could spell it.
        assert!(parse_iso_or_naive("9999-12-31T23:30:00-05:00").is_none());
        assert!(parse_iso_or_naive("9999-12-31T23:30:00+00:00").is_some());
    }

    #[test]
    fn spellings_round_trip() {
        let dt = parse_rfc2822("Tue, 20 Nov 2012 00:00:00 +0000").unwrap();
        assert_eq!(render_rfc2822(&dt), "Tue, 20 Nov 2012 00:00:00 +0000");
        let dt = parse_iso_or_naive("2018-01-01T12:00:00.000Z").unwrap();
        assert_eq!(render_iso_millis(&dt), "2018-01-01T12:00:00.000Z");
        let dt = parse_iso_or_naive("2025-10-23 04:44:42").unwrap();
        assert_eq!(render_naive(&dt), "2025-10-23 04:44:42");
        assert_eq!(render_iso_offset(&dt), "2025-10-23T04:44:42+00:00");
        let ms = parse_iso_or_naive("2018-01-01T12:00:00.250Z").unwrap();
        assert_eq!(render_iso_millis(&ms), "2018-01-01T12:00:00.250Z");
        let shifted = parse_rfc2822("Tue, 20 Nov 2012 02:00:00 +0200").unwrap();
        assert_eq!(render_rfc2822(&shifted), "Tue, 20 Nov 2012 00:00:00 +0000");
        assert!(parse_iso_or_naive("yesterday").is_none());
        assert!(parse_rfc2822("2012-11-20").is_none());
    }
}
