//! Checks exchanges against X's OpenAPI specification (`tests/x-api/openapi.json`):
//! the operation exists for the method and path; every query parameter is
//! declared and its value fits its schema; required parameters are present;
//! the request body fits the operation's body schema; the status is one the
//! operation declares (or its `default`); and the answer fits the schema of
//! that status and content type.
//!
//! One defect of the specification is corrected as it is read: a schema
//! that requires a member it does not define (the media upload answers
//! require a `meta` they never describe, and X does not send) has that
//! requirement dropped, as X's own SDK models do.

use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use x_emulator::Exchange;

const SPEC: &str = include_str!("../x-api/openapi.json");

/// Newer SDKs send `post.fields` where the specification says `tweet.fields`;
/// X accepts both.
const PARAMETER_ALIASES: &[(&str, &str)] = &[("post.fields", "tweet.fields")];

pub struct OpenApi {
    spec: Value,
    validators: Mutex<HashMap<String, std::sync::Arc<jsonschema::Validator>>>,
}

/// The specification, parsed once per test process.
pub fn spec() -> &'static OpenApi {
    static SPEC_CELL: OnceLock<OpenApi> = OnceLock::new();
    SPEC_CELL.get_or_init(|| {
        let mut spec =
            serde_json::from_str(SPEC).expect("the vendored OpenAPI specification is JSON");
        drop_undefined_requirements(&mut spec);
        drop_patterns_that_refuse_their_enum(&mut spec);
        OpenApi {
            spec,
            validators: Mutex::new(HashMap::new()),
        }
    })
}

/// Removes from every object schema's `required` the members its
/// `properties` do not define.
fn drop_undefined_requirements(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let (Some(Value::Object(properties)), Some(Value::Array(required))) =
                (map.get("properties").cloned(), map.get_mut("required"))
            {
                required.retain(|r| r.as_str().is_some_and(|name| properties.contains_key(name)));
            }
            for child in map.values_mut() {
                drop_undefined_requirements(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(drop_undefined_requirements),
        _ => {}
    }
}

/// Removes a string schema's `pattern` when it refuses a value of the same
/// schema's `enum`: the specification's reply settings allow
/// `mentionedUsers` by name and refuse it by a 12-letter pattern, and X
/// answers `mentionedUsers`.
fn drop_patterns_that_refuse_their_enum(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let (Some(Value::String(pattern)), Some(Value::Array(values))) =
                (map.get("pattern"), map.get("enum"))
            {
                let regex = regex::Regex::new(pattern).ok();
                let refuses = |v: &Value| {
                    v.as_str()
                        .zip(regex.as_ref())
                        .is_some_and(|(text, re)| !re.is_match(text))
                };
                if values.iter().any(refuses) {
                    map.remove("pattern");
                }
            }
            for child in map.values_mut() {
                drop_patterns_that_refuse_their_enum(child);
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(drop_patterns_that_refuse_their_enum),
        _ => {}
    }
}

impl OpenApi {
    /// Every way `exchange` departs from the specification; empty when it fits.
    pub fn check(&self, exchange: &Exchange) -> Vec<String> {
        self.check_parts(exchange, true)
    }

    /// Like [`OpenApi::check`]; the request is checked only if `request`.
    pub fn check_parts(&self, exchange: &Exchange, request: bool) -> Vec<String> {
        let mut problems = Vec::new();
        let label = format!("{} {}", exchange.method, exchange.path);
        let Some((template, operation)) = self.operation(&exchange.method, &exchange.path) else {
            return vec![format!("{label}: no such operation in the specification")];
        };
        if request {
            self.check_request(&mut problems, &label, template, operation, exchange);
        }
        self.check_answer(&mut problems, &label, operation, exchange);
        problems
    }

    fn check_request(
        &self,
        problems: &mut Vec<String>,
        label: &str,
        template: &str,
        operation: &Value,
        exchange: &Exchange,
    ) {
        let parameters = self.parameters(template, operation);

        // Path parameters.
        for (name, value) in path_values(template, &exchange.path) {
            match parameters
                .iter()
                .find(|p| p["in"] == "path" && p["name"] == name)
            {
                Some(p) => self.check_value(
                    problems,
                    label,
                    &format!("path parameter `{name}`"),
                    &p["schema"],
                    json!(value),
                ),
                None => problems.push(format!("{label}: path parameter `{name}` is not declared")),
            }
        }

        // Query parameters.
        let query: Vec<(String, String)> = exchange
            .query
            .as_deref()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        for (name, value) in &query {
            let declared_name = PARAMETER_ALIASES
                .iter()
                .find(|(alias, _)| alias == name)
                .map(|(_, canonical)| *canonical)
                .unwrap_or(name);
            let Some(p) = parameters
                .iter()
                .find(|p| p["in"] == "query" && p["name"] == declared_name)
            else {
                problems.push(format!("{label}: query parameter `{name}` is not declared"));
                continue;
            };
            let schema = &p["schema"];
            let instance = match schema["type"].as_str() {
                Some("array") => Value::Array(
                    value
                        .split(',')
                        .map(|v| typed(&schema["items"], v))
                        .collect(),
                ),
                _ => typed(schema, value),
            };
            self.check_value(
                problems,
                label,
                &format!("query parameter `{name}`"),
                schema,
                instance,
            );
        }
        for p in &parameters {
            if p["required"] == true
                && p["in"] == "query"
                && !query.iter().any(|(n, _)| p["name"] == n.as_str())
            {
                problems.push(format!(
                    "{label}: required query parameter {} is missing",
                    p["name"]
                ));
            }
        }

        // Request body.
        match operation.get("requestBody") {
            Some(body) => {
                if exchange.request_body.is_empty() {
                    if body["required"] == true {
                        problems.push(format!("{label}: the request body is required"));
                    }
                } else if let Some(declared) = non_json_body(exchange) {
                    // A multipart form (a media segment): the content type
                    // must be one the operation declares, with its parts.
                    let media = declared.split(';').next().unwrap_or("").trim();
                    match body["content"].get(media) {
                        None => problems.push(format!(
                            "{label}: the request body's content type `{media}` is not declared"
                        )),
                        Some(content) => {
                            let text = String::from_utf8_lossy(&exchange.request_body);
                            for part in required_members(&content["schema"], &self.spec) {
                                if !text.contains(&format!("name=\"{part}\"")) {
                                    problems.push(format!(
                                        "{label}: the multipart body has no `{part}` part"
                                    ));
                                }
                            }
                        }
                    }
                } else if exchange.request_body.len() < exchange.request_body_len {
                    problems.push(format!(
                        "{label}: a JSON body of {} bytes is too long to check",
                        exchange.request_body_len
                    ));
                } else {
                    match serde_json::from_slice::<Value>(&exchange.request_body) {
                        Ok(value) => self.check_value(
                            problems,
                            label,
                            "request body",
                            &body["content"]["application/json"]["schema"],
                            value,
                        ),
                        Err(e) => {
                            problems.push(format!("{label}: the request body is not JSON: {e}"))
                        }
                    }
                }
            }
            None if !exchange.request_body.is_empty() => problems.push(format!(
                "{label}: the operation takes no body, and one was sent"
            )),
            None => {}
        }
    }

    fn check_answer(
        &self,
        problems: &mut Vec<String>,
        label: &str,
        operation: &Value,
        exchange: &Exchange,
    ) {
        let status = exchange.status.to_string();
        let responses = &operation["responses"];
        let Some(response) = responses.get(&status).or_else(|| responses.get("default")) else {
            problems.push(format!("{label}: status {status} is not declared"));
            return;
        };
        let content_type = exchange
            .response_content_type
            .as_deref()
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim();
        match response.get("content") {
            None if exchange.response_body.is_empty() => {}
            None => problems.push(format!(
                "{label}: status {status} declares no body, and one came"
            )),
            Some(content) => match content.get(content_type) {
                None => problems.push(format!(
                    "{label}: status {status} does not declare content type `{content_type}`"
                )),
                Some(media) => match serde_json::from_slice::<Value>(&exchange.response_body) {
                    Ok(value) => self.check_value(
                        problems,
                        label,
                        &format!("{status} answer"),
                        &media["schema"],
                        value,
                    ),
                    Err(e) => {
                        problems.push(format!("{label}: the {status} answer is not JSON: {e}"))
                    }
                },
            },
        }
    }

    /// The OAuth 2.0 scopes X's specification lists for the operation of
    /// `method path`, and whether the operation accepts an app-only token.
    pub fn security(&self, method: &str, path: &str) -> Option<(Vec<String>, bool)> {
        let (_, operation) = self.operation(method, path)?;
        let mut scopes = Vec::new();
        let mut app_only = false;
        for requirement in operation["security"].as_array().into_iter().flatten() {
            if let Some(list) = requirement.get("OAuth2UserToken").and_then(Value::as_array) {
                scopes.extend(list.iter().filter_map(Value::as_str).map(str::to_string));
            }
            app_only |= requirement.get("BearerToken").is_some();
        }
        Some((scopes, app_only))
    }

    /// The path template and operation for `method path`, preferring the
    /// template with the most literal segments (`/2/users/me` over `/2/users/{id}`).
    fn operation(&self, method: &str, path: &str) -> Option<(&str, &Value)> {
        let paths = self.spec["paths"].as_object()?;
        let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
        let mut best: Option<(&str, &Value, usize)> = None;
        for (template, item) in paths {
            let pattern: Vec<&str> = template.split('/').collect();
            if pattern.len() != segments.len() {
                continue;
            }
            let mut literal = 0;
            let fits = pattern.iter().zip(&segments).all(|(p, s)| {
                if p.starts_with('{') {
                    !s.is_empty()
                } else {
                    literal += 1;
                    p == s
                }
            });
            if !fits {
                continue;
            }
            if let Some(op) = item.get(method.to_ascii_lowercase())
                && best.is_none_or(|(_, _, l)| literal > l)
            {
                best = Some((template, op, literal));
            }
        }
        best.map(|(t, op, _)| (t, op))
    }

    /// The operation's parameters, with `$ref`s resolved, and the path item's.
    fn parameters(&self, template: &str, operation: &Value) -> Vec<Value> {
        let mut out = Vec::new();
        let shared = &self.spec["paths"][template]["parameters"];
        for list in [shared, &operation["parameters"]] {
            for p in list.as_array().into_iter().flatten() {
                out.push(self.resolve(p).clone());
            }
        }
        out
    }

    fn resolve<'a>(&'a self, value: &'a Value) -> &'a Value {
        match value.get("$ref").and_then(Value::as_str) {
            Some(pointer) => self
                .spec
                .pointer(pointer.trim_start_matches('#'))
                .unwrap_or(&Value::Null),
            None => value,
        }
    }

    fn check_value(
        &self,
        problems: &mut Vec<String>,
        label: &str,
        what: &str,
        schema: &Value,
        instance: Value,
    ) {
        let validator = self.validator(schema);
        let errors: Vec<String> = validator
            .iter_errors(&instance)
            .take(3)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        if !errors.is_empty() {
            problems.push(format!(
                "{label}: {what} does not fit the specification: {}",
                errors.join("; ")
            ));
        }
    }

    /// A validator for `schema`, whose `$ref`s point into the specification's
    /// components. OpenAPI 3.0 schemas are JSON Schema draft 4 with extras.
    fn validator(&self, schema: &Value) -> std::sync::Arc<jsonschema::Validator> {
        let key = schema.to_string();
        if let Some(v) = self.validators.lock().unwrap().get(&key) {
            return v.clone();
        }
        let root = json!({ "allOf": [schema], "components": self.spec["components"] });
        let validator = std::sync::Arc::new(
            jsonschema::options()
                .with_draft(jsonschema::Draft::Draft4)
                .build(&root)
                .unwrap_or_else(|e| panic!("cannot compile a schema of the specification: {e}")),
        );
        self.validators
            .lock()
            .unwrap()
            .insert(key, validator.clone());
        validator
    }
}

/// A query value typed as its schema says, for validation.
fn typed(schema: &Value, value: &str) -> Value {
    match schema["type"].as_str() {
        Some("integer") => value
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| json!(value)),
        Some("number") => value
            .parse::<f64>()
            .map(Value::from)
            .unwrap_or_else(|_| json!(value)),
        Some("boolean") => value
            .parse::<bool>()
            .map(Value::from)
            .unwrap_or_else(|_| json!(value)),
        _ => json!(value),
    }
}

fn path_values<'a>(template: &'a str, path: &'a str) -> Vec<(&'a str, &'a str)> {
    template
        .split('/')
        .zip(path.split('/'))
        .filter_map(|(t, v)| {
            t.strip_prefix('{')
                .and_then(|n| n.strip_suffix('}'))
                .map(|n| (n, v))
        })
        .collect()
}

/// Panics with every departure from the specification in `traffic`.
pub fn assert_conforms(traffic: &[Exchange]) {
    assert_conforming(traffic, |_| true);
}

/// Like [`assert_conforms`], for traffic that includes requests made invalid
/// on purpose: a request answered 400 is not checked, its answer is.
pub fn assert_conforms_but_refused_requests(traffic: &[Exchange]) {
    assert_conforming(traffic, |e| e.status != 400);
}

fn assert_conforming(traffic: &[Exchange], check_request: impl Fn(&Exchange) -> bool) {
    assert!(!traffic.is_empty(), "no traffic was recorded");
    let spec = spec();
    let problems: Vec<String> = traffic
        .iter()
        .flat_map(|e| spec.check_parts(e, check_request(e)))
        .collect();
    assert!(
        problems.is_empty(),
        "{} of {} exchanges depart from X's OpenAPI specification:\n{}",
        problems.len(),
        traffic.len(),
        problems.join("\n")
    );
}

/// The request's content type when it is not JSON.
fn non_json_body(exchange: &Exchange) -> Option<&str> {
    exchange
        .request_headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        .map(|(_, value)| value.as_str())
        .filter(|value| !value.to_ascii_lowercase().contains("json"))
}

/// The members every alternative of an object schema requires (following
/// `$ref`, `anyOf` and `oneOf`).
fn required_members(schema: &Value, spec: &Value) -> Vec<String> {
    let schema = resolve(schema, spec);
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        return required
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect();
    }
    let alternatives = schema
        .get("anyOf")
        .or_else(|| schema.get("oneOf"))
        .and_then(Value::as_array);
    let Some(alternatives) = alternatives else {
        return Vec::new();
    };
    let mut sets = alternatives.iter().map(|a| required_members(a, spec));
    let first = sets.next().unwrap_or_default();
    let rest: Vec<Vec<String>> = sets.collect();
    first
        .into_iter()
        .filter(|m| rest.iter().all(|set| set.contains(m)))
        .collect()
}

fn resolve<'a>(schema: &'a Value, spec: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => spec
            .pointer(reference.trim_start_matches('#'))
            .map(|target| resolve(target, spec))
            .unwrap_or(schema),
        None => schema,
    }
}
