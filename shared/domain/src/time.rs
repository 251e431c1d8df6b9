//! Calendar time in UTC from Unix milliseconds, and its two printed forms: RFC 3339 for records
//! and logs, and the short `YYYY-MM-DD HH:MM UTC` of the report site. The one place for dates.

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
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        UtcTime {
            year: yoe + era * 400 + i64::from(month <= 2),
            month: month as u8,
            day: day as u8,
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

    proptest! {
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
