//! Query parameters, checked as X checks them: unknown or repeated names,
//! numbers out of range and malformed ids are refused with a 400 that names
//! the parameter.

use crate::ids::from_base36;
use crate::problem::invalid_parameter;
use axum::response::Response;
use chrono::{DateTime, Utc};

/// The query parameters of one request.
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Parses `raw` and refuses names not in `allowed` and repeated names.
    pub fn parse(raw: Option<&str>, allowed: &[&str]) -> Result<Params, Response> {
        let pairs: Vec<(String, String)> = raw
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        for (i, (name, value)) in pairs.iter().enumerate() {
            if !allowed.contains(&name.as_str()) {
                return Err(invalid_parameter(
                    name,
                    value,
                    &format!(
                        "The query parameter [{name}] is not one of [{}]",
                        allowed.join(",")
                    ),
                ));
            }
            if pairs[..i].iter().any(|(n, _)| n == name) {
                return Err(invalid_parameter(
                    name,
                    value,
                    &format!("Duplicate parameters are not allowed: the `{name}` query parameter"),
                ));
            }
        }
        Ok(Params { pairs })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// An integer in `min..=max`, or `default` when absent.
    pub fn int(&self, name: &str, min: u32, max: u32, default: u32) -> Result<u32, Response> {
        let Some(value) = self.get(name) else {
            return Ok(default);
        };
        match value.parse::<u32>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(invalid_parameter(
                name,
                value,
                &format!(
                    "The `{name}` query parameter value [{value}] is not between {min} and {max}"
                ),
            )),
        }
    }

    /// A post or user id.
    pub fn id(&self, name: &str) -> Result<Option<u64>, Response> {
        self.get(name).map(|v| parse_id(name, v)).transpose()
    }

    /// A pagination token the emulator issued.
    pub fn token(&self, name: &str) -> Result<Option<u64>, Response> {
        self.get(name)
            .map(|v| {
                from_base36(v).ok_or_else(|| {
                    invalid_parameter(
                        name,
                        v,
                        &format!("The `{name}` query parameter value [{v}] is not a valid pagination token"),
                    )
                })
            })
            .transpose()
    }

    /// An RFC 3339 timestamp.
    pub fn time(&self, name: &str) -> Result<Option<DateTime<Utc>>, Response> {
        self.get(name)
            .map(|v| {
                DateTime::parse_from_rfc3339(v)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| {
                        invalid_parameter(
                            name,
                            v,
                            &format!("The `{name}` query parameter value [{v}] is not a valid RFC 3339 date-time: YYYY-MM-DDTHH:mm:ssZ"),
                        )
                    })
            })
            .transpose()
    }
}

/// Parses an id path or query value: 1 to 19 digits.
pub fn parse_id(name: &str, value: &str) -> Result<u64, Response> {
    if (1..=19).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_digit())
        && let Ok(id) = value.parse()
    {
        return Ok(id);
    }
    Err(invalid_parameter(
        name,
        value,
        &format!("The `{name}` query parameter value [{value}] does not match ^[0-9]{{1,19}}$"),
    ))
}
