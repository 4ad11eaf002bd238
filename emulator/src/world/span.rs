//! Durations in the world file and the admin API: `30s`, `2m`, `500ms`, or a uniform range
//! `60s..120s` sampled per use.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration or a uniform range of durations, in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Span {
    /// Lower bound (seconds).
    pub min: f64,
    /// Upper bound (seconds), `== min` for a fixed duration.
    pub max: f64,
}

impl Span {
    /// A fixed duration.
    pub fn fixed(secs: f64) -> Span {
        Span {
            min: secs,
            max: secs,
        }
    }

    /// One sample, uniform in `[min, max]`.
    pub fn sample(&self) -> f64 {
        if self.max <= self.min {
            return self.min;
        }
        use rand::Rng;
        rand::thread_rng().gen_range(self.min..=self.max)
    }

    /// Parses `"30s"`, `"5m"`, `"250ms"`, `"1h"`, `"2"` (in `default_unit` seconds) or `"a..b"`.
    pub fn parse(s: &str, default_unit: f64) -> Result<Span, String> {
        let s = s.trim();
        let (a, b) = match s.split_once("..") {
            Some((a, b)) => (a, b),
            None => (s, s),
        };
        let min = parse_duration(a, default_unit)?;
        let max = parse_duration(b, default_unit)?;
        if max < min {
            return Err(format!(
                "range '{s}' has its upper bound below its lower bound"
            ));
        }
        Ok(Span { min, max })
    }

    fn render(&self, unit: f64, suffix: &str) -> String {
        let f = |v: f64| {
            let x = v / unit;
            if x.fract() == 0.0 {
                format!("{}{suffix}", x as i64)
            } else {
                format!("{x}{suffix}")
            }
        };
        if self.min == self.max {
            f(self.min)
        } else {
            format!("{}..{}", f(self.min), f(self.max))
        }
    }
}

fn parse_duration(s: &str, default_unit: f64) -> Result<f64, String> {
    let s = s.trim();
    let (num, mult) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (s, default_unit)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a duration (use e.g. 30s, 5m, 250ms, 1h or a..b)"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("'{s}' must be a non-negative duration"));
    }
    Ok(v * mult)
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NumOrStr {
    Num(f64),
    Str(String),
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.render(1.0, "s"))
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match NumOrStr::deserialize(d)? {
            NumOrStr::Num(n) => Span::parse(&n.to_string(), 1.0),
            NumOrStr::Str(s) => Span::parse(&s, 1.0),
        }
        .map_err(serde::de::Error::custom)
    }
}

/// A latency range in milliseconds (bare numbers are milliseconds), stored as seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LatencyMs(pub Span);

impl Serialize for LatencyMs {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.render(0.001, ""))
    }
}

impl<'de> Deserialize<'de> for LatencyMs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match NumOrStr::deserialize(d)? {
            NumOrStr::Num(n) => Span::parse(&n.to_string(), 0.001),
            NumOrStr::Str(s) => Span::parse(&s, 0.001),
        }
        .map(LatencyMs)
        .map_err(serde::de::Error::custom)
    }
}
