//! Wall-clock timestamps as the W4119 peer writes them, `"YYYY-MM-DD HH:MM:SS"` in UTC, without
//! a date library: the civil date is computed from the day count (Howard Hinnant's algorithm).

use std::time::{SystemTime, UNIX_EPOCH};

/// The current time as `"YYYY-MM-DD HH:MM:SS"`, UTC.
pub fn now_timestamp() -> String {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0);
    format_timestamp(seconds)
}

/// `seconds` since the Unix epoch as `"YYYY-MM-DD HH:MM:SS"`, UTC.
pub fn format_timestamp(seconds: u64) -> String {
    let days = (seconds / 86_400) as i64;
    let in_day = seconds % 86_400;
    // Days since 0000-03-01, so that leap days fall at the end of each 400-year era.
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        in_day / 3_600,
        in_day % 3_600 / 60,
        in_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        // Expected values from python3: time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(s)).
        assert_eq!(format_timestamp(0), "1970-01-01 00:00:00");
        assert_eq!(format_timestamp(946_684_800), "2000-01-01 00:00:00");
        assert_eq!(format_timestamp(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(format_timestamp(1_735_732_805), "2025-01-01 12:00:05");
        assert_eq!(format_timestamp(4_102_444_799), "2099-12-31 23:59:59");
    }
}
