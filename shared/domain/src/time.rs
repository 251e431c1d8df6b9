//! Calendar time in UTC from Unix milliseconds, and its two printed forms: RFC 3339 for records
//! and logs, and the short `YYYY-MM-DD HH:MM UTC` of the report site; and RFC 3339 read back
//! (the task list's date range). The one place for dates.

/// A UTC instant broken into calendar fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UtcTime {
    /// Year (proleptic Gregorian).
    pub year: i64,
    /// Month, 1 to 12.
    pub month: u8,
    /// Day of the month, 1 to 31.
    pub day: u8,
    /// Hour, 0 to 23.
    pub hour: u8,
    /// Minute, 0 to 59.
    pub minute: u8,
    /// Second, 0 to 59.
    pub second: u8,
    /// Millisecond, 0 to 999.
    pub millis: u16,
}

impl UtcTime {
    /// The calendar fields of `unix_ms` milliseconds after 1970-01-01T00:00:00Z. Total: every
    /// `u64` gives a date (years past 9999 included, as task ids can encode them).
    pub fn from_unix_ms(unix_ms: u64) -> Self {
        let secs = unix_ms / 1000;
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        let (year, month, day) = civil_from_days(days);
        UtcTime {
            year,
            month,
            day,
            hour: (rem / 3600) as u8,
            minute: (rem % 3600 / 60) as u8,
            second: (rem % 60) as u8,
            millis: (unix_ms % 1000) as u16,
        }
    }

    /// RFC 3339 with millisecond precision: `2026-11-29T10:59:08.123Z`.
    pub fn rfc3339(&self) -> String {
        let UtcTime {
            year: y,
            month: mo,
            day: d,
            hour: h,
            minute: mi,
            second: s,
            millis: ms,
        } = *self;
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
    }

    /// To the minute, for people: `2026-11-29 10:59 UTC`.
    pub fn minutes(&self) -> String {
        let UtcTime {
            year: y,
            month: mo,
            day: d,
            hour: h,
            minute: mi,
            ..
        } = *self;
        format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02} UTC")
    }
}

/// The civil date `(year, month, day)` of day `days` after 1970-01-01 (negative before it;
/// Howard Hinnant's civil_from_days).
fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        yoe + era * 400 + i64::from(month <= 2),
        month as u8,
        day as u8,
    )
}

/// The full-date (`2026-11-29`) of day `days` after 1970-01-01 (negative before it).
pub fn date_of_day(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Days from 1970-01-01 to the civil date `y-m-d` (proleptic Gregorian; Howard Hinnant's
/// days_from_civil, the inverse of [`UtcTime::from_unix_ms`]'s).
fn days_from_civil(y: i64, m: u8, d: u8) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: u8) -> u8 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Which end of a day a date without a time stands for in [`parse_rfc3339`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DayEnd {
    /// Its first millisecond (a range's start).
    Start,
    /// Its last millisecond (a range's inclusive end).
    End,
}

/// Reads an RFC 3339 date-time (`2026-11-29T10:59:08Z`, `2026-11-29T11:59:08.5+01:00`; `T`
/// and `Z` in either case; fractions past milliseconds dropped; a leap second `60` read as
/// `59.999`) or a full-date alone (`2026-11-29`, its first or last millisecond in UTC per
/// `day_end`), as Unix milliseconds. Years 1970 to 9999 only. `None` for anything else.
pub fn parse_rfc3339(s: &str, day_end: DayEnd) -> Option<u64> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        part.iter()
            .try_fold(0i64, |n, d| Some(n * 10 + i64::from(d - b'0')))
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) {
        return None;
    }
    let (month, day) = (month as u8, day as u8);
    if day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    if b.len() == 10 {
        let start = u64::try_from(days).ok()? * 86_400_000;
        return Some(match day_end {
            DayEnd::Start => start,
            DayEnd::End => start + 86_399_999,
        });
    }
    if b.len() < 20 || !matches!(b[10], b'T' | b't') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut at = 19;
    let mut millis = 0i64;
    if b[at] == b'.' {
        let digits = b[at + 1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if digits == 0 {
            return None;
        }
        for i in 0..3 {
            millis = millis * 10 + if i < digits { num(at + 1 + i, 1)? } else { 0 };
        }
        at += 1 + digits;
    }
    let offset_min = match b.get(at..)? {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (oh, om) = (num(at + 1, 2)?, num(at + 4, 2)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let m = oh * 60 + om;
            if *sign == b'-' { -m } else { m }
        }
        _ => return None,
    };
    let (second, millis) = if second == 60 {
        (59, 999)
    } else {
        (second, millis)
    };
    let ms = ((days * 24 + hour) * 60 + minute - offset_min) * 60_000 + second * 1000 + millis;
    u64::try_from(ms).ok()
}

/// Formats Unix milliseconds as RFC 3339 UTC with millisecond precision
/// (`2026-11-29T10:59:08.123Z`).
pub fn rfc3339(unix_ms: u64) -> String {
    UtcTime::from_unix_ms(unix_ms).rfc3339()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_777_148_123), "2026-11-27T10:59:08.123Z");
        assert_eq!(rfc3339(1_795_950_047_005), "2026-11-29T11:00:47.005Z");
        assert_eq!(rfc3339(253_402_300_799_999), "9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn a_day_number_prints_as_its_date_before_and_after_the_epoch() {
        assert_eq!(date_of_day(0), "1970-01-01");
        assert_eq!(date_of_day(-3), "1969-12-29");
        assert_eq!(date_of_day(11_016), "2000-02-29");
        assert_eq!(date_of_day(20_787), "2026-11-30");
    }

    #[test]
    fn the_short_form_is_to_the_minute() {
        assert_eq!(UtcTime::from_unix_ms(0).minutes(), "1970-01-01 00:00 UTC");
        assert_eq!(
            UtcTime::from_unix_ms(1_795_950_047_005).minutes(),
            "2026-11-29 11:00 UTC"
        );
    }

    #[test]
    fn the_largest_task_id_time_still_has_a_date() {
        let t = UtcTime::from_unix_ms((1 << 48) - 1);
        assert_eq!(t.rfc3339(), "10889-08-02T05:31:50.655Z");
        let _ = UtcTime::from_unix_ms(u64::MAX).rfc3339();
    }

    #[test]
    fn rfc3339_reads_back_what_it_writes_and_offsets_and_dates_alone() {
        for ms in [0, 951_782_400_000, 1_795_777_148_123, 253_402_300_799_999] {
            assert_eq!(parse_rfc3339(&rfc3339(ms), DayEnd::Start), Some(ms));
        }
        let at = |s| parse_rfc3339(s, DayEnd::Start);
        assert_eq!(
            at("2026-11-27t11:59:08.1234+01:00"),
            Some(1_795_777_148_123)
        );
        assert_eq!(at("2026-11-27T10:59:08.1z"), Some(1_795_777_148_100));
        assert_eq!(at("2026-11-27T05:29:08-05:30"), Some(1_795_777_148_000));
        assert_eq!(at("2000-02-29"), Some(951_782_400_000));
        assert_eq!(
            parse_rfc3339("2000-02-29", DayEnd::End),
            Some(951_782_400_000 + 86_399_999)
        );
        assert_eq!(at("2016-12-31T23:59:60Z"), Some(1_483_228_799_999));
    }

    #[test]
    fn malformed_or_impossible_dates_are_refused() {
        for bad in [
            "",
            "2026-11-29T10:59:08",
            "2026-11-29 10:59:08Z",
            "2026-02-29",
            "2026-13-01T00:00:00Z",
            "2026-11-31T00:00:00Z",
            "2026-11-29T24:00:00Z",
            "2026-11-29T10:60:00Z",
            "2026-11-29T10:59:08.Z",
            "2026-11-29T10:59:08+1:00",
            "2026-11-29T10:59:08+24:00",
            "1969-12-31T23:59:59Z",
            "1970-01-01T00:00:00+00:01",
            "+2026-11-29",
            "2026-11-29T10:59:08Zjunk",
            "２０２６-11-29",
        ] {
            assert_eq!(parse_rfc3339(bad, DayEnd::Start), None, "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn every_written_instant_reads_back(ms in 0u64..253_402_300_800_000) {
            prop_assert_eq!(parse_rfc3339(&rfc3339(ms), DayEnd::Start), Some(ms));
        }


        #[test]
        fn fields_stay_in_range_and_days_follow_each_other(ms in 0u64..(1 << 48)) {
            let t = UtcTime::from_unix_ms(ms);
            prop_assert!((1..=12).contains(&t.month) && (1..=31).contains(&t.day));
            prop_assert!(t.hour < 24 && t.minute < 60 && t.second < 60 && t.millis < 1000);
            let next = UtcTime::from_unix_ms(ms + 86_400_000);
            prop_assert!((next.year, next.month, next.day) > (t.year, t.month, t.day));
        }
    }
}
