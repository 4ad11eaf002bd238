//! Human-friendly durations (`90s`, `15m`, `1h30m`) for manifest fields.
//!
//! The model stores `std::time::Duration` so consumers never parse strings; this module is the
//! one place that converts between the two, for serde and for the JSON Schema.

use std::fmt;
use std::time::Duration;

use schemars::gen::SchemaGenerator;
use schemars::schema::{InstanceType, Metadata, Schema, SchemaObject, StringValidation};
use serde::de::{self, Unexpected, Visitor};
use serde::{Deserializer, Serializer};
use thiserror::Error;

/// Why a duration string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DurationError {
    /// Nothing but whitespace.
    #[error("it is empty")]
    Empty,
    /// A number without a unit (`90`).
    #[error("`{number}` has no unit")]
    MissingUnit {
        /// The number.
        number: String,
    },
    /// A unit without a number (`m`).
    #[error("expected a number before `{unit}`")]
    MissingNumber {
        /// The unit.
        unit: String,
    },
    /// A unit other than ms, s, m, h, d.
    #[error("unknown unit `{unit}`")]
    UnknownUnit {
        /// The unit.
        unit: String,
    },
    /// Larger than `Duration` can hold.
    #[error("it is too large")]
    Overflow,
}

/// Units accepted by [`parse_duration`], longest suffix first so `ms` wins over `m`.
const UNITS: &[(&str, u64)] = &[
    ("ms", 1),
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
];

/// Parses `90s`, `15m`, `1h`, `1h30m`, `2d`, `500ms` (spaces between groups, and between a
/// number and its unit, are allowed).
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let s = text.trim();
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    let mut total_ms: u64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        rest = rest.trim_start();
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (number, after) = rest.split_at(digits);
        let after = after.trim_start();
        let unit_len = after
            .bytes()
            .take_while(|b| b.is_ascii_alphabetic())
            .count();
        let (unit, after) = after.split_at(unit_len);
        if number.is_empty() {
            let unit = if unit.is_empty() {
                after.chars().next().map(String::from).unwrap_or_default()
            } else {
                unit.to_owned()
            };
            return Err(DurationError::MissingNumber { unit });
        }
        if unit.is_empty() {
            return Err(DurationError::MissingUnit {
                number: number.to_owned(),
            });
        }
        let Some(&(_, scale)) = UNITS.iter().find(|(u, _)| *u == unit) else {
            return Err(DurationError::UnknownUnit {
                unit: unit.to_owned(),
            });
        };
        let n: u64 = number.parse().map_err(|_| DurationError::Overflow)?;
        total_ms = n
            .checked_mul(scale)
            .and_then(|v| total_ms.checked_add(v))
            .ok_or(DurationError::Overflow)?;
        rest = after;
    }
    Ok(Duration::from_millis(total_ms))
}

/// Formats a duration the way a user would write it (`1h30m`, `90s` → `1m30s`, `0s`).
/// Sub-millisecond precision is dropped; [`parse_duration`] reads the result back exactly.
pub fn format_duration(d: Duration) -> String {
    let mut ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    if ms == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, scale) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        let n = ms / scale;
        if n > 0 {
            out.push_str(&n.to_string());
            out.push_str(unit);
            ms %= scale;
        }
    }
    out
}

/// What a duration should look like, plus why this one was not.
struct ExpectedDuration(DurationError);

impl de::Expected for ExpectedDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a duration such as `90s`, `15m` or `1h30m` ({}; units: ms, s, m, h, d)",
            self.0
        )
    }
}

/// `#[serde(with = "…")]` adapter: a `Duration` as a human-friendly string.
pub(crate) mod human {
    use super::*;

    /// Writes `format_duration(d)`.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(*d))
    }

    /// Reads a string with `parse_duration`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as `90s`, `15m` or `1h30m`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                parse_duration(v)
                    .map_err(|e| E::invalid_value(Unexpected::Str(v), &ExpectedDuration(e)))
            }
        }
        d.deserialize_str(V)
    }
}

/// JSON Schema for a duration field: a string with the accepted grammar as its pattern.
pub(crate) fn schema(_: &mut SchemaGenerator) -> Schema {
    SchemaObject {
        instance_type: Some(InstanceType::String.into()),
        metadata: Some(Box::new(Metadata {
            description: Some(
                "A duration: number+unit groups, units ms, s, m, h, d (e.g. `90s`, `15m`, `1h30m`)."
                    .to_owned(),
            ),
            examples: vec!["15m".into(), "90s".into(), "1h30m".into()],
            ..Default::default()
        })),
        string: Some(Box::new(StringValidation {
            pattern: Some(r"^\s*([0-9]+\s*(ms|s|m|h|d)\s*)+$|\$\{".to_owned()),
            ..Default::default()
        })),
        ..Default::default()
    }
    .into()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration(" 1h 30m "), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
    }

    #[test]
    fn rejects_with_a_reason() {
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        assert_eq!(
            parse_duration("90"),
            Err(DurationError::MissingUnit {
                number: "90".into()
            })
        );
        assert_eq!(
            parse_duration("15 minutes"),
            Err(DurationError::UnknownUnit {
                unit: "minutes".into()
            })
        );
        assert_eq!(
            parse_duration("m"),
            Err(DurationError::MissingNumber { unit: "m".into() })
        );
        assert_eq!(
            parse_duration("1.5h"),
            Err(DurationError::MissingUnit { number: "1".into() })
        );
        assert_eq!(
            parse_duration("99999999999999999999d"),
            Err(DurationError::Overflow)
        );
    }

    #[test]
    fn formats_canonically() {
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_secs(900)), "15m");
        assert_eq!(format_duration(Duration::ZERO), "0s");
        assert_eq!(format_duration(Duration::from_millis(3_600_500)), "1h500ms");
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(ms in 0u64..10_000_000_000) {
            let d = Duration::from_millis(ms);
            prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }

        #[test]
        fn never_panics(s in "\\PC{0,20}") {
            let _ = parse_duration(&s);
        }
    }
}
