//! Time formats Azure writes on the wire (RFC 3339, ARM's `M/d/yyyy h:mm:ss tt`, Entra's
//! seven-digit fractions).
//!
//! Why a leaf module: the model (resource JSON `createdAt`, `timeCreated`), authentication (401
//! messages) and every service print times; keeping the formats here lets all of them reach
//! down to one place instead of into each other.

/// `M/d/yyyy h:mm:ss tt` in UTC, as ARM writes times in ExpiredAuthenticationToken.
pub fn arm_time(unix: f64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(unix as i64)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let (h, ampm) = match t.hour() {
        0 => (12, "AM"),
        h @ 1..=11 => (h, "AM"),
        12 => (12, "PM"),
        h => (h - 12, "PM"),
    };
    format!(
        "{}/{}/{} {}:{:02}:{:02} {}",
        u8::from(t.month()),
        t.day(),
        t.year(),
        h,
        t.minute(),
        t.second(),
        ampm
    )
}

/// RFC 3339 UTC with seconds (`2024-01-01T00:00:00Z`).
pub fn iso_time(unix: f64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(unix as i64)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// `2024-01-01T00:00:00.0000000Z`, the way Entra prints times in AADSTS messages.
pub fn aad_time(unix: f64) -> String {
    iso_time(unix).replace('Z', ".0000000Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arm_time_format() {
        // 2026-06-15 08:22:51 UTC
        assert_eq!(arm_time(1781511771.0), "6/15/2026 8:22:51 AM");
        assert_eq!(arm_time(0.0), "1/1/1970 12:00:00 AM");
        assert_eq!(iso_time(0.0), "1970-01-01T00:00:00Z");
        assert_eq!(aad_time(0.0), "1970-01-01T00:00:00.0000000Z");
    }
}
