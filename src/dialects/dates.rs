//! Date spellings the three dialects use. Canonical timestamps are UTC; the spelling received is echoed by the
//! codecs when it differs from what they render, so A → canonical → A keeps it.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};

/// ISO 8601 / RFC 3339 with offset, or a naive `YYYY-MM-DD HH:MM:SS` taken as UTC (FluentCart raw columns).
pub fn parse_iso_or_naive(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Some(dt.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, fmt) {
            return Some(naive.and_utc());
        }
    }
    None
}

pub fn parse_rfc2822(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc2822(text)
        .ok()
        .map(|dt| dt.with_timezone(&Utc))
}

/// `2025-10-23T04:44:34+00:00` (FluentCart `created_at`).
pub fn render_iso_offset(dt: &DateTime<Utc>) -> String {
    dt.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
}

/// `2025-10-23 04:44:42` (FluentCart raw date columns).
pub fn render_naive(dt: &DateTime<Utc>) -> String {
    dt.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// `2018-01-01T12:00:00.000Z` (Commerce Layer).
pub fn render_iso_millis(dt: &DateTime<Utc>) -> String {
    dt.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `Tue, 20 Nov 2012 00:00:00 +0000` (BigCommerce).
pub fn render_rfc2822(dt: &DateTime<Utc>) -> String {
    dt.format("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip() {
        let dt = parse_rfc2822("Tue, 20 Nov 2012 00:00:00 +0000").unwrap();
        assert_eq!(render_rfc2822(&dt), "Tue, 20 Nov 2012 00:00:00 +0000");
        let dt = parse_iso_or_naive("2018-01-01T12:00:00.000Z").unwrap();
        assert_eq!(render_iso_millis(&dt), "2018-01-01T12:00:00.000Z");
        let dt = parse_iso_or_naive("2025-10-23 04:44:42").unwrap();
        assert_eq!(render_naive(&dt), "2025-10-23 04:44:42");
        assert_eq!(render_iso_offset(&dt), "2025-10-23T04:44:42+00:00");
        let shifted = parse_rfc2822("Tue, 20 Nov 2012 02:00:00 +0200").unwrap();
        assert_eq!(render_rfc2822(&shifted), "Tue, 20 Nov 2012 00:00:00 +0000");
        assert!(parse_iso_or_naive("yesterday").is_none());
        assert!(parse_rfc2822("2012-11-20").is_none());
    }
}
