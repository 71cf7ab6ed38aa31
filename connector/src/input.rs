//! Parsing an action's JSON input, with errors that name the field.
//!
//! Inputs are Rust types with `#[serde(deny_unknown_fields)]`; the same types
//! produce the published JSON Schemas. serde reports *what* is wrong and at
//! which line and column; this module turns both into an `invalid-input`
//! whose `field` is a path such as `reply.in_reply_to` or `media_ids[2]`
//! (see `json_path`).

use crate::error::{ConnectorError, invalid_input};
use crate::json_path;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use std::borrow::Cow;

/// Rules that a type cannot express, checked after parsing.
pub trait Validate {
    /// Checks the parsed input; the error names the field.
    fn validate(&self) -> Result<(), ConnectorError> {
        Ok(())
    }
}

/// Parses `text` as `T` and validates it. Empty text stands for `{}`, so an
/// action without required fields runs without input.
pub fn parse<T: DeserializeOwned + Validate>(text: &str) -> Result<T, ConnectorError> {
    let text = if text.trim().is_empty() { "{}" } else { text };
    // serde would accept an array for a struct, field by position.
    if !text.trim_start().starts_with('{') {
        return Err(match serde_json::from_str::<serde_json::Value>(text) {
            Ok(_) => invalid_input("", "the input must be a JSON object"),
            Err(e) => invalid_input(
                "",
                format!(
                    "input is not valid JSON: {}",
                    strip_position(&e.to_string())
                ),
            ),
        });
    }
    let value: T = serde_json::from_str(text).map_err(|e| {
        let offset = json_path::offset_of(text, e.line(), e.column());
        describe(&json_path::path_at(text, offset), &e)
    })?;
    value.validate()?;
    Ok(value)
}

fn describe(path: &str, error: &serde_json::Error) -> ConnectorError {
    let message = error.to_string();
    let message = strip_position(&message);
    if error.is_syntax() || error.is_eof() {
        return invalid_input("", format!("input is not valid JSON: {message}"));
    }
    if quoted_after(message, "unknown field ").is_some() {
        // The path already ends with the unknown field's name.
        let expected = message
            .split_once(", expected ")
            .map(|(_, rest)| format!("; expected {rest}"))
            .unwrap_or_default();
        return invalid_input(path, format!("unknown field{expected}"));
    }
    if let Some(name) = quoted_after(message, "missing field ") {
        return invalid_input(join(path, name), "is required");
    }
    invalid_input(path, message)
}

/// The name in backquotes right after `prefix`, as serde words it.
fn quoted_after<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = message.strip_prefix(prefix)?.strip_prefix('`')?;
    rest.split('`').next()
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// serde_json appends " at line L column C"; the field path says more.
fn strip_position(message: &str) -> &str {
    match message.rfind(" at line ") {
        Some(i) => &message[..i],
        None => message,
    }
}

/// Deserializes a string and checks it with `check` while the parser still
/// knows where the string is, so that a refusal names its field (see
/// `json_path`): an error raised after deserializing has no position.
pub fn checked_str<'de, D: Deserializer<'de>, T>(
    deserializer: D,
    check: fn(&str) -> Result<T, String>,
) -> Result<T, D::Error> {
    struct Checked<T>(fn(&str) -> Result<T, String>);
    impl<T> serde::de::Visitor<'_> for Checked<T> {
        type Value = T;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<T, E> {
            (self.0)(text).map_err(E::custom)
        }
    }
    deserializer.deserialize_str(Checked(check))
}

/// The numeric id of a post or user, as X writes it: 1 to 19 digits, in a
/// string so that no JSON number rounds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Id(String);

impl Id {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Checks an id the host passed as a plain string, naming `field`.
    pub fn parse(field: &str, text: &str) -> Result<Id, ConnectorError> {
        Id::deserialize(serde_json::Value::String(text.to_string()))
            .map_err(|e| invalid_input(field, e.to_string()))
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        checked_str(deserializer, |text| {
            if (1..=19).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit()) {
                Ok(Id(text.to_string()))
            } else {
                Err(format!(
                    "`{}` is not an X id: expected a string of 1 to 19 digits",
                    text.chars().take(40).collect::<String>()
                ))
            }
        })
    }
}

impl JsonSchema for Id {
    fn schema_name() -> Cow<'static, str> {
        "Id".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[0-9]{1,19}$",
            "description": "A post or user id: 1 to 19 digits, as a string."
        })
    }
}

/// A moment as X takes it: RFC 3339 with a time zone, such as
/// `2026-11-20T09:30:00Z` or `2026-11-20T10:30:00.000+01:00`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timestamp {
    text: String,
    unix: i64,
}

impl Timestamp {
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Seconds since the Unix epoch.
    pub fn unix(&self) -> i64 {
        self.unix
    }

    fn parse(text: &str) -> Option<Timestamp> {
        let b = text.as_bytes();
        let digits = |from: usize, to: usize| -> Option<i64> {
            let part = text.get(from..to)?;
            part.bytes()
                .all(|c| c.is_ascii_digit())
                .then(|| part.parse().ok())?
        };
        if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
            return None;
        }
        if b[13] != b':' || b[16] != b':' {
            return None;
        }
        let (year, month, day) = (digits(0, 4)?, digits(5, 7)?, digits(8, 10)?);
        let (hour, minute, second) = (digits(11, 13)?, digits(14, 16)?, digits(17, 19)?);
        let mut rest = &text[19..];
        if let Some(fraction) = rest.strip_prefix('.') {
            let n = fraction.bytes().take_while(u8::is_ascii_digit).count();
            if n == 0 {
                return None;
            }
            rest = &fraction[n..];
        }
        let offset = match rest {
            "Z" | "z" => 0,
            _ => {
                let sign = match rest.as_bytes().first()? {
                    b'+' => 1,
                    b'-' => -1,
                    _ => return None,
                };
                if rest.len() != 6 || rest.as_bytes()[3] != b':' {
                    return None;
                }
                let (h, m) = (digits_of(&rest[1..3])?, digits_of(&rest[4..6])?);
                if h > 23 || m > 59 {
                    return None;
                }
                sign * (h * 3600 + m * 60)
            }
        };
        let days_in_month = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
            2 => 28,
            _ => return None,
        };
        if day < 1 || day > days_in_month || hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        let unix = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
            - offset;
        Some(Timestamp {
            text: text.to_string(),
            unix,
        })
    }
}

fn digits_of(text: &str) -> Option<i64> {
    text.bytes()
        .all(|c| c.is_ascii_digit())
        .then(|| text.parse().ok())?
}

/// Seconds since 1970-01-01 by the host's clock.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `unix` seconds as RFC 3339 in UTC, as X takes times: `2026-12-02T10:00:00Z`
/// (Howard Hinnant's `civil_from_days`).
pub fn format_rfc3339(unix: i64) -> String {
    let (days, secs) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar
/// (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        checked_str(deserializer, |text| {
            Timestamp::parse(text).ok_or_else(|| {
                format!(
                    "`{}` is not an RFC 3339 date-time such as 2026-11-20T09:30:00Z",
                    text.chars().take(40).collect::<String>()
                )
            })
        })
    }
}

impl JsonSchema for Timestamp {
    fn schema_name() -> Cow<'static, str> {
        "Timestamp".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "format": "date-time",
            "description": "An RFC 3339 date-time with a time zone, such as 2026-11-20T09:30:00Z."
        })
    }
}

/// Checks that `start` comes before `end` when both are given.
pub fn check_order(
    start: Option<&Timestamp>,
    end: Option<&Timestamp>,
) -> Result<(), ConnectorError> {
    match (start, end) {
        (Some(s), Some(e)) if s.unix() >= e.unix() => Err(invalid_input(
            "end_time",
            format!("must be after start_time ({})", s.as_str()),
        )),
        _ => Ok(()),
    }
}

/// Checks that `since` is older than `until` when both are given.
pub fn check_id_order(since: Option<&Id>, until: Option<&Id>) -> Result<(), ConnectorError> {
    let number = |id: &Id| id.as_str().parse::<u64>().unwrap_or(u64::MAX);
    match (since, until) {
        (Some(s), Some(u)) if number(s) >= number(u) => Err(invalid_input(
            "until_id",
            "must be a newer post than since_id (a larger id)",
        )),
        _ => Ok(()),
    }
}

/// Checks that an optional number lies in `min..=max`.
pub fn check_range(
    field: &str,
    value: Option<u32>,
    min: u32,
    max: u32,
) -> Result<(), ConnectorError> {
    match value {
        Some(v) if v < min || v > max => Err(invalid_input(
            field,
            format!("must be between {min} and {max}, got {v}"),
        )),
        _ => Ok(()),
    }
}

/// Checks that an optional string is not empty and at most `max` characters long.
pub fn check_length(field: &str, value: Option<&str>, max: usize) -> Result<(), ConnectorError> {
    match value {
        Some(v) if v.trim().is_empty() => Err(invalid_input(field, "must not be empty")),
        Some(v) if v.chars().count() > max => Err(invalid_input(
            field,
            format!(
                "must be at most {max} characters, got {}",
                v.chars().count()
            ),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::InvalidInput;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        id: Id,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        text: String,
        #[serde(default)]
        count: Option<u32>,
        #[serde(default)]
        reply: Option<Inner>,
        #[serde(default)]
        ids: Vec<Id>,
    }

    impl Validate for Sample {
        fn validate(&self) -> Result<(), ConnectorError> {
            check_range("count", self.count, 5, 100)
        }
    }

    fn refused(input: &str) -> InvalidInput {
        match parse::<Sample>(input) {
            Err(ConnectorError::InvalidInput(i)) => i,
            other => panic!("expected invalid-input for {input}, got {other:?}"),
        }
    }

    #[test]
    fn names_the_field_of_each_mistake() {
        assert_eq!(refused(r#"{}"#).field, "text");
        assert_eq!(refused(r#"{"text": 5}"#).field, "text");
        assert_eq!(refused(r#"{"text": "a", "colour": 1}"#).field, "colour");
        assert_eq!(
            refused(r#"{"text": "a", "reply": {"id": "x1"}}"#).field,
            "reply.id"
        );
        assert_eq!(
            refused(r#"{"text": "a", "reply": {"id": "1", "extra": true}}"#).field,
            "reply.extra"
        );
        assert_eq!(
            refused(r#"{"text": "a", "ids": ["1", "2", "three"]}"#).field,
            "ids[2]"
        );
        assert_eq!(refused(r#"{"text": "a", "count": 1}"#).field, "count");
        assert_eq!(refused(r#"{"text": "a", "count": -1}"#).field, "count");
    }

    #[test]
    fn malformed_json_and_non_objects_are_refused_as_a_whole() {
        let i = refused(r#"{"text": "#);
        assert_eq!(i.field, "");
        assert!(i.reason.contains("not valid JSON"), "{}", i.reason);
        assert_eq!(refused(r#"[1, 2]"#).field, "");
        assert_eq!(refused(r#"{"text": "a"} trailing"#).field, "");
    }

    #[test]
    fn unknown_field_reason_lists_the_expected_ones() {
        let i = refused(r#"{"text": "a", "colour": 1}"#);
        assert!(i.reason.contains("expected one of"), "{}", i.reason);
    }

    #[test]
    fn formatted_times_read_back_as_the_same_instant() {
        for unix in [0, 951_782_400, 1_798_000_000, 4_102_444_799] {
            let text = format_rfc3339(unix);
            assert_eq!(Timestamp::parse(&text).unwrap().unix, unix, "{text}");
        }
        assert_eq!(format_rfc3339(1_796_212_800), "2026-12-02T12:00:00Z");
    }

    #[test]
    fn timestamps_are_rfc_3339_with_a_zone() {
        let t = |s: &str| Timestamp::parse(s).map(|t| t.unix());
        assert_eq!(t("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(t("2026-11-20T09:30:00Z"), Some(1_795_167_000));
        assert_eq!(t("2026-11-20T10:30:00.123+01:00"), Some(1_795_167_000));
        assert_eq!(t("2024-02-29T00:00:00Z"), Some(1_709_164_800));
        for bad in [
            "2026-11-20",
            "2026-11-20T09:30:00",
            "2026-13-01T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2026-11-20T24:00:00Z",
            "2026-11-20T09:30:00+0100",
            "2026-11-20T09:30:00.Z",
            "yesterday",
        ] {
            assert_eq!(t(bad), None, "{bad}");
        }
    }

    #[test]
    fn accepts_a_valid_input() {
        let s = parse::<Sample>(r#"{"text": "a", "count": 10, "reply": {"id": "123"}}"#).unwrap();
        assert_eq!(s.reply.unwrap().id.as_str(), "123");
    }
}
