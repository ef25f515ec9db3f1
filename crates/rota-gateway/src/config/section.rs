//! Reading one TOML table, naming every field in errors and rejecting unknown keys.

use std::ops::RangeInclusive;
use std::time::Duration;

use toml::{Table, Value};

use super::ConfigError;
use super::limits::parse_duration;

/// One TOML table being read, remembering the keys used so unknown ones are rejected.
pub(super) struct Section<'a> {
    pub(super) table: &'a Table,
    path: String,
    pub(super) seen: Vec<String>,
}

impl<'a> Section<'a> {
    pub(super) fn new(table: &'a Table, path: &str) -> Self {
        Self {
            table,
            path: path.to_owned(),
            seen: Vec::new(),
        }
    }

    fn field(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn get(&mut self, key: &str) -> Option<&'a Value> {
        self.seen.push(key.to_owned());
        self.table.get(key)
    }

    fn wrong(&self, key: &str, expected: &str, v: &Value) -> ConfigError {
        ConfigError::new(
            self.field(key),
            format!("expected {expected}, found {}", v.type_str()),
        )
    }

    pub(super) fn string(&mut self, key: &str) -> Result<Option<String>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.wrong(key, "a string", v)),
        }
    }

    pub(super) fn integer(&mut self, key: &str) -> Result<Option<u64>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Integer(n)) => u64::try_from(*n).map(Some).map_err(|_| {
                ConfigError::new(self.field(key), format!("must not be negative (got {n})"))
            }),
            Some(v) => Err(self.wrong(key, "a non-negative integer", v)),
        }
    }

    /// An integer within `range` (`must be from A to B`, or `must be at least A` when the
    /// range has no upper end).
    pub(super) fn integer_in(
        &mut self,
        key: &str,
        range: RangeInclusive<u64>,
    ) -> Result<Option<u64>, ConfigError> {
        match self.integer(key)? {
            Some(n) if !range.contains(&n) => {
                let (min, max) = (range.start(), range.end());
                let message = if *max == u64::MAX {
                    format!("must be at least {min} (got {n})")
                } else {
                    format!("must be from {min} to {max} (got {n})")
                };
                Err(ConfigError::new(self.field(key), message))
            }
            n => Ok(n),
        }
    }

    /// A finite number (integer or float) within `range`.
    pub(super) fn number_in(
        &mut self,
        key: &str,
        range: RangeInclusive<f64>,
    ) -> Result<Option<f64>, ConfigError> {
        let n = match self.get(key) {
            None => return Ok(None),
            // Integers beyond 2^53 lose precision here; they are far out of any range anyway.
            Some(Value::Integer(n)) => *n as f64,
            Some(Value::Float(x)) => *x,
            Some(v) => return Err(self.wrong(key, "a number", v)),
        };
        if n.is_finite() && range.contains(&n) {
            Ok(Some(n))
        } else {
            let message = format!(
                "must be a number from {} to {} (got {n})",
                range.start(),
                range.end()
            );
            Err(ConfigError::new(self.field(key), message))
        }
    }

    /// A duration string (`"10s"`, `"2m"`, `"1h 30m"`), greater than zero and not absurdly
    /// large ([`parse_duration`]).
    pub(super) fn duration(&mut self, key: &str) -> Result<Option<Duration>, ConfigError> {
        match self.string(key)? {
            None => Ok(None),
            Some(text) => parse_duration(&text)
                .map(Some)
                .map_err(|m| ConfigError::new(self.field(key), m)),
        }
    }

    pub(super) fn strings(&mut self, key: &str) -> Result<Option<Vec<String>>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::String(s) => Ok(s.clone()),
                    v => Err(ConfigError::new(
                        format!("{}[{i}]", self.field(key)),
                        format!("expected a string, found {}", v.type_str()),
                    )),
                })
                .collect::<Result<_, _>>()
                .map(Some),
            Some(v) => Err(self.wrong(key, "an array of strings", v)),
        }
    }

    pub(super) fn table(&mut self, key: &str) -> Result<Option<&'a Table>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Table(t)) => Ok(Some(t)),
            Some(v) => Err(self.wrong(key, "a table", v)),
        }
    }

    /// Rejects keys that were never asked for.
    pub(super) fn finish(&mut self) -> Result<(), ConfigError> {
        let seen = &self.seen;
        match self.table.keys().find(|k| !seen.iter().any(|s| s == *k)) {
            None => Ok(()),
            Some(k) => Err(ConfigError::new(self.field(k), "unknown field")),
        }
    }
}
