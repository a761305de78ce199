//! Table properties (`metaData.configuration`): the `delta.*` keys strata reads, and the
//! Spark interval strings Delta's duration properties use
//! (`protocol/PROTOCOL.md#table-properties`).

/// Parses a Spark calendar interval as Delta's duration properties use it (`interval 1 week`,
/// `interval 7 days`, `168 hours`, `interval 1 day 12 hours`) into milliseconds. Units: week,
/// day, hour, minute, second, millisecond, microsecond (singular or plural, any case); the
/// `interval` keyword is optional. Months and years have no fixed length and are refused, as
/// Delta refuses them; so are negative totals and anything else (`None`).
pub fn parse_interval_ms(text: &str) -> Option<i64> {
    let lower = text.trim().to_ascii_lowercase();
    let mut words = lower.split_whitespace().peekable();
    if words.peek() == Some(&"interval") {
        words.next();
    }
    let mut total_us: i64 = 0;
    let mut any = false;
    while let Some(number) = words.next() {
        let n: i64 = number.parse().ok()?;
        let unit = words.next()?;
        let unit = unit.strip_suffix('s').unwrap_or(unit);
        let per_unit_us: i64 = match unit {
            "week" => 7 * 86_400_000_000,
            "day" => 86_400_000_000,
            "hour" => 3_600_000_000,
            "minute" => 60_000_000,
            "second" => 1_000_000,
            "millisecond" => 1_000,
            "microsecond" => 1,
            _ => return None,
        };
        total_us = total_us.checked_add(n.checked_mul(per_unit_us)?)?;
        any = true;
    }
    (any && total_us >= 0).then_some(total_us / 1000)
}

/// A duration in its largest whole unit (`7 days`, `36 hours`, `1500 ms`), for messages: the
/// inverse, for people, of [`parse_interval_ms`].
pub fn format_duration_ms(ms: i64) -> String {
    const UNITS: [(i64, &str); 5] = [
        (7 * 86_400_000, "week"),
        (86_400_000, "day"),
        (3_600_000, "hour"),
        (60_000, "minute"),
        (1_000, "second"),
    ];
    if ms == 0 {
        return "0 seconds".into();
    }
    for (size, unit) in UNITS {
        if ms % size == 0 {
            let n = ms / size;
            return format!("{n} {unit}{}", if n.abs() == 1 { "" } else { "s" });
        }
    }
    format!("{ms} ms")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_format_in_their_largest_whole_unit_and_parse_back() {
        for (ms, text) in [
            (7 * 86_400_000, "1 week"),
            (36 * 3_600_000, "36 hours"),
            (0, "0 seconds"),
            (1_500, "1500 ms"),
            (90_000, "90 seconds"),
        ] {
            assert_eq!(format_duration_ms(ms), text);
            if !text.ends_with(" ms") {
                assert_eq!(parse_interval_ms(text), Some(ms), "{text}");
            }
        }
    }

    #[test]
    fn spark_intervals_parse() {
        let day = 86_400_000;
        for (text, ms) in [
            ("interval 1 week", 7 * day),
            ("interval 7 days", 7 * day),
            ("interval 168 hours", 7 * day),
            ("INTERVAL 2 Weeks", 14 * day),
            ("30 days", 30 * day),
            ("interval 1 day 12 hours", day + day / 2),
            ("interval 90 minutes", 5_400_000),
            ("interval 5 seconds 7 milliseconds", 5_007),
            ("interval 1500 microseconds", 1),
            ("interval 0 seconds", 0),
        ] {
            assert_eq!(parse_interval_ms(text), Some(ms), "{text}");
        }
        for bad in [
            "",
            "interval",
            "interval 1 month",
            "interval 1 year",
            "interval -1 days",
            "interval 1.5 days",
            "interval days",
            "1 fortnight",
            "interval 1 day extra",
        ] {
            assert_eq!(parse_interval_ms(bad), None, "{bad}");
        }
    }
}
