//! OAuth 2.0 with the `oauth2` crate: authorization code with PKCE (S256)
//! and state, the code exchange, refresh, client credentials, revocation.
//!
//! Confidential clients authenticate at the token URL with HTTP Basic, as X
//! requires; public clients (no Client Secret) send only their Client ID.

use super::http::HostHttp;
use super::{AuthError, ResolvedAuth};
use oauth2::basic::{BasicClient, BasicErrorResponseType, BasicTokenResponse};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError,
    RevocationUrl, Scope, StandardRevocableToken, TokenResponse, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use std::borrow::Cow;

/// A sign-in waiting for its redirect. Holds the PKCE verifier and the state
/// that the redirect must return; neither leaves the host.
pub struct PendingAuthorization {
    /// Where to send the user's browser (routes applied).
    pub authorization_url: String,
    pub redirect_uri: String,
    state: String,
    verifier: PkceCodeVerifier,
}

impl std::fmt::Debug for PendingAuthorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingAuthorization")
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

impl PendingAuthorization {
    /// The state sent with the authorization request.
    pub fn state(&self) -> &str {
        &self.state
    }

    /// What finishing needs besides the state (the redirect URI and the
    /// PKCE verifier), as text for the store to seal.
    pub fn to_payload(&self) -> SecretString {
        SecretString::from(
            serde_json::json!({
                "redirect_uri": self.redirect_uri,
                "verifier": self.verifier.secret(),
            })
            .to_string(),
        )
    }

    /// The sign-in `state` names, from the payload stored with it, on
    /// whichever host the redirect reached.
    pub fn from_payload(state: &str, payload: &SecretString) -> Result<Self, AuthError> {
        let [redirect_uri, verifier] =
            super::payload_fields(payload, ["redirect_uri", "verifier"])?;
        Ok(PendingAuthorization {
            authorization_url: String::new(),
            redirect_uri,
            state: state.to_string(),
            verifier: PkceCodeVerifier::new(verifier),
        })
    }
}

/// What a token endpoint issued.
pub struct IssuedTokens {
    pub access_token: SecretString,
    /// Seconds from now.
    pub expires_in: Option<u64>,
    pub refresh_token: Option<SecretString>,
    /// Granted scopes, when the endpoint said.
    pub scopes: Option<Vec<String>>,
}

fn url<T>(
    auth: &ResolvedAuth,
    field: &str,
    make: impl Fn(String) -> Result<T, oauth2::url::ParseError>,
) -> Result<T, AuthError> {
    let value = auth.require(field)?;
    make(value.clone()).map_err(|_| AuthError::BadUrl {
        field: field.to_string(),
        url: value,
    })
}

type TokenClient =
    BasicClient<EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

fn token_client(auth: &ResolvedAuth) -> Result<TokenClient, AuthError> {
    let mut client = BasicClient::new(ClientId::new(auth.require("client_id")?))
        .set_token_uri(url(auth, "token_url", TokenUrl::new)?)
        .set_auth_type(AuthType::BasicAuth);
    if let Some(secret) = auth.text("client_secret") {
        client = client.set_client_secret(ClientSecret::new(secret));
    }
    Ok(client)
}

/// Starts a sign-in: a fresh state and S256 PKCE verifier, and the URL of
/// the consent page.
pub fn begin(
    http: &HostHttp,
    auth: &ResolvedAuth,
    redirect_uri: &str,
) -> Result<PendingAuthorization, AuthError> {
    let client = BasicClient::new(ClientId::new(auth.require("client_id")?))
        .set_auth_uri(url(auth, "authorization_url", AuthUrl::new)?)
        .set_redirect_uri(RedirectUrl::new(redirect_uri.to_string()).map_err(|_| {
            AuthError::BadUrl {
                field: "redirect_uri".into(),
                url: redirect_uri.to_string(),
            }
        })?);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state) = client
        .authorize_url(CsrfToken::new_random)
        .add_scopes(auth.list("scopes").into_iter().map(Scope::new))
        .set_pkce_challenge(challenge)
        .url();
    Ok(PendingAuthorization {
        authorization_url: http.routes().rewrite(url.as_str()),
        redirect_uri: redirect_uri.to_string(),
        state: state.secret().clone(),
        verifier,
    })
}

/// Completes a sign-in from the redirect's query: checks the state, then
/// exchanges the code with the PKCE verifier.
pub async fn finish(
    http: &HostHttp,
    auth: &ResolvedAuth,
    pending: PendingAuthorization,
    query: &[(String, String)],
) -> Result<IssuedTokens, AuthError> {
    let get = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if let Some(error) = get("error") {
        let description = get("error_description")
            .map(|d| format!(": {d}"))
            .unwrap_or_default();
        return Err(AuthError::SignIn(format!(
            "the provider answered `{error}`{description}"
        )));
    }
    if get("state") != Some(pending.state.as_str()) {
        return Err(AuthError::SignIn(
            "the redirect's state does not match the request's; the sign-in was not started here, so it is refused".into(),
        ));
    }
    // RFC 9207: a provider that names itself must be the one the user was
    // sent to, or the code may be another provider's (a mix-up attack).
    if let Some(issuer) = get("iss") {
        let expected = expected_issuer(auth)?;
        if issuer.trim_end_matches('/') != expected.trim_end_matches('/') {
            return Err(AuthError::SignIn(format!(
                "the redirect says it comes from {issuer}, not from {expected} where the sign-in was sent; it is refused (a mix-up of providers)"
            )));
        }
    }
    let code =
        get("code").ok_or_else(|| AuthError::SignIn("the redirect carries no code".into()))?;
    let redirect =
        RedirectUrl::new(pending.redirect_uri.clone()).map_err(|_| AuthError::BadUrl {
            field: "redirect_uri".into(),
            url: pending.redirect_uri.clone(),
        })?;
    let client = token_client(auth)?;
    let response = client
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .set_pkce_verifier(pending.verifier)
        .set_redirect_uri(Cow::Owned(redirect))
        .request_async(http)
        .await;
    issued(http, "the token URL", response).map_err(|e| match e {
        // At the code exchange, `invalid_grant` is about the code, not a
        // refresh token: it expired, or was used already.
        AuthError::Refused {
            code, description, ..
        } if code == "invalid_grant" => AuthError::SignIn(format!(
            "the token URL refused the authorization code (invalid_grant{}): the sign-in took too long, or the code was used already; connect again",
            description.map(|d| format!(": {d}")).unwrap_or_default()
        )),
        other => other,
    })
}

/// The issuer the sign-in was sent to: the auth method's `issuer` field
/// when the manifest names one, else the authorization URL's origin.
fn expected_issuer(auth: &ResolvedAuth) -> Result<String, AuthError> {
    if let Some(issuer) = auth.text("issuer") {
        return Ok(issuer);
    }
    let url = auth.require("authorization_url")?;
    let parsed = oauth2::url::Url::parse(&url).map_err(|_| AuthError::BadUrl {
        field: "authorization_url".into(),
        url: url.clone(),
    })?;
    Ok(parsed.origin().ascii_serialization())
}

/// Exchanges a refresh token for new tokens.
pub async fn refresh(
    http: &HostHttp,
    auth: &ResolvedAuth,
    refresh_token: &SecretString,
) -> Result<IssuedTokens, AuthError> {
    let client = token_client(auth)?;
    let token = RefreshToken::new(refresh_token.expose_secret().to_string());
    let response = client
        .exchange_refresh_token(&token)
        .request_async(http)
        .await;
    issued(http, "the token URL", response)
}

/// Gets an app-only token with the client credentials grant.
pub async fn client_credentials(
    http: &HostHttp,
    auth: &ResolvedAuth,
) -> Result<IssuedTokens, AuthError> {
    auth.require("client_secret")?;
    let client = token_client(auth)?;
    let response = client
        .exchange_client_credentials()
        .request_async(http)
        .await;
    issued(http, "the token URL", response)
}

/// Revokes `token` (a refresh token if `is_refresh`) at the revoke URL.
pub async fn revoke(
    http: &HostHttp,
    auth: &ResolvedAuth,
    token: &SecretString,
    is_refresh: bool,
) -> Result<(), AuthError> {
    let client =
        token_client(auth)?.set_revocation_url(url(auth, "revoke_url", RevocationUrl::new)?);
    let secret = token.expose_secret().to_string();
    let revocable = if is_refresh {
        StandardRevocableToken::RefreshToken(RefreshToken::new(secret))
    } else {
        StandardRevocableToken::AccessToken(oauth2::AccessToken::new(secret))
    };
    client
        .revoke_token(revocable)
        .map_err(|e| AuthError::SignIn(e.to_string()))?
        .request_async(http)
        .await
        .map_err(|e| describe_error(http, "the revoke URL", e))
}

fn issued<E: std::error::Error + 'static>(
    http: &HostHttp,
    endpoint: &str,
    response: Result<
        BasicTokenResponse,
        RequestTokenError<E, oauth2::StandardErrorResponse<BasicErrorResponseType>>,
    >,
) -> Result<IssuedTokens, AuthError> {
    let token = response.map_err(|e| describe_error(http, endpoint, e))?;
    Ok(IssuedTokens {
        access_token: SecretString::from(token.access_token().secret().clone()),
        expires_in: token.expires_in().map(|d| d.as_secs()),
        refresh_token: token
            .refresh_token()
            .map(|r| SecretString::from(r.secret().clone())),
        scopes: token
            .scopes()
            .map(|s| s.iter().map(|x| x.to_string()).collect()),
    })
}

/// An `oauth2` error as an [`AuthError`], without the answer's body (which
/// may hold tokens).
fn describe_error<E: std::error::Error + 'static, T: oauth2::ErrorResponse + 'static>(
    http: &HostHttp,
    endpoint: &str,
    error: RequestTokenError<E, T>,
) -> AuthError {
    match error {
        RequestTokenError::ServerResponse(response) => {
            // The error code and description are protocol words, not secrets.
            let value = serde_json::to_value(&response).unwrap_or_default();
            AuthError::Refused {
                endpoint: endpoint.to_string(),
                code: value["error"].as_str().unwrap_or("error").to_string(),
                description: value["error_description"].as_str().map(str::to_string),
            }
        }
        RequestTokenError::Request(e) => {
            let mut source: &dyn std::error::Error = &e;
            while let Some(next) = source.source() {
                source = next;
            }
            AuthError::SignIn(format!("{endpoint} could not be reached: {source}"))
        }
        RequestTokenError::Parse(..) | RequestTokenError::Other(_) => match http.last_status() {
            Some(status @ (401 | 403)) => AuthError::Refused {
                endpoint: endpoint.to_string(),
                code: "invalid_client".into(),
                description: Some(format!("status {status}")),
            },
            Some(status) => AuthError::Unexpected {
                endpoint: endpoint.to_string(),
                status,
            },
            None => AuthError::SignIn(format!("{endpoint} gave no answer")),
        },
    }
}
