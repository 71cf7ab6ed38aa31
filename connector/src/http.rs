//! HTTP over `wasi:http/outgoing-handler`.
//!
//! The only way out of the component. Requests carry no credentials: the host
//! adds them on the way out, for the API hosts the manifest lists, and refuses
//! any other destination.

use crate::bindings::wasi::http::outgoing_handler;
use crate::bindings::wasi::http::types::{
    ErrorCode, Fields, IncomingResponse, Method, OutgoingBody, OutgoingRequest, RequestOptions,
    Scheme,
};
use crate::bindings::wasi::io::streams::{InputStream, OutputStream, StreamError};
use crate::error::{ConnectorError, Refusal, internal, refused};

/// Largest response body the connector reads into memory. X's largest JSON
/// answers (100 posts with every field and expansion) are far below this.
const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// Read buffer size for response bodies.
const READ_CHUNK: u64 = 64 * 1024;

/// An HTTP method the connector uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    Post,
    Put,
    Delete,
}

impl Verb {
    /// The method's name, as HTTP writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
            Verb::Put => "PUT",
            Verb::Delete => "DELETE",
        }
    }
}

/// A request to one origin.
pub struct Request<'a> {
    pub verb: Verb,
    /// `https` or `http`.
    pub https: bool,
    /// Host and optional port, such as `api.x.com`.
    pub authority: &'a str,
    /// Path and query string, starting with `/`.
    pub path_and_query: String,
    pub headers: Vec<(&'static str, String)>,
    /// The body, written into the request as it goes out.
    pub body: Option<&'a mut dyn BodySource>,
}

/// A request body that writes itself into the request piece by piece, so a
/// large body (a media segment read from a file) never sits in memory whole.
pub trait BodySource {
    /// The body's length in bytes, sent as `content-length`.
    fn length(&self) -> u64;
    /// Writes the whole body into `sink`, from the start. Called once per
    /// attempt.
    fn write_into(&mut self, sink: &mut BodySink<'_>) -> Result<(), ConnectorError>;
}

impl BodySource for Vec<u8> {
    fn length(&self) -> u64 {
        self.len() as u64
    }

    fn write_into(&mut self, sink: &mut BodySink<'_>) -> Result<(), ConnectorError> {
        sink.write(self)
    }
}

/// Where a [`BodySource`] writes: the outgoing request's body stream.
pub struct BodySink<'s> {
    stream: &'s OutputStream,
    authority: &'s str,
}

impl BodySink<'_> {
    /// Writes `bytes`, waiting while the host's buffer is full.
    pub fn write(&mut self, mut bytes: &[u8]) -> Result<(), ConnectorError> {
        while !bytes.is_empty() {
            let permitted = self
                .stream
                .check_write()
                .map_err(|e| stream_failure(self.authority, e))?;
            if permitted == 0 {
                self.stream.subscribe().block();
                continue;
            }
            let n = bytes.len().min(permitted as usize);
            self.stream
                .write(&bytes[..n])
                .map_err(|e| stream_failure(self.authority, e))?;
            bytes = &bytes[n..];
        }
        Ok(())
    }
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
    let mut fields: Vec<(String, Vec<u8>)> = request
        .headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
        .collect();
    if let Some(body) = &request.body {
        fields.push((
            "content-length".to_string(),
            body.length().to_string().into_bytes(),
        ));
    }
    let source = request.body;
    let headers = Fields::from_list(&fields)
        .map_err(|e| internal(format!("invalid request header: {e:?}")))?;
    let outgoing = OutgoingRequest::new(headers);
    let method = match request.verb {
        Verb::Get => Method::Get,
        Verb::Post => Method::Post,
        Verb::Put => Method::Put,
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
    let future = outgoing_handler::handle(outgoing, request_options())
        .map_err(|code| transport_error(authority, &code))?;

    // The request is on its way; stream the body into it, then close it.
    {
        let stream = body
            .write()
            .map_err(|()| internal("request body stream already taken"))?;
        if let Some(source) = source {
            let mut sink = BodySink {
                stream: &stream,
                authority,
            };
            source.write_into(&mut sink)?;
            match stream.blocking_flush() {
                // With a content-length, the host may stop reading (and
                // close the stream) as soon as the last byte is in.
                Ok(()) | Err(StreamError::Closed) => {}
                Err(e) => return Err(stream_failure(authority, e)),
            }
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
/// Timeouts within the time the action has left (nine tenths of it, so
/// that the action can still say what happened), so that a host whose HTTP
/// has none of its own still gives up on a silent server before the
/// action's end. Without a deadline, the host's own timeouts apply.
fn request_options() -> Option<RequestOptions> {
    let left = crate::bindings::integration::connector::host::time_left()?;
    let left = left - left / 10;
    let options = RequestOptions::new();
    // A host may refuse to take a timeout it does not support; its own
    // then applies.
    let _ = options.set_connect_timeout(Some(left));
    let _ = options.set_first_byte_timeout(Some(left));
    let _ = options.set_between_bytes_timeout(Some(left));
    Some(options)
}

fn transport_error(authority: &str, code: &ErrorCode) -> ConnectorError {
    match code {
        ErrorCode::HttpRequestDenied => refused(
            Refusal::Resource,
            Some("egress-denied"),
            None,
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
        ErrorCode::TlsCertificateError => ConnectorError::Timeout(format!(
            "could not reach {authority}: its TLS certificate is not trusted (the host does not trust the certificate's issuer, or the certificate does not name {authority})"
        )),
        ErrorCode::DnsError(_)
        | ErrorCode::DestinationNotFound
        | ErrorCode::DestinationUnavailable
        | ErrorCode::DestinationIpUnroutable
        | ErrorCode::ConnectionRefused
        | ErrorCode::ConnectionTerminated
        | ErrorCode::ConnectionLimitReached
        | ErrorCode::TlsProtocolError
        | ErrorCode::TlsAlertReceived(_)
        | ErrorCode::HttpResponseIncomplete => {
            ConnectorError::Timeout(format!("could not reach {authority} ({code:?})"))
        }
        other => internal(format!("request to {authority} failed: {other:?}")),
    }
}
