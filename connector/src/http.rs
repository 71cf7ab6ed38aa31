//! HTTP over `wasi:http/outgoing-handler`.
//!
//! The only way out of the component. Requests carry no credentials: the host
//! adds them on the way out, for the API hosts the manifest lists, and refuses
//! any other destination.

use crate::bindings::wasi::http::outgoing_handler;
use crate::bindings::wasi::http::types::{
    ErrorCode, Fields, IncomingResponse, Method, OutgoingBody, OutgoingRequest, Scheme,
};
use crate::bindings::wasi::io::streams::{InputStream, OutputStream, StreamError};
use crate::error::{ConnectorError, forbidden, internal};

/// Largest response body the connector reads into memory. X's largest JSON
/// answers (100 posts with every field and expansion) are far below this.
const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// `wasi:io` output streams accept at most this many bytes per blocking write.
const WRITE_CHUNK: usize = 4096;

/// Read buffer size for response bodies.
const READ_CHUNK: u64 = 64 * 1024;

/// An HTTP method the connector uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    Post,
    Delete,
}

/// A request to one origin.
#[derive(Debug)]
pub struct Request<'a> {
    pub verb: Verb,
    /// `https` or `http`.
    pub https: bool,
    /// Host and optional port, such as `api.x.com`.
    pub authority: &'a str,
    /// Path and query string, starting with `/`.
    pub path_and_query: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<Vec<u8>>,
}

/// A complete response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Header names are lower case, as `wasi:http` gives them.
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (lower case), as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }
}

/// Sends `request` and reads the whole response.
pub fn send(request: Request<'_>) -> Result<Response, ConnectorError> {
    let authority = request.authority;
    let fields: Vec<(String, Vec<u8>)> = request
        .headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
        .collect();
    let headers = Fields::from_list(&fields)
        .map_err(|e| internal(format!("invalid request header: {e:?}")))?;
    let outgoing = OutgoingRequest::new(headers);
    let method = match request.verb {
        Verb::Get => Method::Get,
        Verb::Post => Method::Post,
        Verb::Delete => Method::Delete,
    };
    let scheme = if request.https {
        Scheme::Https
    } else {
        Scheme::Http
    };
    outgoing
        .set_method(&method)
        .and_then(|()| outgoing.set_scheme(Some(&scheme)))
        .and_then(|()| outgoing.set_authority(Some(authority)))
        .and_then(|()| outgoing.set_path_with_query(Some(&request.path_and_query)))
        .map_err(|()| {
            internal(format!(
                "invalid request target {authority}{}",
                request.path_and_query
            ))
        })?;

    let body = outgoing
        .body()
        .map_err(|()| internal("request body already taken"))?;
    let future = outgoing_handler::handle(outgoing, None)
        .map_err(|code| transport_error(authority, &code))?;

    // The request is on its way; stream the body into it, then close it.
    {
        let stream = body
            .write()
            .map_err(|()| internal("request body stream already taken"))?;
        if let Some(bytes) = &request.body {
            write_all(&stream, bytes).map_err(|e| stream_failure(authority, e))?;
        }
    }
    OutgoingBody::finish(body, None).map_err(|code| transport_error(authority, &code))?;

    let response = {
        let pollable = future.subscribe();
        pollable.block();
        match future.get() {
            Some(Ok(Ok(response))) => response,
            Some(Ok(Err(code))) => return Err(transport_error(authority, &code)),
            Some(Err(())) => return Err(internal("response already taken")),
            None => return Err(internal("response not ready after it was signalled")),
        }
    };
    read_response(authority, response)
}

fn read_response(authority: &str, response: IncomingResponse) -> Result<Response, ConnectorError> {
    let status = response.status();
    let headers = response.headers().entries();
    let body = response
        .consume()
        .map_err(|()| internal("response body already taken"))?;
    let mut bytes = Vec::new();
    {
        let stream = body
            .stream()
            .map_err(|()| internal("response body stream already taken"))?;
        read_all(&stream, &mut bytes, authority)?;
    }
    drop(body);
    Ok(Response {
        status,
        headers,
        body: bytes,
    })
}

fn write_all(stream: &OutputStream, mut bytes: &[u8]) -> Result<(), StreamError> {
    while !bytes.is_empty() {
        let n = bytes.len().min(WRITE_CHUNK);
        stream.blocking_write_and_flush(&bytes[..n])?;
        bytes = &bytes[n..];
    }
    Ok(())
}

fn read_all(
    stream: &InputStream,
    into: &mut Vec<u8>,
    authority: &str,
) -> Result<(), ConnectorError> {
    loop {
        match stream.blocking_read(READ_CHUNK) {
            Ok(chunk) => {
                if into.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Err(internal(format!(
                        "the answer from {authority} is larger than {MAX_RESPONSE_BYTES} bytes"
                    )));
                }
                into.extend_from_slice(&chunk);
            }
            Err(StreamError::Closed) => return Ok(()),
            Err(e) => return Err(stream_failure(authority, e)),
        }
    }
}

fn stream_failure(authority: &str, error: StreamError) -> ConnectorError {
    match error {
        StreamError::Closed => {
            ConnectorError::Timeout(format!("{authority} closed the connection"))
        }
        StreamError::LastOperationFailed(e) => ConnectorError::Timeout(format!(
            "the connection to {authority} failed: {}",
            e.to_debug_string()
        )),
    }
}

/// Maps a `wasi:http` transport failure to the connector's error.
fn transport_error(authority: &str, code: &ErrorCode) -> ConnectorError {
    match code {
        ErrorCode::HttpRequestDenied => forbidden(
            Vec::new(),
            format!(
                "the host refused a request to {authority}: it is not in the connector's egress list"
            ),
        ),
        ErrorCode::ConnectionTimeout
        | ErrorCode::ConnectionReadTimeout
        | ErrorCode::ConnectionWriteTimeout
        | ErrorCode::HttpResponseTimeout
        | ErrorCode::DnsTimeout => {
            ConnectorError::Timeout(format!("{authority} did not answer in time ({code:?})"))
        }
        ErrorCode::DnsError(_)
        | ErrorCode::DestinationNotFound
        | ErrorCode::DestinationUnavailable
        | ErrorCode::DestinationIpUnroutable
        | ErrorCode::ConnectionRefused
        | ErrorCode::ConnectionTerminated
        | ErrorCode::ConnectionLimitReached
        | ErrorCode::TlsProtocolError
        | ErrorCode::TlsCertificateError
        | ErrorCode::TlsAlertReceived(_)
        | ErrorCode::HttpResponseIncomplete => {
            ConnectorError::Timeout(format!("could not reach {authority} ({code:?})"))
        }
        other => internal(format!("request to {authority} failed: {other:?}")),
    }
}
