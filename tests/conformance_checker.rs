//! The OpenAPI conformance check catches what it should: otherwise the
//! end-to-end tests that rely on it would prove nothing.

mod support;

use support::openapi::spec;
use x_emulator::Exchange;

fn exchange(
    method: &str,
    path: &str,
    query: Option<&str>,
    body: &str,
    status: u16,
    content_type: &str,
    answer: &str,
) -> Exchange {
    Exchange {
        method: method.into(),
        path: path.into(),
        query: query.map(str::to_string),
        request_headers: vec![],
        request_body: body.as_bytes().to_vec(),
        request_body_len: body.len(),
        status,
        response_content_type: Some(content_type.into()),
        response_body: answer.as_bytes().to_vec(),
    }
}

#[test]
fn a_conforming_exchange_passes() {
    let e = exchange(
        "GET",
        "/2/users/me",
        Some("user.fields=created_at,description"),
        "",
        200,
        "application/json",
        r#"{"data": {"id": "1", "name": "A", "username": "a", "created_at": "2020-01-01T00:00:00.000Z"}}"#,
    );
    assert_eq!(spec().check(&e), Vec::<String>::new());
}

#[test]
fn departures_are_each_reported() {
    let cases = [
        exchange(
            "GET",
            "/2/users/me",
            Some("colour=red"),
            "",
            200,
            "application/json",
            r#"{"data": {"id": "1", "name": "A", "username": "a"}}"#,
        ),
        exchange(
            "GET",
            "/2/users/me",
            Some("user.fields=shoe_size"),
            "",
            200,
            "application/json",
            r#"{"data": {"id": "1", "name": "A", "username": "a"}}"#,
        ),
        exchange(
            "GET",
            "/2/users/me",
            None,
            "",
            200,
            "application/json",
            r#"{"data": {"id": "1"}}"#,
        ),
        exchange(
            "GET",
            "/2/tweets/search/recent",
            Some("query=a&max_results=5"),
            "",
            200,
            "application/json",
            r#"{"meta": {"result_count": 0}}"#,
        ),
        exchange(
            "GET",
            "/2/tweets/search/recent",
            None,
            "",
            200,
            "application/json",
            r#"{"meta": {"result_count": 0}}"#,
        ),
        exchange(
            "POST",
            "/2/tweets",
            None,
            r#"{"text": "a", "colour": 1}"#,
            201,
            "application/json",
            r#"{"data": {"id": "1", "text": "a"}}"#,
        ),
        exchange(
            "POST",
            "/2/tweets",
            None,
            r#"{"text": "a"}"#,
            201,
            "application/json",
            r#"{"data": {"id": "x1", "text": "a"}}"#,
        ),
        exchange(
            "DELETE",
            "/2/tweets/abc",
            None,
            "",
            200,
            "application/json",
            r#"{"data": {"deleted": true}}"#,
        ),
        exchange(
            "GET",
            "/2/users/me",
            None,
            "",
            401,
            "application/problem+json",
            r#"{"detail": "no type or title"}"#,
        ),
        exchange(
            "GET",
            "/2/teleport",
            None,
            "",
            200,
            "application/json",
            "{}",
        ),
        exchange("GET", "/2/users/me", None, "", 200, "text/html", "<html>"),
    ];
    for case in &cases {
        assert!(!spec().check(case).is_empty(), "not caught: {case:?}");
    }
}
