//! Instants and dates without a date library: FHIR `instant` formatting and the parsing of
//! `date`/`dateTime`/`instant` values into the time range they denote (for `_since` and `_at`).

use crate::store::Millis;

const MILLIS_PER_DAY: i64 = 86_400_000;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The civil date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Formats milliseconds since the epoch as a FHIR `instant` in UTC: `2026-11-21T18:20:52.123Z`.
pub fn format_instant(millis: Millis) -> String {
    let days = millis.div_euclid(MILLIS_PER_DAY);
    let in_day = millis.rem_euclid(MILLIS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    )
}

/// The current time in milliseconds since the epoch.
pub fn now_millis() -> Millis {
    let elapsed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    elapsed.as_millis() as Millis
}

/// Parses a FHIR `date`, `dateTime` or `instant` (`2020`, `2020-03`, `2020-03-04`,
/// `2020-03-04T10:00:00+01:00`, with optional fractional seconds) into the half-open range
/// `[start, end)` of milliseconds it denotes. A dateTime without a zone is read as UTC.
pub fn parse_range(text: &str) -> Option<(Millis, Millis)> {
    let bytes = text.as_bytes();
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        if part.bytes().all(|b| b.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let year = number(0..4)?;
    if bytes.len() == 4 {
        return Some((
            days_from_civil(year, 1, 1) * MILLIS_PER_DAY,
            days_from_civil(year + 1, 1, 1) * MILLIS_PER_DAY,
        ));
    }
    if bytes.get(4) != Some(&b'-') {
        return None;
    }
    let month = number(5..7)? as u32;
    if !(1..=12).contains(&month) {
        return None;
    }
    if bytes.len() == 7 {
        let (next_year, next_month) = if month == 12 {
            (year + 1, 1)
        } else {
            (year, month + 1)
        };
        return Some((
            days_from_civil(year, month, 1) * MILLIS_PER_DAY,
            days_from_civil(next_year, next_month, 1) * MILLIS_PER_DAY,
        ));
    }
    if bytes.get(7) != Some(&b'-') {
        return None;
    }
    let day = number(8..10)? as u32;
    if day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let day_start = days_from_civil(year, month, day) * MILLIS_PER_DAY;
    if bytes.len() == 10 {
        return Some((day_start, day_start + MILLIS_PER_DAY));
    }
    if bytes.get(10) != Some(&b'T') || bytes.get(13) != Some(&b':') {
        return None;
    }
    let hour = number(11..13)?;
    let minute = number(14..16)?;
    let (second, mut rest) = if bytes.get(16) == Some(&b':') {
        (number(17..19)?, 19)
    } else {
        (0, 16)
    };
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut millis = 0;
    let mut precision = if rest == 19 { 1000 } else { 60_000 };
    if bytes.get(rest) == Some(&b'.') {
        let digits = bytes[rest + 1..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits == 0 {
            return None;
        }
        let fraction = &text[rest + 1..rest + 1 + digits];
        let padded: String = fraction
            .chars()
            .chain(std::iter::repeat('0'))
            .take(3)
            .collect();
        millis = padded.parse::<i64>().ok()?;
        precision = if digits >= 3 {
            1
        } else {
            10_i64.pow(3 - digits as u32)
        };
        rest += 1 + digits;
    }
    let offset_minutes = match &text[rest..] {
        "" | "Z" => 0,
        zone => {
            let sign = match zone.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if zone.len() != 6 || zone.as_bytes()[3] != b':' {
                return None;
            }
            let hours = number(rest + 1..rest + 3)?;
            let minutes = number(rest + 4..rest + 6)?;
            sign * (hours * 60 + minutes)
        }
    };
    let start = day_start + hour * 3_600_000 + minute * 60_000 + second * 1000 + millis
        - offset_minutes * 60_000;
    Some((start, start + precision))
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_format_in_utc_with_milliseconds() {
        assert_eq!(format_instant(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            format_instant(1_700_000_000_123),
            "2023-11-14T22:13:20.123Z"
        );
        assert_eq!(format_instant(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn ranges_follow_the_precision_of_the_value() {
        let year = parse_range("2023").unwrap();
        assert_eq!(format_instant(year.0), "2023-01-01T00:00:00.000Z");
        assert_eq!(format_instant(year.1), "2024-01-01T00:00:00.000Z");
        let month = parse_range("2024-02").unwrap();
        assert_eq!(format_instant(month.1), "2024-03-01T00:00:00.000Z");
        let zoned = parse_range("2023-11-14T23:13:20+01:00").unwrap();
        assert_eq!(zoned, (1_700_000_000_000, 1_700_000_001_000));
        let fraction = parse_range("2023-11-14T22:13:20.12Z").unwrap();
        assert_eq!(fraction, (1_700_000_000_120, 1_700_000_000_130));
        assert!(parse_range("2023-02-30").is_none());
        assert!(parse_range("2023-13").is_none());
        assert!(parse_range("yesterday").is_none());
    }
}
