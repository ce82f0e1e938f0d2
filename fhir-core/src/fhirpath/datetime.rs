//! Partial dates, date-times and times with their precision, as FHIRPath compares them.
//!
//! A value keeps only the components that were written; comparing values of different
//! precision is "unknown" (empty) when the common components are equal.

use std::cmp::Ordering;
use std::fmt;

/// Which of the three temporal types a value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemporalKind {
    /// `System.Date`.
    Date,
    /// `System.DateTime`.
    DateTime,
    /// `System.Time`.
    Time,
}

/// A date, date-time or time with the components that were given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartialTemporal {
    /// The type.
    pub kind: TemporalKind,
    /// year, month, day, hour, minute, second, millisecond (unused ones are 0/1).
    pub fields: [i64; 7],
    /// How many of `fields` are set, counted from the year (a time starts at the hour: a time
    /// `10:30` has precision 5).
    pub precision: usize,
    /// The number of fractional second digits as written.
    pub fraction_digits: usize,
    /// Offset from UTC in minutes, when given.
    pub offset: Option<i64>,
}

fn digits(text: &str, n: usize) -> Option<(i64, &str)> {
    if text.len() < n || !text.as_bytes()[..n].iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some((text[..n].parse().ok()?, &text[n..]))
}

impl PartialTemporal {
    /// Parses literal text after the `@`: `2015-02-04`, `2015T`, `2015-02-04T14:34+10:00`,
    /// `T14:34:28.123`.
    pub fn parse_literal(text: &str) -> Option<PartialTemporal> {
        if let Some(time) = text.strip_prefix('T') {
            return Self::parse_time(time);
        }
        let (value, rest) = Self::parse_date_part(text)?;
        if rest.is_empty() {
            return Some(value);
        }
        let rest = rest.strip_prefix('T')?;
        let mut value = PartialTemporal {
            kind: TemporalKind::DateTime,
            ..value
        };
        if rest.is_empty() {
            return Some(value);
        }
        let rest = value.parse_clock(rest)?;
        value.parse_offset(rest)?;
        Some(value)
    }

    /// Parses a FHIR `date`, `dateTime` or `instant` string.
    pub fn parse_date_time(text: &str) -> Option<PartialTemporal> {
        let (value, rest) = Self::parse_date_part(text)?;
        if rest.is_empty() {
            return Some(value);
        }
        Self::parse_literal(text).filter(|v| v.kind == TemporalKind::DateTime)
    }

    /// Parses a FHIR `time` string (`14:34:28`).
    pub fn parse_time(text: &str) -> Option<PartialTemporal> {
        let mut value = PartialTemporal {
            kind: TemporalKind::Time,
            fields: [0, 1, 1, 0, 0, 0, 0],
            precision: 3,
            fraction_digits: 0,
            offset: None,
        };
        let rest = value.parse_clock(text)?;
        rest.is_empty().then_some(value)
    }

    fn parse_date_part(text: &str) -> Option<(PartialTemporal, &str)> {
        let mut value = PartialTemporal {
            kind: TemporalKind::Date,
            fields: [0, 1, 1, 0, 0, 0, 0],
            precision: 1,
            fraction_digits: 0,
            offset: None,
        };
        let (year, mut rest) = digits(text, 4)?;
        value.fields[0] = year;
        for index in 1..3 {
            let Some(after) = rest.strip_prefix('-') else {
                break;
            };
            let (n, after) = digits(after, 2)?;
            value.fields[index] = n;
            value.precision = index + 1;
            rest = after;
        }
        let valid_month = (1..=12).contains(&value.fields[1]);
        let valid_day = value.fields[2] >= 1
            && value.fields[2] <= days_in_month(value.fields[0], value.fields[1]);
        (valid_month && valid_day).then_some((value, rest))
    }

    fn parse_clock<'t>(&mut self, text: &'t str) -> Option<&'t str> {
        let (hour, mut rest) = digits(text, 2)?;
        self.fields[3] = hour;
        self.precision = 4;
        for index in 4..6 {
            let Some(after) = rest.strip_prefix(':') else {
                break;
            };
            let (n, after) = digits(after, 2)?;
            self.fields[index] = n;
            self.precision = index + 1;
            rest = after;
        }
        if self.precision == 6
            && let Some(after) = rest.strip_prefix('.')
        {
            let count = after.bytes().take_while(u8::is_ascii_digit).count();
            if count == 0 {
                return None;
            }
            let fraction = &after[..count];
            let millis: String = fraction.chars().chain("000".chars()).take(3).collect();
            self.fields[6] = millis.parse().ok()?;
            self.fraction_digits = count;
            self.precision = 7;
            rest = &after[count..];
        }
        let valid = self.fields[3] < 24 && self.fields[4] < 60 && self.fields[5] < 60;
        valid.then_some(rest)
    }

    fn parse_offset(&mut self, text: &str) -> Option<()> {
        if text.is_empty() {
            return Some(());
        }
        if text == "Z" {
            self.offset = Some(0);
            return Some(());
        }
        let sign = match text.as_bytes()[0] {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let (hours, rest) = digits(&text[1..], 2)?;
        let (minutes, rest) = digits(rest.strip_prefix(':')?, 2)?;
        rest.is_empty().then_some(())?;
        self.offset = Some(sign * (hours * 60 + minutes));
        Some(())
    }

    /// The precision in the terms comparisons use: seconds and milliseconds are one precision.
    fn comparison_precision(&self) -> usize {
        self.precision.min(6)
    }

    /// The first field index of the kind (times start at the hour).
    fn first_field(&self) -> usize {
        if self.kind == TemporalKind::Time {
            3
        } else {
            0
        }
    }

    /// Milliseconds since 0000-03-01 (proleptic Gregorian) of the given fields, ignoring offset.
    fn total_millis(fields: &[i64; 7]) -> i64 {
        let days = days_from_civil(fields[0], fields[1], fields[2]);
        (((days * 24 + fields[3]) * 60 + fields[4]) * 60 + fields[5]) * 1000 + fields[6]
    }

    fn with_total_millis(&self, total: i64) -> PartialTemporal {
        let mut value = *self;
        let days = total.div_euclid(86_400_000);
        let rest = total.rem_euclid(86_400_000);
        let (y, m, d) = civil_from_days(days);
        value.fields = [
            y,
            m,
            d,
            rest / 3_600_000,
            rest / 60_000 % 60,
            rest / 1000 % 60,
            rest % 1000,
        ];
        value
    }

    /// The fields in UTC when an offset is known and the value has a time of day.
    fn utc_fields(&self) -> [i64; 7] {
        match self.offset {
            Some(offset) if self.precision >= 4 && self.kind != TemporalKind::Time => {
                self.with_total_millis(Self::total_millis(&self.fields) - offset * 60_000)
                    .fields
            }
            _ => self.fields,
        }
    }

    /// Compares two values: `Some(order)` when decidable, `None` when the precisions differ
    /// beyond the common components (or the kinds cannot be compared).
    pub fn compare(&self, other: &PartialTemporal) -> Option<Ordering> {
        let time_a = self.kind == TemporalKind::Time;
        let time_b = other.kind == TemporalKind::Time;
        if time_a != time_b {
            return None;
        }
        // One side with an offset and one without cannot be ordered reliably.
        if self.offset.is_some() != other.offset.is_some()
            && self.precision >= 4
            && other.precision >= 4
            && self.kind == TemporalKind::DateTime
            && other.kind == TemporalKind::DateTime
        {
            return None;
        }
        let (a, b) = if self.offset.is_some() && other.offset.is_some() {
            (self.utc_fields(), other.utc_fields())
        } else {
            (self.fields, other.fields)
        };
        let first = self.first_field();
        let common = self
            .comparison_precision()
            .min(other.comparison_precision());
        for index in first..common {
            match a[index].cmp(&b[index]) {
                Ordering::Equal => {}
                order => return Some(order),
            }
        }
        if self.comparison_precision() != other.comparison_precision() {
            return None;
        }
        if common == 6 {
            return Some(a[6].cmp(&b[6]));
        }
        Some(Ordering::Equal)
    }

    /// Adds `amount` of a calendar unit (`year` … `millisecond`); `None` for an unknown unit or
    /// a result outside the years 1–9999.
    pub fn shift(&self, amount: i64, unit: &str) -> Option<PartialTemporal> {
        let mut value = *self;
        let is_time = self.kind == TemporalKind::Time;
        match unit {
            "year" | "month" if !is_time => {
                let months = if unit == "year" {
                    amount.checked_mul(12)?
                } else {
                    amount
                };
                // A value without months moves by whole years.
                let months = if self.precision < 2 {
                    months / 12 * 12
                } else {
                    months
                };
                let total = (value.fields[0] * 12 + (value.fields[1] - 1)).checked_add(months)?;
                value.fields[0] = total.div_euclid(12);
                value.fields[1] = total.rem_euclid(12) + 1;
                value.fields[2] =
                    value.fields[2].min(days_in_month(value.fields[0], value.fields[1]));
                value.in_range().then_some(value)
            }
            "week" | "day" | "hour" | "minute" | "second" | "millisecond" => {
                let unit_millis: i64 = match unit {
                    "week" => 604_800_000,
                    "day" => 86_400_000,
                    "hour" => 3_600_000,
                    "minute" => 60_000,
                    "second" => 1000,
                    _ => 1,
                };
                if is_time && unit_millis > 3_600_000 {
                    return None;
                }
                let millis = amount.checked_mul(unit_millis)?;
                // Below the value's precision the amount is truncated to it.
                let precision_millis = match self.precision {
                    1 => return self.shift(millis / (365 * 86_400_000) * 12, "month"),
                    2 => return self.shift(millis / (30 * 86_400_000), "month"),
                    3 => 86_400_000,
                    4 => 3_600_000,
                    5 => 60_000,
                    6 => 1000,
                    _ => 1,
                };
                let delta = millis / precision_millis * precision_millis;
                let total = Self::total_millis(&self.fields).checked_add(delta)?;
                let mut moved = self.with_total_millis(total);
                if is_time {
                    moved.fields[0] = 0;
                    moved.fields[1] = 1;
                    moved.fields[2] = 1;
                    return Some(moved);
                }
                moved.in_range().then_some(moved)
            }
            _ => None,
        }
    }

    /// `true` for years 1 to 9999, the range of FHIR dates.
    fn in_range(&self) -> bool {
        (1..=9999).contains(&self.fields[0])
    }

    /// The number of digits of precision (`@2014` → 4, `@T10:30` → 4, ms → 17).
    pub fn digit_precision(&self) -> usize {
        let mut count = 0;
        for index in self.first_field()..self.precision.min(6) {
            count += if index == 0 { 4 } else { 2 };
        }
        if self.precision == 7 {
            count += self.fraction_digits.max(3);
        }
        count
    }

    /// The earliest (`high` false) or latest value this partial value may stand for, at
    /// `precision` digits (8 for a full date, 17 for a date-time to the millisecond, 9 for a
    /// time).
    pub fn boundary(&self, high: bool, precision: usize) -> Option<PartialTemporal> {
        let target = match (self.kind, precision) {
            (TemporalKind::Time, 2) => 4,
            (TemporalKind::Time, 4) => 5,
            (TemporalKind::Time, 6) => 6,
            (TemporalKind::Time, 9) => 7,
            (_, 4) => 1,
            (_, 6) => 2,
            (_, 8) => 3,
            (TemporalKind::DateTime, 10) => 4,
            (TemporalKind::DateTime, 12) => 5,
            (TemporalKind::DateTime, 14) => 6,
            (TemporalKind::DateTime, 17) => 7,
            _ => return None,
        };
        let mut value = *self;
        for index in self.precision..7 {
            value.fields[index] = match (index, high) {
                (1, true) => 12,
                (2, true) => days_in_month(value.fields[0], value.fields[1]),
                (3, true) => 23,
                (4 | 5, true) => 59,
                (6, true) => 999,
                (1 | 2, false) => 1,
                _ => 0,
            };
        }
        value.precision = target;
        value.fraction_digits = if target == 7 { 3 } else { 0 };
        if self.kind == TemporalKind::DateTime && target >= 4 && self.offset.is_none() {
            // Unknown zone: the widest range, from +14:00 to -12:00.
            value.offset = Some(if high { -12 * 60 } else { 14 * 60 });
        }
        Some(value)
    }
}

/// Days of a month (February by leap year).
pub fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

impl fmt::Display for PartialTemporal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = &self.fields;
        if self.kind != TemporalKind::Time {
            write!(f, "{:04}", v[0])?;
            if self.precision >= 2 {
                write!(f, "-{:02}", v[1])?;
            }
            if self.precision >= 3 {
                write!(f, "-{:02}", v[2])?;
            }
            if self.kind == TemporalKind::Date || self.precision < 4 {
                return Ok(());
            }
            write!(f, "T")?;
        }
        write!(f, "{:02}", v[3])?;
        if self.precision >= 5 {
            write!(f, ":{:02}", v[4])?;
        }
        if self.precision >= 6 {
            write!(f, ":{:02}", v[5])?;
        }
        if self.precision >= 7 {
            write!(f, ".{:03}", v[6])?;
        }
        if self.kind == TemporalKind::DateTime
            && let Some(offset) = self.offset
        {
            if offset == 0 {
                write!(f, "Z")?;
            } else {
                let sign = if offset < 0 { '-' } else { '+' };
                write!(f, "{sign}{:02}:{:02}", offset.abs() / 60, offset.abs() % 60)?;
            }
        }
        Ok(())
    }
}
