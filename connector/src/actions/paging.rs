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

/// Checks a list's `limit`, `max_results` and `pagination_token` against
/// the endpoint's bounds: what every input paged by `pagination_token`
/// checks.
pub fn check_paging(
    bounds: Bounds,
    limit: Option<u32>,
    max_results: Option<u32>,
    token: Option<&str>,
) -> Result<(), ConnectorError> {
    check_limit(limit, bounds)?;
    check_page(max_results, bounds, "pagination_token", token)
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

/// How many items to ask for next, with `remaining` still wanted: a page
/// of `page` items (the caller's `max_results`, or the endpoint's most),
/// unless that would leave less than the endpoint's minimum for the last
/// request: then the rest at once if a request may hold it, else all but
/// the minimum.
pub fn next_request(remaining: u32, bounds: Bounds, page: u32) -> u32 {
    let page = page.clamp(bounds.min, bounds.max);
    if remaining <= page {
        remaining.max(bounds.min)
    } else if remaining - page >= bounds.min {
        page
    } else if remaining <= bounds.max {
        remaining
    } else {
        remaining - bounds.min
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
    /// Records a problem met while collecting, among the page's partial
    /// errors.
    fn note(&mut self, problem: Value);
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

    fn note(&mut self, problem: Value) {
        self.partial_errors.push(problem);
    }
}

/// One page as the caller sized it, or, given `limit`, pages until
/// `limit` items or the last page, each of `max_results` items if given;
/// `fetch` gets the page size (`None` for X's default) and the token of
/// the page to get.
pub fn one_or_many<P: Page>(
    limit: Option<u32>,
    bounds: Bounds,
    max_results: Option<u32>,
    token: Option<String>,
    mut fetch: impl FnMut(Option<u32>, Option<String>) -> Result<P, ConnectorError>,
) -> Result<P, ConnectorError> {
    match limit {
        None => fetch(max_results, token),
        Some(limit) => {
            let page = max_results.unwrap_or(bounds.max);
            collect(limit, bounds, page, token, |n, t| fetch(Some(n), t))
        }
    }
}

/// Fetches pages of `page` items until `limit` items or the last page;
/// `fetch` gets the page size and the token of the page to get. A token X
/// gives again ends the reading, said among the partial errors, rather
/// than reading the same page again.
fn collect<P: Page>(
    limit: u32,
    bounds: Bounds,
    page: u32,
    first_token: Option<String>,
    mut fetch: impl FnMut(u32, Option<String>) -> Result<P, ConnectorError>,
) -> Result<P, ConnectorError> {
    let mut all = fetch(next_request(limit, bounds, page), first_token.clone())?;
    let mut used: Vec<String> = first_token.into_iter().collect();
    loop {
        let have = all.items() as u32;
        let Some(token) = all.next_token() else {
            return Ok(all);
        };
        if have >= limit {
            return Ok(all);
        }
        if used.contains(&token) {
            all.note(serde_json::json!({
                "title": "Paging stopped",
                "detail": format!("X gave the pagination token {token} again; the pages after it were not read, so fewer than `limit` items may be here"),
            }));
            return Ok(all);
        }
        used.push(token.clone());
        let next = fetch(next_request(limit - have, bounds, page), Some(token))?;
        let empty = next.items() == 0;
        all.append(next);
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
            for page in [5, 7, 50, 100] {
                let mut left = limit;
                while left > 0 {
                    let n = next_request(left, b, page);
                    assert!(
                        n <= page || n == left,
                        "limit {limit}, page {page}: asked {n}"
                    );
                    assert!((b.min..=b.max).contains(&n), "limit {limit}: asked {n}");
                    assert!(n <= left, "limit {limit}: asked {n} with {left} left");
                    left -= n;
                }
            }
        }
    }

    /// A page of numbers, for the collecting tests.
    #[derive(Debug, Default)]
    struct Numbers {
        items: Vec<u32>,
        next: Option<String>,
        notes: Vec<Value>,
    }

    impl Page for Numbers {
        fn items(&self) -> usize {
            self.items.len()
        }
        fn next_token(&self) -> Option<String> {
            self.next.clone()
        }
        fn append(&mut self, later: Numbers) {
            self.items.extend(later.items);
            self.next = later.next;
        }
        fn note(&mut self, problem: Value) {
            self.notes.push(problem);
        }
    }

    #[test]
    fn a_token_given_again_stops_the_reading_and_says_so() {
        let b = Bounds { min: 1, max: 100 };
        let mut calls = 0;
        // X answers every page with the same token.
        let got = one_or_many(Some(50), b, Some(10), None, |_, _| {
            calls += 1;
            Ok(Numbers {
                items: (0..10).collect(),
                next: Some("same".into()),
                notes: Vec::new(),
            })
        })
        .unwrap();
        assert_eq!(calls, 2);
        assert_eq!(got.items.len(), 20);
        assert_eq!(got.notes.len(), 1);
        assert!(got.notes[0]["detail"].as_str().unwrap().contains("same"));
    }

    #[test]
    fn max_results_given_with_limit_sizes_each_page() {
        let b = Bounds { min: 5, max: 100 };
        let mut sizes = Vec::new();
        let got = one_or_many(Some(25), b, Some(10), None, |n, t: Option<String>| {
            let n = n.unwrap();
            sizes.push(n);
            let at: u32 = t.map_or(0, |t| t.parse().unwrap());
            Ok(Numbers {
                items: (at..at + n).collect(),
                next: Some((at + n).to_string()),
                notes: Vec::new(),
            })
        })
        .unwrap();
        assert_eq!(sizes, [10, 10, 5]);
        assert_eq!(got.items, (0..25).collect::<Vec<_>>());
        assert!(got.notes.is_empty());
    }
}
