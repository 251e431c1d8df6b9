//! Number formatting and the colour scale shared by every page.

use ccaas_gcov::Counter;

/// At or above this line percentage a number is "high" (green), as in genhtml and grcov.
pub const HIGH: f64 = 90.0;
/// At or above this it is "medium" (amber); below it is "low" (red).
pub const MEDIUM: f64 = 75.0;

/// The percentage with one decimal, rounded down so that 100.0 means everything was hit;
/// `-` when there is nothing to hit.
pub fn percent(c: Counter) -> String {
    if c.total == 0 {
        return "-".into();
    }
    // Integer arithmetic: tenths of a percent, rounded down.
    let tenths = (u128::from(c.hit.min(c.total)) * 1000) / u128::from(c.total);
    format!("{}.{}%", tenths / 10, tenths % 10)
}

/// The value used to sort by percentage (-1 when there is nothing to hit, so those go first).
pub fn sort_key(c: Counter) -> String {
    if c.total == 0 {
        return "-1".into();
    }
    let ppm = (u128::from(c.hit.min(c.total)) * 1_000_000) / u128::from(c.total);
    ppm.to_string()
}

/// The colour class of a counter: `hi`, `med`, `lo`, or `none` when there is nothing to hit.
pub fn class(c: Counter) -> &'static str {
    if c.total == 0 {
        return "none";
    }
    let p = c.percent();
    if p >= HIGH {
        "hi"
    } else if p >= MEDIUM {
        "med"
    } else {
        "lo"
    }
}

/// The width of a coverage bar, in whole percent (0..=100), rounded down.
pub fn bar_width(c: Counter) -> u64 {
    if c.total == 0 {
        0
    } else {
        ((u128::from(c.hit.min(c.total)) * 100) / u128::from(c.total)) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(hit: u64, total: u64) -> Counter {
        Counter { hit, total }
    }

    #[test]
    fn percent_rounds_down_so_that_only_full_coverage_shows_100() {
        assert_eq!(percent(c(9999, 10000)), "99.9%");
        assert_eq!(percent(c(10, 10)), "100.0%");
        assert_eq!(percent(c(1, 3)), "33.3%");
        assert_eq!(percent(c(0, 7)), "0.0%");
    }

    #[test]
    fn nothing_to_hit_shows_a_dash_and_no_colour() {
        assert_eq!(percent(c(0, 0)), "-");
        assert_eq!(class(c(0, 0)), "none");
        assert_eq!(bar_width(c(0, 0)), 0);
    }

    #[test]
    fn the_colour_scale_follows_the_genhtml_limits() {
        assert_eq!(class(c(90, 100)), "hi");
        assert_eq!(class(c(89, 100)), "med");
        assert_eq!(class(c(75, 100)), "med");
        assert_eq!(class(c(74, 100)), "lo");
    }

    #[test]
    fn huge_counters_do_not_overflow() {
        assert_eq!(percent(c(u64::MAX, u64::MAX)), "100.0%");
        assert_eq!(bar_width(c(u64::MAX / 2, u64::MAX)), 49);
        assert_eq!(sort_key(c(u64::MAX, u64::MAX)), "1000000");
    }

    #[test]
    fn a_corrupt_counter_with_more_hits_than_items_is_capped() {
        assert_eq!(percent(c(5, 3)), "100.0%");
        assert_eq!(bar_width(c(5, 3)), 100);
    }
}
