//! Collecting several pages into one output: a list action given `limit`
//! fetches pages until it has that many items or X has no more, sizing each
//! request so that none asks for fewer than the endpoint's minimum and the
//! total never passes the limit; the output's `next_token` resumes after
//! the last item returned.

use super::model::PostPage;
use crate::error::{ConnectorError, invalid_input};
use crate::input::{check_length, check_range};
use serde_json::{Map, Value};

/// The most items one action collects.
pub const MAX_LIMIT: u32 = 1000;

/// An endpoint's bounds for `max_results`.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub min: u32,
    pub max: u32,
}

/// Pagination tokens are short opaque strings; anything longer is a mistake.
const TOKEN_MAX: usize = 256;

/// Checks one page's `max_results` against the endpoint's bounds, and the
/// page token given as `token_field`.
pub fn check_page(
    max_results: Option<u32>,
    bounds: Bounds,
    token_field: &str,
    token: Option<&str>,
) -> Result<(), ConnectorError> {
    check_range("max_results", max_results, bounds.min, bounds.max)?;
    check_length(token_field, token, TOKEN_MAX)
}

/// Checks a caller's `limit` against the endpoint's bounds.
pub fn check_limit(limit: Option<u32>, bounds: Bounds) -> Result<(), ConnectorError> {
    match limit {
        Some(n) if n < bounds.min || n > MAX_LIMIT => Err(invalid_input(
            "limit",
            format!("must be between {} and {MAX_LIMIT}, got {n}", bounds.min),
        )),
        _ => Ok(()),
    }
}

/// How many items to ask for next, with `remaining` still wanted: as many
/// as a page holds, but leaving at least `min` for the last request.
pub fn next_request(remaining: u32, bounds: Bounds) -> u32 {
    if remaining <= bounds.max {
        remaining.max(bounds.min)
    } else if remaining - bounds.max < bounds.min {
        remaining - bounds.min
    } else {
        bounds.max
    }
}

/// A page of a list that several pages can be collected into.
pub trait Page: Sized {
    /// How many items the page holds.
    fn items(&self) -> usize;
    /// The token of the page after this one.
    fn next_token(&self) -> Option<String>;
    /// Appends a later page, which brings its own next token and rate limit.
    fn append(&mut self, later: Self);
}

impl Page for PostPage {
    fn items(&self) -> usize {
        self.posts.len()
    }

    fn next_token(&self) -> Option<String> {
        self.next_token.clone()
    }

    fn append(&mut self, later: PostPage) {
        self.result_count += later.result_count;
        self.oldest_id = later.oldest_id.or(self.oldest_id.take());
        self.next_token = later.next_token;
        self.rate_limit = later.rate_limit;
        merge_includes(&mut self.includes, later.includes);
        self.partial_errors.extend(later.partial_errors);
        self.posts.extend(later.posts);
    }
}

/// One page as the caller sized it, or, given `limit`, pages until
/// `limit` items or the last page; `fetch` gets the page size (`None` for
/// X's default) and the token of the page to get.
pub fn one_or_many<P: Page>(
    limit: Option<u32>,
    bounds: Bounds,
    max_results: Option<u32>,
    token: Option<String>,
    mut fetch: impl FnMut(Option<u32>, Option<String>) -> Result<P, ConnectorError>,
) -> Result<P, ConnectorError> {
    match limit {
        None => fetch(max_results, token),
        Some(limit) => collect(limit, bounds, token, |n, t| fetch(Some(n), t)),
    }
}

/// Fetches pages until `limit` items or the last page; `fetch` gets the
/// page size and the token of the page to get.
fn collect<P: Page>(
    limit: u32,
    bounds: Bounds,
    first_token: Option<String>,
    mut fetch: impl FnMut(u32, Option<String>) -> Result<P, ConnectorError>,
) -> Result<P, ConnectorError> {
    let mut all = fetch(next_request(limit, bounds), first_token)?;
    loop {
        let have = all.items() as u32;
        let Some(token) = all.next_token() else {
            return Ok(all);
        };
        if have >= limit {
            return Ok(all);
        }
        let page = fetch(next_request(limit - have, bounds), Some(token))?;
        let empty = page.items() == 0;
        all.append(page);
        if empty {
            return Ok(all);
        }
    }
}

/// Adds the objects of `more` to `into`, once each (by `id`, or `media_key`).
fn merge_includes(into: &mut Map<String, Value>, more: Map<String, Value>) {
    for (kind, objects) in more {
        let Value::Array(objects) = objects else {
            continue;
        };
        let entry = into.entry(kind).or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(existing) = entry {
            for object in objects {
                let key = |o: &Value| o.get("id").or_else(|| o.get("media_key")).cloned();
                if !existing
                    .iter()
                    .any(|e| key(e).is_some() && key(e) == key(&object))
                {
                    existing.push(object);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_never_go_below_the_minimum_nor_past_the_limit() {
        let b = Bounds { min: 5, max: 100 };
        for limit in 5..=MAX_LIMIT {
            let mut left = limit;
            while left > 0 {
                let n = next_request(left, b);
                assert!((b.min..=b.max).contains(&n), "limit {limit}: asked {n}");
                assert!(n <= left, "limit {limit}: asked {n} with {left} left");
                left -= n;
            }
        }
    }
}
