//! Requests to the emulator over real HTTP, as the stories here make them.

use axum::http::{HeaderMap, Request, header};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use x_emulator::Emulator;

/// One request to the emulator with a bearer token: the status and the
/// JSON answer (`null` when there is none).
pub async fn call(
    x: &Emulator,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let (content_type, body) = match body {
        Some(json) => (Some("application/json"), Bytes::from(json.to_string())),
        None => (None, Bytes::new()),
    };
    let (status, _, answer) = send(
        x,
        method,
        path,
        &format!("Bearer {token}"),
        content_type,
        body,
    )
    .await;
    (
        status,
        serde_json::from_slice(&answer).unwrap_or(Value::Null),
    )
}

/// One request to the emulator on a connection of its own: the status, the
/// headers and the body of the answer.
pub async fn send(
    x: &Emulator,
    method: &str,
    path: &str,
    authorization: &str,
    content_type: Option<&str>,
    body: Bytes,
) -> (u16, HeaderMap, Bytes) {
    let stream = tokio::net::TcpStream::connect(x.authority()).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, x.authority());
    if !authorization.is_empty() {
        request = request.header(header::AUTHORIZATION, authorization);
    }
    if let Some(content_type) = content_type {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    let response = sender
        .send_request(request.body(Full::new(body)).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, bytes)
}
