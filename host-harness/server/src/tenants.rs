//! The operator's routes: tenants and their API keys (`/api/v1/tenants`).
//! Only the admin key reaches them; a key is shown once, when it is made,
//! and listed after by its prefix.

use super::Shared;
use super::api::invalid;
use super::connect::{TenantSettings, check_return_url};
use super::tenancy::{Caller, Scope};
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use credential_store::{ApiKeyRecord, StoreError, TenantRecord};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;

/// The longest a rotated key keeps working beside its successor.
const MAX_OVERLAP_SECS: u64 = 30 * 24 * 3600;

fn answer(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

pub(super) fn store_error(e: StoreError) -> Response {
    match e {
        StoreError::NoSuchTenant(_) | StoreError::NoSuchApiKey(_) => answer(
            StatusCode::NOT_FOUND,
            json!({"error": "not-found", "message": e.to_string()}),
        ),
        e if e.is_unavailable() => super::api::unavailable(&e),
        e => answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": "internal", "message": e.to_string()}),
        ),
    }
}

/// The refusal of everyone but the operator.
pub(super) fn not_admin(caller: &Caller) -> Option<Response> {
    match caller {
        Caller::Admin => None,
        Caller::Tenant { .. } => Some(answer(
            StatusCode::FORBIDDEN,
            json!({"error": "forbidden", "reason": "admin-only",
                   "message": "only the admin key (HOST_HARNESS_ADMIN_KEY) manages tenants and their keys"}),
        )),
    }
}

fn tenant_json(t: &TenantRecord) -> Value {
    let settings = TenantSettings::of(t);
    json!({"id": t.id, "name": t.name, "return_urls": settings.return_urls,
           "sign_in": settings.sign_in, "created_at": t.created_at})
}

/// What the operator changes of a tenant; what is left out stays.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct TenantChange {
    /// Where the tenant's connect sessions may send end users back to.
    #[serde(default)]
    return_urls: Option<Vec<String>>,
    /// Whether (and with which brands' apps) its users may sign in with X.
    #[serde(default)]
    sign_in: Option<super::sign_in::SignInSettings>,
}

#[utoipa::path(
    patch,
    path = "/tenants/{id}",
    tag = "tenants",
    summary = "Changes a tenant's return URLs and sign-in (admin key)",
    params(
        ("id" = String, Path, description = "The tenant's id"),
    ),
    request_body = TenantChange,
    responses(
        (status = 200, description = "The tenant", body = crate::openapi::Tenant),
        (status = "4XX", description = "Refused: the error says why (`field` names what to change)", body = crate::openapi::ApiError),
    )
)]
pub(super) async fn update_tenant(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Result<Json<TenantChange>, JsonRejection>,
) -> Response {
    if let Some(refused) = not_admin(&caller) {
        return refused;
    }
    let Json(change) = match body {
        Ok(body) => body,
        Err(rejection) => return invalid("", rejection.body_text()),
    };
    let store = state.manager.store();
    let tenant = match store.tenant(&id).await {
        Ok(tenant) => tenant,
        Err(e) => return store_error(e),
    };
    let mut settings = TenantSettings::of(&tenant);
    if let Some(urls) = change.return_urls {
        let mut checked = Vec::new();
        for (i, raw) in urls.iter().enumerate() {
            match check_return_url(&state.config.targets, raw.trim()) {
                Ok(url) => checked.push(url),
                Err(reason) => {
                    return invalid(&format!("return_urls[{i}]"), format!("`{raw}` {reason}"));
                }
            }
        }
        settings.return_urls = checked;
    }
    if let Some(sign_in) = change.sign_in {
        for (i, brand) in sign_in.brands.iter().enumerate() {
            if let Err(reason) = host_core::labels::check_label(brand) {
                return invalid(
                    &format!("sign_in.brands[{i}]"),
                    format!("`{brand}` {reason}"),
                );
            }
        }
        settings.sign_in = sign_in;
    }
    if let Err(e) = store.set_tenant_settings(&id, &settings.to_map()).await {
        return store_error(e);
    }
    match store.tenant(&id).await {
        Ok(tenant) => Json(tenant_json(&tenant)).into_response(),
        Err(e) => store_error(e),
    }
}

/// What may be shown of a key: never the key.
fn key_json(k: &ApiKeyRecord) -> Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    json!({
        "id": k.id,
        "prefix": k.prefix(),
        "scopes": k.scopes,
        "created_at": k.created_at,
        "expires_at": k.expires_at,
        "revoked_at": k.revoked_at,
        "live": k.is_live(now),
    })
}

/// A key just made: what is shown of any key, and the key itself, this
/// once.
fn new_key_json(key: &ApiKeyRecord, text: &secrecy::SecretString) -> Value {
    let mut shown = key_json(key);
    shown["key"] = json!(text.expose_secret());
    shown
}

/// A tenant to create.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewTenant {
    name: String,
}

#[utoipa::path(
    post,
    path = "/tenants",
    tag = "tenants",
    summary = "Creates a tenant (admin key)",
    request_body = NewTenant,
    responses(
        (status = 201, description = "The tenant", body = crate::openapi::Tenant),
        (status = "4XX", description = "Refused: the error says why (`field` names what to change)", body = crate::openapi::ApiError),
    )
)]
pub(super) async fn create_tenant(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<NewTenant>, JsonRejection>,
) -> Response {
    if let Some(refused) = not_admin(&caller) {
        return refused;
    }
    let Json(new) = match body {
        Ok(body) => body,
        Err(rejection) => return invalid("name", rejection.body_text()),
    };
    let name = new.name.trim();
    if name.is_empty() {
        return invalid("name", "must not be empty");
    }
    if let Err(reason) = host_core::labels::check_label(name) {
        return invalid("name", format!("`name` {reason}"));
    }
    match state.manager.store().create_tenant(name).await {
        Ok(tenant) => answer(StatusCode::CREATED, tenant_json(&tenant)),
        Err(e) => store_error(e),
    }
}

#[utoipa::path(
    get,
    path = "/tenants",
    tag = "tenants",
    summary = "Every tenant (admin key)",
    responses(
        (status = 200, description = "The tenants", body = crate::openapi::TenantList),
        (status = "4XX", description = "Refused: the error says why (`field` names what to change)", body = crate::openapi::ApiError),
    )
)]
pub(super) async fn list_tenants(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
) -> Response {
    if let Some(refused) = not_admin(&caller) {
        return refused;
    }
    match state.manager.store().tenants().await {
        Ok(list) => Json(json!({"tenants": list.iter().map(tenant_json).collect::<Vec<_>>()}))
            .into_response(),
        Err(e) => store_error(e),
    }
}

#[utoipa::path(
    get,
    path = "/tenants/{id}",
    tag = "tenants",
    summary = "One tenant (admin key)",
    params(
        ("id" = String, Path, description = "The tenant's id"),
    ),
    responses(
        (status = 200, description = "The tenant", body = crate::openapi::Tenant),
        (status = "4XX", description = "Refused: the error says why (`field` names what to change)", body = crate::openapi::ApiError),
    )
)]
pub(super) async fn show_tenant(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    if let Some(refused) = not_admin(&caller) {
        return refused;
    }
    match state.manager.store().tenant(&id).await {
        Ok(tenant) => Json(tenant_json(&tenant)).into_response(),
        Err(e) => store_error(e),
    }
}

/// A key to make: its scopes (all of them when left out).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewKey {
    #[serde(default)]
    scopes: Option<Vec<String>>,
}

#[utoipa::path(
    post,
    path = "/tenants/{id}/api-keys",
    tag = "tenants",
    summary = "Makes a key for a tenant, shown once (admin key)",
    params(
        ("id" = String, Path, description = "The tenant's id"),
    ),
    request_body = NewKey,
    responses(
        (status = 201, description = "The key, with `key` this once", body = crate::openapi::ApiKey),
        (status = "4XX", description = "Refused: the error says why (`field` names what to change)", body = crate::openapi::ApiError),
    )
)]
pub(super) async fn create_key(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Result<Json<NewKey>, JsonRejection>,
) -> Response {
    if let Some(refused) = not_admin(&caller) {
        return refused;
    }
    let new = match body {
        Ok(Json(new)) => new,
        Err(JsonRejection::MissingJsonContentType(_)) => {
            return invalid("scopes", "send `Content-Type: application/json`");
        }
        Err(rejection) => return invalid("scopes", rejection.body_text()),
    };
    let scopes = match new.scopes {
        None => Scope::ALL.iter().map(|s| s.as_str().to_string()).collect(),
        Some(list) if list.is_empty() => return invalid("scopes", "give at least one scope"),
        Some(list) => {
            if let Some(unknown) = list.iter().find(|s| Scope::parse(s).is_none()) {
                return invalid(
                    "scopes",
                    format!("`{unknown}` is not one of read, actions, subscriptions, connections"),
                );
            }
            list
        }
    };
    match state.manager.store().create_api_key(&id, &scopes).await {
        Ok((key, text)) => answer(StatusCode::CREATED, new_key_json(&key, &text)),
        Err(e) => store_error(e),
    }
}

#[utoipa::path(
    get,
    path = "/tenants/{id}/api-keys",
    tag = "tenants",
    summary = "A tenant's keys, by prefix (admin key)",
    params(
        ("id" = String, Path, description = "The tenant's id"),
    ),
    responses(
        (status = 200, description = "The keys", body = crate::openapi::ApiKeyList),
        (status = "4XX", description = "Refused: the error says why (`field` names what to change)", body = crate::openapi::ApiError),
    )
)]
pub(super) async fn list_keys(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    if let Some(refused) = not_admin(&caller) {
        return refused;
    }
    match state.manager.store().api_keys(&id).await {
        Ok(list) => {
            Json(json!({"api_keys": list.iter().map(key_json).collect::<Vec<_>>()})).into_response()
        }
        Err(e) => store_error(e),
    }
}

#[utoipa::path(
    delete,
    path = "/tenants/{id}/api-keys/{key}",
    tag = "tenants",
    summary = "Revokes a key at once (admin key)",
    params(
        ("id" = String, Path, description = "The tenant's id"),
        ("key" = String, Path, description = "The key's id"),
    ),
    responses(
        (status = 204, description = "Revoked"),
        (status = "4XX", description = "Refused: the error says why (`field` names what to change)", body = crate::openapi::ApiError),
    )
)]
pub(super) async fn revoke_key(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path((id, key_id)): Path<(String, String)>,
) -> Response {
    if let Some(refused) = not_admin(&caller) {
        return refused;
    }
    match state.manager.store().revoke_api_key(&id, &key_id).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => store_error(e),
    }
}

/// How long the old key keeps working beside the new one.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Rotation {
    #[serde(default)]
    overlap_secs: Option<u64>,
}

#[utoipa::path(
    post,
    path = "/tenants/{id}/api-keys/{key}/rotate",
    tag = "tenants",
    summary = "Replaces a key; the old one works for the overlap (admin key)",
    params(
        ("id" = String, Path, description = "The tenant's id"),
        ("key" = String, Path, description = "The key's id"),
    ),
    request_body = Rotation,
    responses(
        (status = 201, description = "The new key, with `key` this once", body = crate::openapi::ApiKey),
        (status = "4XX", description = "Refused: the error says why (`field` names what to change)", body = crate::openapi::ApiError),
    )
)]
pub(super) async fn rotate_key(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path((id, key_id)): Path<(String, String)>,
    body: Result<Json<Rotation>, JsonRejection>,
) -> Response {
    if let Some(refused) = not_admin(&caller) {
        return refused;
    }
    let rotation = match body {
        Ok(Json(rotation)) => rotation,
        Err(rejection) => return invalid("overlap_secs", rejection.body_text()),
    };
    let overlap = rotation.overlap_secs.unwrap_or(3600);
    if overlap > MAX_OVERLAP_SECS {
        return invalid(
            "overlap_secs",
            format!("must be at most {MAX_OVERLAP_SECS} seconds (30 days)"),
        );
    }
    match state
        .manager
        .store()
        .rotate_api_key(&id, &key_id, Duration::from_secs(overlap))
        .await
    {
        Ok((key, text)) => answer(StatusCode::CREATED, new_key_json(&key, &text)),
        Err(e) => store_error(e),
    }
}

/// Which of a tenant's levels: its own, or one of its brands'.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BrandQuery {
    #[serde(default)]
    brand: Option<String>,
}

/// App credential fields to set at a tenant's level (or a brand's in it);
/// a blank value removes the field there.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct AppCredentials {
    #[serde(default)]
    brand: Option<String>,
    fields: std::collections::BTreeMap<String, String>,
}

/// The level `brand` names inside tenant `id`, checked.
fn tenant_level(
    id: &str,
    brand: Option<&str>,
) -> Result<credential_store::AppCredentialLevel, Box<Response>> {
    use credential_store::AppCredentialLevel;
    match brand.map(str::trim).filter(|b| !b.is_empty()) {
        None => Ok(AppCredentialLevel::Tenant(id.to_string())),
        Some(brand) => {
            host_core::labels::check_label(brand)
                .map_err(|reason| Box::new(invalid("brand", format!("`brand` {reason}"))))?;
            Ok(AppCredentialLevel::TenantBrand {
                tenant: id.to_string(),
                brand: brand.to_string(),
            })
        }
    }
}

/// The auth method `method` of the connector, or the refusal naming it.
fn auth_method(
    state: &Shared,
    method: &str,
) -> Result<host_core::manifest::AuthMethod, Box<Response>> {
    let manifest = state.manager.manifest();
    manifest.auth_method(method).cloned().ok_or_else(|| {
        let offered: Vec<&str> = manifest.auth_methods.iter().map(|m| m.id.as_str()).collect();
        Box::new(answer(
            StatusCode::NOT_FOUND,
            json!({"error": "not-found", "message": format!("no auth method `{method}`; this connector offers {}", offered.join(", "))}),
        ))
    })
}

/// What may be shown of app credentials: a secret says only that it is
/// set, a Client ID or API Key shows its first characters.
fn shown_fields(
    fields: &std::collections::BTreeMap<String, credential_store::FieldValue>,
) -> Value {
    use credential_store::FieldValue;
    fields
        .iter()
        .map(|(name, value)| {
            let shown = match value {
                FieldValue::Secret(_) => "(set, hidden)".to_string(),
                FieldValue::Plain(v) if name == "client_id" || name == "api_key" => {
                    host_auth::connections::preview(v)
                }
                FieldValue::Plain(v) => v.clone(),
            };
            (name.clone(), json!(shown))
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// Sets a tenant's own app (Client ID and Secret, API Key and Secret) for
/// one auth method, for all its connections or a brand's.
#[utoipa::path(
    put,
    path = "/tenants/{id}/app-credentials/{method}",
    tag = "tenants",
    summary = "Sets the tenant's own app for an auth method (admin key)",
    params(
        ("id" = String, Path, description = "The tenant's id"),
        ("method" = String, Path, description = "The auth method's id, as the manifest names it"),
    ),
    request_body = AppCredentials,
    responses(
        (status = 200, description = "What is set there", body = crate::openapi::AppCredentialsShown),
        (status = "4XX", description = "Refused: the error says why (`field` names what to change)", body = crate::openapi::ApiError),
    )
)]
pub(super) async fn set_app_credentials(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path((id, method)): Path<(String, String)>,
    body: Result<Json<AppCredentials>, JsonRejection>,
) -> Response {
    use credential_store::FieldValue;
    if let Some(refused) = not_admin(&caller) {
        return refused;
    }
    let Json(given) = match body {
        Ok(body) => body,
        Err(rejection) => return invalid("fields", rejection.body_text()),
    };
    let store = state.manager.store();
    if let Err(e) = store.tenant(&id).await {
        return store_error(e);
    }
    let method = match auth_method(&state, &method) {
        Ok(method) => method,
        Err(refused) => return *refused,
    };
    let level = match tenant_level(&id, given.brand.as_deref()) {
        Ok(level) => level,
        Err(refused) => return *refused,
    };
    let mut values = std::collections::BTreeMap::new();
    for (name, value) in given.fields {
        let Some(field) = method.fields.iter().find(|f| f.name == name) else {
            let fields: Vec<&str> = method.fields.iter().map(|f| f.name.as_str()).collect();
            return invalid(
                &format!("fields.{name}"),
                format!(
                    "`{name}` is not a field of {}; it has {}",
                    method.label,
                    fields.join(", ")
                ),
            );
        };
        if field.fixed.is_some() {
            return invalid(
                &format!("fields.{name}"),
                format!("`{name}` is fixed by the manifest"),
            );
        }
        let value = if field.secret {
            FieldValue::Secret(secrecy::SecretString::from(value))
        } else {
            FieldValue::Plain(value)
        };
        values.insert(name, value);
    }
    let connector = &state.manager.manifest().id;
    if let Err(e) = store
        .set_app_credentials(connector, &method.id, &level, &values)
        .await
    {
        return store_error(e);
    }
    match store.app_credentials(connector, &method.id, &level).await {
        Ok(set) => {
            Json(json!({"method": method.id, "brand": given.brand, "fields": shown_fields(&set)}))
                .into_response()
        }
        Err(e) => store_error(e),
    }
}

/// What a tenant's level holds for one auth method (never a secret).
#[utoipa::path(
    get,
    path = "/tenants/{id}/app-credentials/{method}",
    tag = "tenants",
    summary = "The tenant's app for an auth method (admin key)",
    params(
        ("id" = String, Path, description = "The tenant's id"),
        ("method" = String, Path, description = "The auth method's id, as the manifest names it"),
        ("brand" = Option<String>, Query, description = "A brand's app rather than the tenant's"),
    ),
    responses(
        (status = 200, description = "What is set there", body = crate::openapi::AppCredentialsShown),
        (status = "4XX", description = "Refused: the error says why (`field` names what to change)", body = crate::openapi::ApiError),
    )
)]
pub(super) async fn show_app_credentials(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path((id, method)): Path<(String, String)>,
    axum::extract::Query(query): axum::extract::Query<BrandQuery>,
) -> Response {
    if let Some(refused) = not_admin(&caller) {
        return refused;
    }
    let store = state.manager.store();
    if let Err(e) = store.tenant(&id).await {
        return store_error(e);
    }
    let method = match auth_method(&state, &method) {
        Ok(method) => method,
        Err(refused) => return *refused,
    };
    let level = match tenant_level(&id, query.brand.as_deref()) {
        Ok(level) => level,
        Err(refused) => return *refused,
    };
    match store
        .app_credentials(&state.manager.manifest().id, &method.id, &level)
        .await
    {
        Ok(set) => {
            Json(json!({"method": method.id, "brand": query.brand, "fields": shown_fields(&set)}))
                .into_response()
        }
        Err(e) => store_error(e),
    }
}
