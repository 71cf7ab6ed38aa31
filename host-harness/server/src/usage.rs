//! The usage report (`GET /api/v1/usage`): what a tenant's connections
//! consumed at the API, in the API's billing units, added up from the
//! ledger every run writes to, over a range of UTC days and grouped as
//! the platform bills (by connection, operation or day). The operator reads
//! any tenant's (`GET /api/v1/tenants/{id}/usage`).

use super::Shared;
use super::api::{self, invalid};
use super::tenancy::{Caller, Scope};
use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use credential_store::UsageEntry;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// The longest range one report covers, and the default one, in days.
const MAX_RANGE_DAYS: i64 = 366;
const DEFAULT_RANGE_DAYS: i64 = 30;

/// What a report may be grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GroupBy {
    Connection,
    Operation,
    Day,
}

impl GroupBy {
    fn parse(text: &str) -> Option<GroupBy> {
        match text {
            "connection" => Some(GroupBy::Connection),
            "operation" => Some(GroupBy::Operation),
            "day" => Some(GroupBy::Day),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            GroupBy::Connection => "connection",
            GroupBy::Operation => "operation",
            GroupBy::Day => "day",
        }
    }

    fn of(self, entry: &UsageEntry) -> &str {
        match self {
            GroupBy::Connection => &entry.connection_id,
            GroupBy::Operation => &entry.operation,
            GroupBy::Day => &entry.day,
        }
    }
}

/// A report's range and grouping, checked.
struct Request {
    from: NaiveDate,
    to: NaiveDate,
    group_by: Vec<GroupBy>,
}

/// The parameter at fault, and why.
type Fault = (String, String);

fn fault(field: &str, message: impl Into<String>) -> Fault {
    (field.to_string(), message.into())
}

fn parse(query: &[(String, String)]) -> Result<Request, Fault> {
    let day = |field: &str, text: &str| {
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map_err(|_| fault(field, format!("`{text}` is not a day as YYYY-MM-DD (UTC)")))
    };
    let mut from = None;
    let mut to = None;
    let mut group_by = Vec::new();
    for (name, value) in query {
        match name.as_str() {
            "from" => from = Some(day("from", value)?),
            "to" => to = Some(day("to", value)?),
            "group_by" => {
                for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    let Some(by) = GroupBy::parse(part) else {
                        return Err(fault(
                            "group_by",
                            format!("`{part}` is not one of connection, operation, day"),
                        ));
                    };
                    if !group_by.contains(&by) {
                        group_by.push(by);
                    }
                }
            }
            other => {
                return Err(fault(
                    other,
                    format!("`{other}` is not one of from, to, group_by"),
                ));
            }
        }
    }
    let to = to.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let from = from.unwrap_or(to - chrono::Duration::days(DEFAULT_RANGE_DAYS - 1));
    if from > to {
        return Err(fault("from", "must not be after `to`"));
    }
    if (to - from).num_days() >= MAX_RANGE_DAYS {
        return Err(fault(
            "from",
            format!("a report covers at most {MAX_RANGE_DAYS} days"),
        ));
    }
    Ok(Request { from, to, group_by })
}

/// Adds `entries` up: the totals by unit, and the same per group.
fn report(request: &Request, entries: &[UsageEntry]) -> Value {
    let mut totals: BTreeMap<&str, u64> = BTreeMap::new();
    let mut groups: BTreeMap<Vec<&str>, BTreeMap<&str, u64>> = BTreeMap::new();
    for entry in entries {
        *totals.entry(&entry.unit).or_default() += entry.amount;
        if !request.group_by.is_empty() {
            let key = request.group_by.iter().map(|by| by.of(entry)).collect();
            *groups
                .entry(key)
                .or_default()
                .entry(&entry.unit)
                .or_default() += entry.amount;
        }
    }
    let groups: Vec<Value> = groups
        .into_iter()
        .map(|(key, usage)| {
            let mut group = Map::new();
            for (by, value) in request.group_by.iter().zip(key) {
                group.insert(by.name().into(), json!(value));
            }
            group.insert("usage".into(), json!(usage));
            Value::Object(group)
        })
        .collect();
    json!({
        "from": request.from.format("%Y-%m-%d").to_string(),
        "to": request.to.format("%Y-%m-%d").to_string(),
        "group_by": request.group_by.iter().map(|b| b.name()).collect::<Vec<_>>(),
        "totals": totals,
        "groups": groups,
    })
}

async fn answer(state: &Shared, tenant: Option<&str>, query: &[(String, String)]) -> Response {
    let request = match parse(query) {
        Ok(request) => request,
        Err((field, message)) => return invalid(&field, message),
    };
    let (from, to) = (
        request.from.format("%Y-%m-%d").to_string(),
        request.to.format("%Y-%m-%d").to_string(),
    );
    match state.manager.store().usage(tenant, &from, &to).await {
        Ok(entries) => Json(report(&request, &entries)).into_response(),
        Err(e) => api::store_error(e),
    }
}

/// The caller's own tenant's usage.
#[utoipa::path(
    get,
    path = "/usage",
    tag = "usage",
    summary = "The caller's usage over UTC days",
    params(
        ("from" = Option<String>, Query, description = "First day, YYYY-MM-DD (default: 29 days before `to`)"),
        ("to" = Option<String>, Query, description = "Last day, YYYY-MM-DD (default: today)"),
        ("group_by" = Option<String>, Query, description = "Comma-separated: connection, operation, day"),
    ),
    responses(
        (status = 200, description = "The totals and groups", body = crate::openapi::UsageReport),
        (status = "4XX", description = "Refused: the error says why (`field` names what to change)", body = crate::openapi::ApiError),
    )
)]
pub(super) async fn usage(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    if let Some(refused) = api::refusal(&caller, Scope::Read) {
        return refused;
    }
    let tenant = caller.tenant().cloned().flatten();
    answer(&state, tenant.as_deref(), &query).await
}

/// A tenant's usage, for the operator who bills it.
#[utoipa::path(
    get,
    path = "/tenants/{id}/usage",
    tag = "usage",
    summary = "A tenant's usage (admin key)",
    params(
        ("id" = String, Path, description = "The tenant's id"),
        ("from" = Option<String>, Query, description = "First day, YYYY-MM-DD"),
        ("to" = Option<String>, Query, description = "Last day, YYYY-MM-DD"),
        ("group_by" = Option<String>, Query, description = "Comma-separated: connection, operation, day"),
    ),
    responses(
        (status = 200, description = "The totals and groups", body = crate::openapi::UsageReport),
        (status = "4XX", description = "Refused: the error says why (`field` names what to change)", body = crate::openapi::ApiError),
    )
)]
pub(super) async fn tenant_usage(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    if let Some(refused) = super::tenants::not_admin(&caller) {
        return refused;
    }
    if let Err(e) = state.manager.store().tenant(&id).await {
        return super::tenants::store_error(e);
    }
    answer(&state, Some(&id), &query).await
}
