//! OAuth 1.0a with the `oauth1-request` crate: the three-legged sign-in
//! (request token, user authorization, access token) and HMAC-SHA1 signing
//! of API requests.

use super::http::HostHttp;
use super::{AuthError, ResolvedAuth};
use host_core::credentials::{Authorizer, BoxFuture, CredentialError};
use http::{HeaderValue, Method, Request};
use oauth1_request as oauth;
use secrecy::{ExposeSecret, SecretString};

/// A sign-in waiting for its redirect.
pub struct PendingAuthorization {
    /// Where to send the user's browser (routes applied).
    pub authorization_url: String,
    pub callback: String,
    request_token: String,
    request_secret: SecretString,
}

impl PendingAuthorization {
    /// The request token the sign-in was started with; the redirect names
    /// it (`oauth_token`, or `denied` when the user refused).
    pub fn request_token(&self) -> &str {
        &self.request_token
    }

    /// What finishing needs besides the request token (its secret and the
    /// callback), as text for the store to seal.
    pub fn to_payload(&self) -> SecretString {
        SecretString::from(
            serde_json::json!({
                "callback": self.callback,
                "request_secret": self.request_secret.expose_secret(),
            })
            .to_string(),
        )
    }

    /// The sign-in `request_token` names, from the payload stored with it.
    pub fn from_payload(request_token: &str, payload: &SecretString) -> Result<Self, AuthError> {
        let [callback, request_secret] =
            super::payload_fields(payload, ["callback", "request_secret"])?;
        Ok(PendingAuthorization {
            authorization_url: String::new(),
            callback,
            request_token: request_token.to_string(),
            request_secret: SecretString::from(request_secret),
        })
    }
}

impl std::fmt::Debug for PendingAuthorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingAuthorization")
            .field("callback", &self.callback)
            .finish_non_exhaustive()
    }
}

/// An access token and what the provider said about its user.
pub struct AccessToken {
    pub token: SecretString,
    pub secret: SecretString,
    pub user_id: Option<String>,
    pub screen_name: Option<String>,
}

fn consumer(auth: &ResolvedAuth) -> Result<(String, String), AuthError> {
    Ok((auth.require("api_key")?, auth.require("api_secret")?))
}

/// Signs `method url` (no query) with `params` (the query's pairs).
fn sign(
    consumer: &(String, String),
    token: Option<(&str, &str)>,
    callback: Option<&str>,
    verifier: Option<&str>,
    method: &str,
    url: &str,
    params: &[(String, String)],
) -> String {
    let mut builder = oauth::Builder::<_, _>::new(
        oauth::Credentials::new(consumer.0.as_str(), consumer.1.as_str()),
        oauth::HMAC_SHA1,
    );
    if let Some((t, s)) = token {
        builder.token(oauth::Credentials::new(t, s));
    }
    builder.callback(callback);
    builder.verifier(verifier);
    let request = oauth::ParameterList::new(
        params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect::<Vec<_>>(),
    );
    builder.authorize(method, url, &request)
}

async fn post_form(
    http: &HostHttp,
    url: &str,
    authorization: String,
    endpoint: &str,
) -> Result<Vec<(String, String)>, AuthError> {
    let request = Request::post(url)
        .header(http::header::AUTHORIZATION, authorization)
        .header(http::header::CONTENT_LENGTH, "0")
        .body(Vec::new())
        .map_err(|_| AuthError::BadUrl {
            field: endpoint.to_string(),
            url: url.to_string(),
        })?;
    let response = http.send(request).await?;
    let status = response.status().as_u16();
    if !(200..300).contains(&status) {
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap_or_default();
        let message = body
            .pointer("/errors/0/message")
            .and_then(|m| m.as_str())
            .map(str::to_string);
        return Err(AuthError::Refused {
            endpoint: endpoint.to_string(),
            code: if status == 401 {
                "invalid_client".into()
            } else {
                format!("status {status}")
            },
            description: message,
        });
    }
    Ok(form_urlencoded::parse(response.body())
        .into_owned()
        .collect())
}

fn field<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Gets a request token for `callback` and the URL of the consent page.
pub async fn begin(
    http: &HostHttp,
    auth: &ResolvedAuth,
    callback: &str,
) -> Result<PendingAuthorization, AuthError> {
    let consumer = consumer(auth)?;
    let url = auth.require("request_token_url")?;
    let header = sign(&consumer, None, Some(callback), None, "POST", &url, &[]);
    let answer = post_form(http, &url, header, "the request token URL").await?;
    let (Some(token), Some(secret)) = (
        field(&answer, "oauth_token"),
        field(&answer, "oauth_token_secret"),
    ) else {
        return Err(AuthError::SignIn(
            "the request token URL gave no token".into(),
        ));
    };
    let authorize = auth.require("authorization_url")?;
    let authorization_url = format!(
        "{authorize}?{}",
        form_urlencoded::Serializer::new(String::new())
            .append_pair("oauth_token", token)
            .finish()
    );
    Ok(PendingAuthorization {
        authorization_url: http.routes().rewrite(&authorization_url),
        callback: callback.to_string(),
        request_token: token.to_string(),
        request_secret: SecretString::from(secret.to_string()),
    })
}

/// Completes a sign-in from the redirect's query.
pub async fn finish(
    http: &HostHttp,
    auth: &ResolvedAuth,
    pending: PendingAuthorization,
    query: &[(String, String)],
) -> Result<AccessToken, AuthError> {
    if field(query, "denied").is_some() {
        return Err(AuthError::SignIn(
            "the user cancelled the authorization".into(),
        ));
    }
    if field(query, "oauth_token") != Some(pending.request_token.as_str()) {
        return Err(AuthError::SignIn(
            "the redirect's token does not match the request's; the sign-in was not started here, so it is refused".into(),
        ));
    }
    let verifier = field(query, "oauth_verifier")
        .ok_or_else(|| AuthError::SignIn("the redirect carries no verifier".into()))?;
    let consumer = consumer(auth)?;
    let url = auth.require("access_token_url")?;
    let header = sign(
        &consumer,
        Some((
            &pending.request_token,
            pending.request_secret.expose_secret(),
        )),
        None,
        Some(verifier),
        "POST",
        &url,
        &[],
    );
    let answer = post_form(http, &url, header, "the access token URL").await?;
    let (Some(token), Some(secret)) = (
        field(&answer, "oauth_token"),
        field(&answer, "oauth_token_secret"),
    ) else {
        return Err(AuthError::SignIn(
            "the access token URL gave no token".into(),
        ));
    };
    Ok(AccessToken {
        token: SecretString::from(token.to_string()),
        secret: SecretString::from(secret.to_string()),
        user_id: field(&answer, "user_id").map(str::to_string),
        screen_name: field(&answer, "screen_name").map(str::to_string),
    })
}

/// Signs every API request with the consumer's and the user's credentials.
pub struct Signer {
    consumer: (String, String),
    token: SecretString,
    secret: SecretString,
}

impl Signer {
    pub fn new(
        auth: &ResolvedAuth,
        token: SecretString,
        secret: SecretString,
    ) -> Result<Signer, AuthError> {
        Ok(Signer {
            consumer: consumer(auth)?,
            token,
            secret,
        })
    }

    fn header(&self, method: &Method, uri: &http::Uri) -> String {
        let base = format!(
            "{}://{}{}",
            uri.scheme_str().unwrap_or("https"),
            uri.authority().map(|a| a.as_str()).unwrap_or_default(),
            uri.path()
        );
        let params: Vec<(String, String)> = uri
            .query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        sign(
            &self.consumer,
            Some((self.token.expose_secret(), self.secret.expose_secret())),
            None,
            None,
            method.as_str(),
            &base,
            &params,
        )
    }
}

impl Authorizer for Signer {
    fn authorize<'a>(
        &'a self,
        request: &'a http::request::Parts,
    ) -> BoxFuture<'a, Result<HeaderValue, CredentialError>> {
        Box::pin(async move {
            let mut value = HeaderValue::from_str(&self.header(&request.method, &request.uri))
                .map_err(|_| {
                    CredentialError::Malformed(
                        "the OAuth 1.0a credentials cannot be put in a header".into(),
                    )
                })?;
            value.set_sensitive(true);
            Ok(value)
        })
    }
}
