//! The MCP server's own OAuth 2.1 authorization server, as the MCP
//! specification asks of a remote server: clients register themselves
//! (RFC 7591), send the user to consent with PKCE (S256 only), and receive
//! the host's own tokens, never the API's. A token is bound to one
//! tenant's connection, the tools the user granted, the client and this
//! resource (RFC 8707).
//!
//! Nothing here needs a row of its own but what must be used once: an
//! access token and a registered client's id are sealed with the store's
//! keys (any node opens them, nothing is kept per token), while codes and
//! refresh tokens are single-use grants in the store, taken by exactly
//! one node. A refresh token is rotated at each use; all of a
//! connection's grants go when it is deleted, and its access tokens stop
//! at the next request (the connection is read then).

use crate::grant::{Grant, ToolSet};
use base64::Engine;
use credential_store::{Store, StoreError};
use host_auth::http::HostHttp;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How an access token starts, so a request's bearer is known for one
/// before anything is opened.
pub const ACCESS_TOKEN_PREFIX: &str = "hhmcp_";
/// How a registered client's id starts.
const CLIENT_ID_PREFIX: &str = "hhmcpc_";
/// The scope that asks for the tools the user grants.
pub const SCOPE: &str = "mcp";
/// The scope that asks for the tools that change nothing only.
pub const READ_ONLY_SCOPE: &str = "mcp:read-only";

/// An access token lasts an hour: revoking the connection stops it at once
/// anyway, and the client refreshes it without the user.
pub const ACCESS_LIFETIME: Duration = Duration::from_secs(3600);
/// A refresh token is used once within 30 days.
pub const REFRESH_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);
/// A code is exchanged at once, or never.
pub const CODE_LIFETIME: Duration = Duration::from_secs(120);

/// Bounds on what a client may register, so a client id stays short.
const MAX_REDIRECT_URIS: usize = 10;
const MAX_URI_LEN: usize = 2000;
const MAX_NAME_LEN: usize = 200;
/// A metadata document is small (the draft suggests 5 KB).
const MAX_DOCUMENT_LEN: usize = 5 * 1024;

/// What a client asks to be registered with (RFC 7591 §2); what this
/// server does not use is accepted and ignored.
#[derive(Debug, Default, Deserialize)]
pub struct ClientRegistration {
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub client_name: Option<String>,
    #[serde(default)]
    pub grant_types: Option<Vec<String>>,
    #[serde(default)]
    pub response_types: Option<Vec<String>>,
    #[serde(default)]
    pub token_endpoint_auth_method: Option<String>,
}

/// A client's metadata document (draft-ietf-oauth-client-id-metadata-document).
#[derive(Debug, Deserialize)]
struct ClientDocument {
    client_id: String,
    #[serde(default)]
    client_name: Option<String>,
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    grant_types: Option<Vec<String>>,
    #[serde(default)]
    response_types: Option<Vec<String>>,
    #[serde(default)]
    token_endpoint_auth_method: Option<String>,
    #[serde(default)]
    client_secret: Option<serde_json::Value>,
}

/// A registered client, as its id carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisteredClient {
    /// What the consent page calls it (the client's own word, shown as
    /// such).
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub issued_at: i64,
}

/// What an access token, a code and a refresh token give.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrantClaims {
    /// The connection's tenant; `None` for the default tenant.
    pub tenant: Option<String>,
    pub connection: String,
    /// The tools granted, as [`ToolSet`] writes them.
    pub tools: String,
    pub client_id: String,
    /// The resource the tokens are for (this server's MCP endpoint).
    pub resource: String,
    pub scope: String,
}

/// An access token's claims: a grant and when it ends.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AccessClaims {
    #[serde(flatten)]
    grant: GrantClaims,
    expires_at: i64,
}

/// A code's claims: the grant, and what the token request must repeat.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CodeClaims {
    #[serde(flatten)]
    grant: GrantClaims,
    redirect_uri: String,
    code_challenge: String,
}

/// An OAuth error as RFC 6749 §5.2 and RFC 7591 §3.2.2 send it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code}: {description}")]
pub struct OAuthError {
    /// `invalid_request`, `invalid_grant`, `invalid_client`,
    /// `invalid_redirect_uri`, `invalid_client_metadata`, ...
    pub code: &'static str,
    pub description: String,
}

impl OAuthError {
    fn new(code: &'static str, description: impl Into<String>) -> OAuthError {
        OAuthError {
            code,
            description: description.into(),
        }
    }

    /// The JSON body of the error.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"error": self.code, "error_description": self.description})
    }
}

/// Why a token request failed: the client's mistake, or the store's.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(transparent)]
    OAuth(#[from] OAuthError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the token endpoint answers (RFC 6749 §5.1).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub refresh_token: String,
    pub scope: String,
}

/// The authorization server of one MCP endpoint, over the store every
/// node shares.
#[derive(Clone)]
pub struct Authorizer {
    store: Arc<Store>,
    /// The issuer: the server's public origin.
    issuer: String,
    /// The MCP endpoint's URL, the one resource tokens are for.
    resource: String,
    /// Fetches clients' metadata documents, when they may be used: a
    /// client that gives for `client_id` the https URL of its metadata.
    documents: Option<HostHttp>,
}

impl Authorizer {
    /// The authorization server at `origin`, for the MCP endpoint at
    /// `origin` + `mcp_path`.
    pub fn new(store: Arc<Store>, origin: &str, mcp_path: &str) -> Authorizer {
        let issuer = origin.trim_end_matches('/').to_string();
        Authorizer {
            resource: format!("{issuer}{mcp_path}"),
            issuer,
            store,
            documents: None,
        }
    }

    /// The same, also taking clients identified by the URL of their
    /// metadata document (OAuth Client ID Metadata Documents), fetched
    /// with `http`: a client that holds `https` to the addresses users'
    /// URLs may reach, and follows no redirect.
    pub fn with_metadata_documents(mut self, http: HostHttp) -> Authorizer {
        self.documents = Some(http);
        self
    }

    /// Whether clients may be identified by their metadata document's URL.
    pub fn takes_metadata_documents(&self) -> bool {
        self.documents.is_some()
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// Registers a public client (this server issues no client secrets:
    /// PKCE proves the client), or says which field is wrong.
    pub fn register(
        &self,
        request: ClientRegistration,
    ) -> Result<(String, RegisteredClient), OAuthError> {
        let client = self.checked(request)?;
        let text = serde_json::to_string(&client).expect("a client serializes");
        let id = format!(
            "{CLIENT_ID_PREFIX}{}",
            self.store.seal_bearer("mcp-client", &text)
        );
        Ok((id, client))
    }

    /// A client's metadata, checked field by field.
    fn checked(&self, request: ClientRegistration) -> Result<RegisteredClient, OAuthError> {
        if request.redirect_uris.is_empty() {
            return Err(OAuthError::new(
                "invalid_redirect_uri",
                "redirect_uris: name at least one URI to send the user back to",
            ));
        }
        if request.redirect_uris.len() > MAX_REDIRECT_URIS {
            return Err(OAuthError::new(
                "invalid_redirect_uri",
                format!("redirect_uris: at most {MAX_REDIRECT_URIS}"),
            ));
        }
        for uri in &request.redirect_uris {
            check_redirect_uri(uri)?;
        }
        if let Some(grants) = &request.grant_types
            && let Some(other) = grants
                .iter()
                .find(|g| !["authorization_code", "refresh_token"].contains(&g.as_str()))
        {
            return Err(OAuthError::new(
                "invalid_client_metadata",
                format!(
                    "grant_types: `{other}` is not offered; this server offers authorization_code and refresh_token"
                ),
            ));
        }
        if let Some(types) = &request.response_types
            && types.iter().any(|t| t != "code")
        {
            return Err(OAuthError::new(
                "invalid_client_metadata",
                "response_types: only `code` is offered",
            ));
        }
        let name = request
            .client_name
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "An MCP client".to_string());
        if name.chars().count() > MAX_NAME_LEN {
            return Err(OAuthError::new(
                "invalid_client_metadata",
                format!("client_name: at most {MAX_NAME_LEN} characters"),
            ));
        }
        Ok(RegisteredClient {
            name,
            redirect_uris: request.redirect_uris,
            issued_at: now(),
        })
    }

    /// The client `client_id` names: one this server registered, or one
    /// whose metadata document is at that URL.
    pub async fn client(&self, client_id: &str) -> Result<RegisteredClient, OAuthError> {
        if client_id.starts_with("https://") {
            return self.client_document(client_id).await;
        }
        client_id
            .strip_prefix(CLIENT_ID_PREFIX)
            .and_then(|sealed| self.store.open_bearer("mcp-client", sealed))
            .and_then(|text| serde_json::from_str(&text).ok())
            .ok_or_else(|| {
                OAuthError::new(
                    "invalid_client",
                    "client_id: this server did not register that client; the client must register again",
                )
            })
    }

    /// The client whose metadata document is at `url`, as
    /// draft-ietf-oauth-client-id-metadata-document asks: an https URL with
    /// a path, the document JSON naming that very URL as its `client_id`,
    /// with redirect URIs, and no shared secret.
    async fn client_document(&self, url: &str) -> Result<RegisteredClient, OAuthError> {
        let refused = |why: String| OAuthError::new("invalid_client", format!("client_id: {why}"));
        let Some(http) = &self.documents else {
            return Err(refused(
                "this server does not take client metadata documents; register at the registration endpoint".into(),
            ));
        };
        let parsed = url::Url::parse(url).map_err(|_| refused("not a URL".into()))?;
        if parsed.path() == "/"
            || parsed.fragment().is_some()
            || !parsed.username().is_empty()
            || parsed.password().is_some()
            || url.contains("/./")
            || url.contains("/../")
            || url.len() > MAX_URI_LEN
        {
            return Err(refused(
                "a metadata document's URL is https with a path, and no fragment, credentials or dot segments".into(),
            ));
        }
        let request = http::Request::get(url)
            .header(http::header::ACCEPT, "application/json")
            .body(Vec::new())
            .map_err(|_| refused("not a URL".into()))?;
        let response = http
            .send(request)
            .await
            .map_err(|e| refused(format!("its metadata document cannot be fetched: {e}")))?;
        if !response.status().is_success() {
            return Err(refused(format!(
                "its metadata document answered {} (redirects are not followed)",
                response.status().as_u16()
            )));
        }
        if response.body().len() > MAX_DOCUMENT_LEN {
            return Err(refused(format!(
                "its metadata document is over {MAX_DOCUMENT_LEN} bytes"
            )));
        }
        let document: ClientDocument = serde_json::from_slice(response.body())
            .map_err(|e| refused(format!("its metadata document is not client metadata: {e}")))?;
        if document.client_id != url {
            return Err(refused(
                "its metadata document names another client_id than its own URL".into(),
            ));
        }
        if document
            .token_endpoint_auth_method
            .as_deref()
            .is_some_and(|m| m != "none" && m != "private_key_jwt")
            || document.client_secret.is_some()
        {
            return Err(refused(
                "a metadata document's client has no shared secret (token_endpoint_auth_method none)".into(),
            ));
        }
        let registration = ClientRegistration {
            redirect_uris: document.redirect_uris,
            client_name: document.client_name,
            grant_types: document.grant_types,
            response_types: document.response_types,
            token_endpoint_auth_method: None,
        };
        let checked = self.checked(registration)?;
        Ok(checked)
    }

    /// The client and redirect URI of an authorization request, checked
    /// before the user is sent anywhere: an unknown client or a redirect
    /// URI it did not register is shown to the user, never redirected to.
    pub async fn check_client(
        &self,
        client_id: &str,
        redirect_uri: &str,
    ) -> Result<RegisteredClient, OAuthError> {
        let client = self.client(client_id).await?;
        if !client.redirect_uris.iter().any(|u| u == redirect_uri) {
            return Err(OAuthError::new(
                "invalid_request",
                "redirect_uri: not one the client registered",
            ));
        }
        Ok(client)
    }

    /// The rest of an authorization request, once its redirect URI is
    /// trusted: PKCE, the response type, the resource and the scope. Its
    /// answer is the tools the request may be granted at most.
    pub fn check_request(&self, request: &AuthorizationRequest) -> Result<ToolSet, OAuthError> {
        if request.response_type != "code" {
            return Err(OAuthError::new(
                "unsupported_response_type",
                "response_type: only `code` is offered",
            ));
        }
        if request.code_challenge_method != "S256" {
            return Err(OAuthError::new(
                "invalid_request",
                "code_challenge_method: S256 is required",
            ));
        }
        let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&request.code_challenge)
            .ok();
        if decoded.is_none_or(|d| d.len() != 32) {
            return Err(OAuthError::new(
                "invalid_request",
                "code_challenge: the base64url SHA-256 of the code verifier (PKCE) is required",
            ));
        }
        if let Some(resource) = request.resource.as_deref().filter(|r| !r.is_empty())
            && !self.is_resource(resource)
        {
            return Err(OAuthError::new(
                "invalid_target",
                format!(
                    "resource: this server grants tokens for {} only",
                    self.resource
                ),
            ));
        }
        requested_tools(request.scope.as_deref())
    }

    /// Whether `resource` names this server's MCP endpoint (with or
    /// without a trailing slash).
    fn is_resource(&self, resource: &str) -> bool {
        resource.trim_end_matches('/') == self.resource
    }

    /// The code for the user's consent: `connection` of `tenant`, with
    /// `tools`, for the request's client.
    pub async fn grant_code(
        &self,
        request: &AuthorizationRequest,
        tenant: Option<String>,
        connection: &str,
        tools: &ToolSet,
    ) -> Result<String, StoreError> {
        let scope = if matches!(tools, ToolSet::ReadOnly) {
            READ_ONLY_SCOPE
        } else {
            SCOPE
        };
        let claims = CodeClaims {
            grant: GrantClaims {
                tenant,
                connection: connection.to_string(),
                tools: tools.to_string(),
                client_id: request.client_id.clone(),
                resource: self.resource.clone(),
                scope: scope.to_string(),
            },
            redirect_uri: request.redirect_uri.clone(),
            code_challenge: request.code_challenge.clone(),
        };
        let code = self
            .store
            .create_oauth_grant(
                "code",
                connection,
                &serde_json::to_string(&claims).expect("claims serialize"),
                CODE_LIFETIME,
            )
            .await?;
        Ok(code.expose_secret().to_string())
    }

    /// The token request of `grant_type` (its form's fields).
    pub async fn token(&self, form: &[(String, String)]) -> Result<TokenResponse, TokenError> {
        let field = |name: &str| {
            form.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .filter(|v| !v.is_empty())
        };
        let required = |name: &'static str| {
            field(name)
                .ok_or_else(|| OAuthError::new("invalid_request", format!("{name}: required")))
        };
        if let Some(resource) = field("resource")
            && !self.is_resource(resource)
        {
            return Err(OAuthError::new(
                "invalid_target",
                format!(
                    "resource: this server grants tokens for {} only",
                    self.resource
                ),
            )
            .into());
        }
        let client_id = required("client_id")?;
        match required("grant_type")? {
            "authorization_code" => {
                let (code, verifier, redirect_uri) = (
                    required("code")?,
                    required("code_verifier")?,
                    required("redirect_uri")?,
                );
                let claims: CodeClaims = self
                    .take("code", code)
                    .await?
                    .ok_or_else(|| unknown_grant("code"))?;
                if claims.grant.client_id != client_id {
                    return Err(unknown_grant("code").into());
                }
                if claims.redirect_uri != redirect_uri {
                    return Err(OAuthError::new(
                        "invalid_grant",
                        "redirect_uri: not the one the authorization request named",
                    )
                    .into());
                }
                if !pkce_matches(verifier, &claims.code_challenge) {
                    return Err(OAuthError::new(
                        "invalid_grant",
                        "code_verifier: does not match the request's code_challenge",
                    )
                    .into());
                }
                self.issue(claims.grant).await
            }
            "refresh_token" => {
                let token = required("refresh_token")?;
                let grant: GrantClaims = self
                    .take("refresh", token)
                    .await?
                    .ok_or_else(|| unknown_grant("refresh_token"))?;
                if grant.client_id != client_id {
                    return Err(unknown_grant("refresh_token").into());
                }
                self.issue(grant).await
            }
            other => Err(OAuthError::new(
                "unsupported_grant_type",
                format!(
                    "grant_type: `{other}` is not offered; use authorization_code or refresh_token"
                ),
            )
            .into()),
        }
    }

    /// Revokes a refresh token (RFC 7009); an unknown one is no error.
    pub async fn revoke(&self, token: &str) -> Result<(), StoreError> {
        self.store.take_oauth_grant("refresh", token).await?;
        Ok(())
    }

    /// The grant an access token gives, if it is one of this server's,
    /// unexpired, for this resource.
    pub fn access(&self, token: &str) -> Option<GrantClaims> {
        let sealed = token.strip_prefix(ACCESS_TOKEN_PREFIX)?;
        let text = self.store.open_bearer("mcp-access", sealed)?;
        let claims: AccessClaims = serde_json::from_str(&text).ok()?;
        (claims.expires_at > now() && claims.grant.resource == self.resource)
            .then_some(claims.grant)
    }

    async fn take<T: serde::de::DeserializeOwned>(
        &self,
        kind: &str,
        token: &str,
    ) -> Result<Option<T>, StoreError> {
        Ok(self
            .store
            .take_oauth_grant(kind, token)
            .await?
            .and_then(|claims| serde_json::from_str(&claims).ok()))
    }

    /// A new access token and refresh token for `grant`.
    async fn issue(&self, grant: GrantClaims) -> Result<TokenResponse, TokenError> {
        let refresh = self
            .store
            .create_oauth_grant(
                "refresh",
                &grant.connection,
                &serde_json::to_string(&grant).expect("claims serialize"),
                REFRESH_LIFETIME,
            )
            .await
            .map_err(|e| match e {
                StoreError::NoSuchConnection(_) => TokenError::OAuth(OAuthError::new(
                    "invalid_grant",
                    "the connection this grant was for no longer exists",
                )),
                e => TokenError::Store(e),
            })?;
        let scope = grant.scope.clone();
        let access = AccessClaims {
            grant,
            expires_at: now() + ACCESS_LIFETIME.as_secs() as i64,
        };
        let text = serde_json::to_string(&access).expect("claims serialize");
        Ok(TokenResponse {
            access_token: format!(
                "{ACCESS_TOKEN_PREFIX}{}",
                self.store.seal_bearer("mcp-access", &text)
            ),
            token_type: "Bearer",
            expires_in: ACCESS_LIFETIME.as_secs(),
            refresh_token: refresh.expose_secret().to_string(),
            scope,
        })
    }
}

impl GrantClaims {
    /// The MCP grant these claims give, as the MCP server applies it.
    pub fn to_grant(&self, known: &[rmcp::model::Tool]) -> Grant {
        Grant::connection(self.tenant.clone(), self.connection.clone())
            .limited_by(Some(&self.tools), known)
    }
}

/// An authorization request's parameters (RFC 6749 §4.1.1, RFC 7636,
/// RFC 8707).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct AuthorizationRequest {
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub redirect_uri: String,
    #[serde(default)]
    pub response_type: String,
    #[serde(default)]
    pub code_challenge: String,
    #[serde(default)]
    pub code_challenge_method: String,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub resource: Option<String>,
}

/// The most a request's scope may be granted: every tool the user picks
/// for `mcp` (or no scope), the read-only ones for `mcp:read-only`.
fn requested_tools(scope: Option<&str>) -> Result<ToolSet, OAuthError> {
    let mut tools = ToolSet::All;
    for scope in scope.unwrap_or_default().split_whitespace() {
        match scope {
            SCOPE => {}
            READ_ONLY_SCOPE => tools = ToolSet::ReadOnly,
            other => {
                return Err(OAuthError::new(
                    "invalid_scope",
                    format!(
                        "scope: `{other}` is not offered; ask for `{SCOPE}` or `{READ_ONLY_SCOPE}`"
                    ),
                ));
            }
        }
    }
    Ok(tools)
}

fn unknown_grant(field: &str) -> OAuthError {
    OAuthError::new(
        "invalid_grant",
        format!("{field}: unknown, already used, expired, or another client's"),
    )
}

/// A redirect URI a client may register: https, http to a loopback
/// address (a native app's listener, RFC 8252 §7.3), or a private-use
/// scheme with a dot (RFC 8252 §7.1); never with a fragment.
fn check_redirect_uri(uri: &str) -> Result<(), OAuthError> {
    let refused = |why: &str| {
        OAuthError::new(
            "invalid_redirect_uri",
            format!(
                "redirect_uris: `{}` {why}",
                uri.chars().take(100).collect::<String>()
            ),
        )
    };
    if uri.len() > MAX_URI_LEN {
        return Err(refused("is too long"));
    }
    let parsed = url::Url::parse(uri).map_err(|_| refused("is not an absolute URI"))?;
    if parsed.fragment().is_some() {
        return Err(refused("has a fragment"));
    }
    let loopback = matches!(parsed.host(), Some(url::Host::Domain("localhost")))
        || matches!(parsed.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
        || matches!(parsed.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback());
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err(refused(
            "uses http to a host that is not loopback; use https",
        )),
        "javascript" | "data" | "file" | "about" | "blob" | "vbscript" => {
            Err(refused("uses a scheme a browser runs or reads"))
        }
        scheme if scheme.contains('.') => Ok(()),
        _ => Err(refused(
            "uses a scheme that is not https, loopback http, or a private-use scheme such as com.example.app",
        )),
    }
}

/// Whether `verifier` is the PKCE verifier of `challenge` (S256).
fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    let digest = Sha256::digest(verifier.as_bytes());
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
    well_formed && computed == challenge
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pkce_verifier_of_rfc_7636_appendix_b_matches_its_challenge_only() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

        assert!(pkce_matches(verifier, challenge));
        assert!(!pkce_matches(&verifier.replace('d', "e"), challenge));
        assert!(!pkce_matches("short", challenge));
    }

    #[test]
    fn redirect_uris_are_https_loopback_http_or_private_use_schemes() {
        for good in [
            "https://claude.ai/api/mcp/auth_callback",
            "http://127.0.0.1:33418/callback",
            "http://localhost:6274/oauth/callback",
            "http://[::1]:8080/cb",
            "com.example.agent:/oauth",
        ] {
            assert_eq!(check_redirect_uri(good), Ok(()), "{good}");
        }
        for bad in [
            "http://example.com/cb",
            "javascript:alert(1)",
            "https://example.com/cb#fragment",
            "/relative",
            "myapp://cb",
        ] {
            let refused = check_redirect_uri(bad).unwrap_err();
            assert_eq!(refused.code, "invalid_redirect_uri", "{bad}");
            assert!(refused.description.starts_with("redirect_uris:"), "{bad}");
        }
    }

    #[test]
    fn the_scope_caps_the_tools_and_an_unknown_scope_is_named() {
        assert_eq!(requested_tools(None), Ok(ToolSet::All));
        assert_eq!(requested_tools(Some("mcp")), Ok(ToolSet::All));
        assert_eq!(
            requested_tools(Some("mcp mcp:read-only")),
            Ok(ToolSet::ReadOnly)
        );
        let refused = requested_tools(Some("admin")).unwrap_err();
        assert_eq!(refused.code, "invalid_scope");
        assert!(refused.description.contains("`admin`"));
    }
}
