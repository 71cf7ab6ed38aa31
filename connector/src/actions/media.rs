//! `media.upload`: X API v2 chunked upload, one segment at a time.
//!
//! initialize (total bytes, media type, category) → append numbered
//! segments → finalize → poll the status while X processes a video or an
//! animated GIF, waiting `check_after_secs` between polls → optional alt
//! text through the metadata endpoint. Each segment is read from its source
//! and written into the request in small pieces, so the component's memory
//! does not grow with the file; a failed segment is sent again alone.

use super::Action;
use crate::api::{Answer, RateLimit, XApi};
use crate::bindings::integration::connector::host;
use crate::context::{Context, report_progress};
use crate::error::{ConnectorError, internal, invalid_input};
use crate::http::{BodySink, BodySource};
use crate::input::Validate;
use crate::media::{Category, Kind, MediaType, sniff};
use crate::retry;
use base64::Engine;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::io::{Read, Seek, SeekFrom};
use std::time::Duration;

/// Where the host grants the run's files (see the WIT world).
const FILES_ROOT: &str = "/files";

/// Bytes per appended segment; X accepts up to 5 MB.
const SEGMENT_BYTES: u64 = 4 * 1024 * 1024;

/// Bytes read from the source per write into the request.
const PIECE_BYTES: usize = 64 * 1024;

/// Largest media accepted inline as base64; larger media go by `file`.
const MAX_INLINE_BYTES: usize = 5 * 1024 * 1024;

/// Attempts per segment (the first and the retries).
const SEGMENT_ATTEMPTS: u32 = 4;

/// Longest alt text X accepts.
const MAX_ALT_TEXT: usize = 1000;

/// Longest wait for X to process a video, all polls together.
const MAX_PROCESSING_WAIT: Duration = Duration::from_secs(30 * 60);

/// What to upload.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadInput {
    /// The media inline, base64-encoded: for images up to 5 MB. Give
    /// either `base64` or `file`.
    #[serde(default)]
    pub base64: Option<String>,
    /// The media as a path inside the directory the host grants to the run
    /// (`photos/launch.png`). Give either `base64` or `file`.
    #[serde(default)]
    pub file: Option<String>,
    /// The media's type; when absent it is read from the file's first
    /// bytes. A file that is not of the declared type is refused.
    #[serde(default)]
    pub media_type: Option<MediaType>,
    /// X's media category; by default `tweet_image` for images,
    /// `tweet_gif` for GIFs and `tweet_video` for videos.
    #[serde(default)]
    pub media_category: Option<Category>,
    /// A description of the media for people who cannot see it, at most
    /// 1000 characters.
    #[serde(default)]
    pub alt_text: Option<String>,
}

impl Validate for UploadInput {
    fn validate(&self) -> Result<(), ConnectorError> {
        match (&self.base64, &self.file) {
            (Some(_), Some(_)) => Err(invalid_input(
                "file",
                "give either `base64` or `file`, not both",
            )),
            (None, None) => Err(invalid_input(
                "file",
                "give the media as `file` (a path) or as `base64`",
            )),
            (None, Some(path)) => relative_path(path).map(|_| ()),
            (Some(text), None) => {
                if text.len() > MAX_INLINE_BYTES / 3 * 4 + 4 {
                    return Err(invalid_input(
                        "base64",
                        format!(
                            "inline media may be at most {MAX_INLINE_BYTES} bytes; give larger media as `file`"
                        ),
                    ));
                }
                Ok(())
            }
        }?;
        if let Some(alt) = &self.alt_text {
            let n = alt.chars().count();
            if alt.trim().is_empty() {
                return Err(invalid_input("alt_text", "must not be empty"));
            }
            if n > MAX_ALT_TEXT {
                return Err(invalid_input(
                    "alt_text",
                    format!("is {n} characters long; X allows at most {MAX_ALT_TEXT}"),
                ));
            }
        }
        Ok(())
    }
}

/// Checks that `path` stays inside the granted directory: relative, with no
/// `..`, and not empty.
fn relative_path(path: &str) -> Result<String, ConnectorError> {
    let refuse = |why: &str| Err(invalid_input("file", format!("`{path}` {why}")));
    if path.trim().is_empty() {
        return refuse("is empty");
    }
    if path.starts_with('/') || path.starts_with('\\') {
        return refuse("is absolute; give a path inside the directory granted to the run");
    }
    if path.split(['/', '\\']).any(|part| part == "..") {
        return refuse("leaves the directory granted to the run");
    }
    Ok(format!("{FILES_ROOT}/{path}"))
}

/// X's processing state of the uploaded media.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Processing {
    /// `succeeded` once the media can be attached to a post.
    pub state: String,
    /// Status polls made while X processed the media.
    pub polls: u32,
}

/// The uploaded media, ready to attach to a post.
#[derive(Debug, Serialize, JsonSchema)]
pub struct UploadOutput {
    /// The id to pass in `post.create`'s `media_ids`.
    pub media_id: String,
    /// X's media key (`3_…` for an image, `16_…` for a GIF, `7_…` for a
    /// video).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_key: Option<String>,
    /// The media type that was uploaded.
    pub media_type: String,
    /// The media category that was used.
    pub media_category: String,
    /// Bytes uploaded.
    pub size: u64,
    /// Segments appended.
    pub segments: u32,
    /// Segment sends that failed and were retried.
    pub retries: u32,
    /// The processing outcome, for videos and GIFs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub processing: Option<Processing>,
    /// The alt text that was set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alt_text: Option<String>,
    /// Seconds until X forgets the media if no post uses it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_after_secs: Option<u64>,
    /// The upload endpoint's rate limit after the last call.
    pub rate_limit: RateLimit,
}

/// Where the media's bytes come from.
enum Source {
    Inline(Vec<u8>),
    File(std::fs::File),
}

impl Source {
    fn open(input: &UploadInput) -> Result<(Source, u64, &'static str), ConnectorError> {
        if let Some(text) = &input.base64 {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|e| invalid_input("base64", format!("is not valid base64: {e}")))?;
            let len = bytes.len() as u64;
            return Ok((Source::Inline(bytes), len, "base64"));
        }
        let path = relative_path(input.file.as_deref().unwrap_or_default())?;
        let shown = input.file.as_deref().unwrap_or_default();
        // Looked at before it is opened: opening a FIFO or a device could
        // wait for ever.
        match std::fs::metadata(&path) {
            Ok(meta) if !meta.is_file() => {
                return Err(invalid_input(
                    "file",
                    format!("`{shown}` is not a regular file"),
                ));
            }
            _ => {}
        }
        let file = std::fs::File::open(&path).map_err(|e| {
            let why = match e.kind() {
                std::io::ErrorKind::NotFound => {
                    "does not exist in the directory granted to the run (is a directory granted?)"
                        .to_string()
                }
                std::io::ErrorKind::PermissionDenied => "cannot be read".to_string(),
                _ => format!("cannot be opened: {e}"),
            };
            invalid_input("file", format!("`{shown}` {why}"))
        })?;
        let meta = file
            .metadata()
            .map_err(|e| invalid_input("file", format!("`{shown}` cannot be read: {e}")))?;
        if !meta.is_file() {
            return Err(invalid_input("file", format!("`{shown}` is not a file")));
        }
        Ok((Source::File(file), meta.len(), "file"))
    }

    /// Reads up to `buf.len()` bytes at `offset`.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<usize, ConnectorError> {
        match self {
            Source::Inline(bytes) => {
                let start = (offset as usize).min(bytes.len());
                let n = buf.len().min(bytes.len() - start);
                buf[..n].copy_from_slice(&bytes[start..start + n]);
                Ok(n)
            }
            Source::File(file) => {
                file.seek(SeekFrom::Start(offset))
                    .map_err(|e| internal(format!("cannot seek in the file: {e}")))?;
                let mut filled = 0;
                while filled < buf.len() {
                    match file.read(&mut buf[filled..]) {
                        Ok(0) => break,
                        Ok(n) => filled += n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(internal(format!("cannot read the file: {e}"))),
                    }
                }
                Ok(filled)
            }
        }
    }
}

/// One segment as a `multipart/form-data` body with the parts X's append
/// takes: `segment_index` and `media`.
struct SegmentBody<'a> {
    source: &'a mut Source,
    index: u32,
    offset: u64,
    length: u64,
    boundary: String,
    progress: Progress<'a>,
}

impl SegmentBody<'_> {
    fn head(&self) -> String {
        format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"segment_index\"\r\n\r\n{i}\r\n--{b}\r\nContent-Disposition: form-data; name=\"media\"; filename=\"segment-{i}\"\r\nContent-Type: application/octet-stream\r\n\r\n",
            b = self.boundary,
            i = self.index
        )
    }

    fn tail(&self) -> String {
        format!("\r\n--{}--\r\n", self.boundary)
    }

    fn content_type(&self) -> String {
        format!("multipart/form-data; boundary={}", self.boundary)
    }
}

impl BodySource for SegmentBody<'_> {
    fn length(&self) -> u64 {
        self.head().len() as u64 + self.length + self.tail().len() as u64
    }

    fn write_into(&mut self, sink: &mut BodySink<'_>) -> Result<(), ConnectorError> {
        sink.write(self.head().as_bytes())?;
        let mut piece = vec![0u8; PIECE_BYTES];
        let mut sent = 0u64;
        while sent < self.length {
            let want = (self.length - sent).min(PIECE_BYTES as u64) as usize;
            let n = self
                .source
                .read_at(self.offset + sent, &mut piece[..want])?;
            if n == 0 {
                return Err(invalid_input(
                    "file",
                    "the file became shorter while it was being uploaded",
                ));
            }
            sink.write(&piece[..n])?;
            sent += n as u64;
            self.progress.bytes(self.offset + sent);
        }
        sink.write(self.tail().as_bytes())
    }
}

/// Progress reports to the host, at most one per mebibyte.
#[derive(Clone, Copy)]
struct Progress<'a> {
    total: u64,
    last: &'a std::cell::Cell<u64>,
}

impl Progress<'_> {
    fn bytes(&self, done: u64) {
        if done == self.total || done.abs_diff(self.last.get()) >= 1024 * 1024 {
            self.last.set(done);
            report_progress("uploading", done, Some(self.total));
        }
    }
}

/// `POST /2/media/upload/initialize`, `…/append`, `…/finalize`,
/// `GET /2/media/upload`, `POST /2/media/metadata`.
pub struct Upload;

impl Action for Upload {
    const ID: &'static str = "media.upload";
    type Input = UploadInput;
    type Output = UploadOutput;

    fn run(ctx: &Context, input: UploadInput) -> Result<UploadOutput, ConnectorError> {
        let (mut source, size, field) = Source::open(&input)?;
        let mut head = [0u8; 16];
        let n = source.read_at(0, &mut head)?;
        let (media_type, category, kind) = choose(&input, &head[..n], size, field)?;

        let api = &ctx.api;
        let init = api.post_json(
            "/2/media/upload/initialize",
            &json!({
                "total_bytes": size,
                "media_type": media_type.as_str(),
                "media_category": category.as_str(),
            }),
        )?;
        let id = media_id(&init)?;
        let mut media_key = text(&init.body, "/data/media_key");

        let last = std::cell::Cell::new(0);
        let progress = Progress {
            total: size,
            last: &last,
        };
        report_progress("uploading", 0, Some(size));
        let mut retries = 0;
        let mut index = 0u32;
        let mut offset = 0u64;
        while offset < size {
            let length = (size - offset).min(SEGMENT_BYTES);
            append(
                api,
                &id,
                &mut source,
                index,
                offset,
                length,
                progress,
                &mut retries,
            )?;
            offset += length;
            index += 1;
        }

        let finalized = api.post_empty(&format!("/2/media/upload/{id}/finalize"))?;
        media_key = text(&finalized.body, "/data/media_key").or(media_key);
        let mut expires = finalized
            .body
            .pointer("/data/expires_after_secs")
            .and_then(Value::as_u64);
        let mut rate_limit = finalized.rate_limit.clone();
        let processing = match finalized.body.pointer("/data/processing_info") {
            Some(info) if kind != Kind::Image || info.get("state").is_some() => {
                let (state, polls, last_answer) = wait_for_processing(api, &id, info, field)?;
                if let Some(a) = last_answer {
                    rate_limit = a.rate_limit;
                    expires = a
                        .body
                        .pointer("/data/expires_after_secs")
                        .and_then(Value::as_u64)
                        .or(expires);
                }
                Some(Processing { state, polls })
            }
            _ => None,
        };

        if let Some(alt) = &input.alt_text {
            api.post_json(
                "/2/media/metadata",
                &json!({ "id": id, "metadata": { "alt_text": { "text": alt } } }),
            )?;
        }
        Ok(UploadOutput {
            media_id: id,
            media_key,
            media_type: media_type.as_str().to_string(),
            media_category: category.as_str().to_string(),
            size,
            segments: index,
            retries,
            processing,
            alt_text: input.alt_text,
            expires_after_secs: expires,
            rate_limit,
        })
    }
}

/// The media type and category to declare, checked against the bytes and
/// X's limits before anything is sent.
fn choose(
    input: &UploadInput,
    head: &[u8],
    size: u64,
    field: &str,
) -> Result<(MediaType, Category, Kind), ConnectorError> {
    if size == 0 {
        return Err(invalid_input(field, "is empty"));
    }
    let found = sniff(head);
    let media_type = match (input.media_type, found) {
        (Some(declared), Some(found)) if declared != found => {
            return Err(invalid_input(
                "media_type",
                format!(
                    "is {}, but the media is {}",
                    declared.as_str(),
                    found.as_str()
                ),
            ));
        }
        (Some(declared), None) => {
            return Err(invalid_input(
                field,
                format!("is not a {} file", declared.as_str()),
            ));
        }
        (_, Some(found)) => found,
        (None, None) => {
            return Err(invalid_input(
                field,
                "is not a JPEG, PNG, WebP or GIF image or an MP4 video",
            ));
        }
    };
    let category = input
        .media_category
        .unwrap_or_else(|| Category::default_for(media_type));
    let kind = category.kind_for(media_type).ok_or_else(|| {
        invalid_input(
            "media_category",
            format!(
                "{} does not take {} media",
                category.as_str(),
                media_type.as_str()
            ),
        )
    })?;
    if size > kind.max_bytes() {
        return Err(invalid_input(
            field,
            format!(
                "is {size} bytes; X accepts {} media up to {} bytes ({} MB)",
                category.as_str(),
                kind.max_bytes(),
                kind.max_bytes() / (1024 * 1024)
            ),
        ));
    }
    Ok((media_type, category, kind))
}

/// Sends one segment, retrying it alone with backoff when the failure is
/// worth a retry.
#[allow(clippy::too_many_arguments)]
fn append(
    api: &XApi,
    id: &str,
    source: &mut Source,
    index: u32,
    offset: u64,
    length: u64,
    progress: Progress<'_>,
    retries: &mut u32,
) -> Result<Answer, ConnectorError> {
    let mut attempt = 1;
    loop {
        let mut body = SegmentBody {
            source,
            index,
            offset,
            length,
            boundary: format!("x-connector-{id}-{index}-{attempt}"),
            progress,
        };
        let content_type = body.content_type();
        match api.post_body(
            &format!("/2/media/upload/{id}/append"),
            &content_type,
            &mut body,
        ) {
            Ok(answer) => return Ok(answer),
            Err(e) if attempt < SEGMENT_ATTEMPTS && retry::transient(&e) => {
                *retries += 1;
                let wait = retry::backoff(attempt);
                host::log(
                    host::LogLevel::Warn,
                    &format!(
                        "segment {index} of media {id} failed ({}); sending it again in {} ms",
                        crate::error::kind(&e),
                        wait.as_millis()
                    ),
                );
                std::thread::sleep(wait);
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Polls the status while X processes the media, waiting what X asks.
fn wait_for_processing(
    api: &XApi,
    id: &str,
    first: &Value,
    field: &str,
) -> Result<(String, u32, Option<Answer>), ConnectorError> {
    let mut info = first.clone();
    let mut polls = 0;
    let mut waited = Duration::ZERO;
    let mut last = None;
    loop {
        let state = info
            .get("state")
            .and_then(Value::as_str)
            .unwrap_or("succeeded")
            .to_string();
        match state.as_str() {
            "succeeded" => return Ok((state, polls, last)),
            "failed" => {
                let name = info
                    .pointer("/error/name")
                    .and_then(Value::as_str)
                    .unwrap_or("InvalidMedia");
                let message = info
                    .pointer("/error/message")
                    .and_then(Value::as_str)
                    .unwrap_or("X could not process the media");
                return Err(invalid_input(
                    field,
                    format!("X could not process the media: {name}: {message}"),
                ));
            }
            "pending" | "in_progress" => {}
            other => {
                return Err(internal(format!(
                    "X reported an unknown processing state `{other}`"
                )));
            }
        }
        let percent = info
            .get("progress_percent")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        report_progress("processing", percent, Some(100));
        let after = Duration::from_secs(
            info.get("check_after_secs")
                .and_then(Value::as_u64)
                .unwrap_or(1),
        );
        // What this action may still wait: its own bound, and the time the
        // host gives it (less a margin to answer in).
        let mut may_wait = MAX_PROCESSING_WAIT.saturating_sub(waited);
        if let Some(left) = host::time_left() {
            let left = Duration::from_nanos(left);
            may_wait = may_wait.min(left.saturating_sub(left / 10));
        }
        if after > may_wait {
            return Err(ConnectorError::Timeout(format!(
                "X is still processing media {id} and asks to check again in {} s, past what this action may still wait ({} s, after {} s of waiting); its id stays valid, check it again later",
                after.as_secs(),
                may_wait.as_secs(),
                waited.as_secs()
            )));
        }
        std::thread::sleep(after);
        waited += after;
        let answer = api.get(
            "/2/media/upload",
            &[
                ("media_id", id.to_string()),
                ("command", "STATUS".to_string()),
            ],
        )?;
        polls += 1;
        info = answer
            .body
            .pointer("/data/processing_info")
            .cloned()
            .unwrap_or_else(|| json!({ "state": "succeeded" }));
        last = Some(answer);
    }
}

fn media_id(answer: &Answer) -> Result<String, ConnectorError> {
    text(&answer.body, "/data/id")
        .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| internal("X's answer to initialize has no media id"))
}

fn text(body: &Value, pointer: &str) -> Option<String> {
    body.pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::parse;

    fn refused(input: &str) -> (String, String) {
        match parse::<UploadInput>(input) {
            Err(ConnectorError::InvalidInput(i)) => (i.field, i.reason),
            other => panic!("expected invalid-input for {input}, got {other:?}"),
        }
    }

    #[test]
    fn exactly_one_source_and_a_path_inside_the_granted_directory() {
        assert_eq!(refused("{}").0, "file");
        assert_eq!(refused(r#"{"file": "a.png", "base64": "AA=="}"#).0, "file");
        assert_eq!(refused(r#"{"file": "/etc/passwd"}"#).0, "file");
        assert_eq!(refused(r#"{"file": "../secret.png"}"#).0, "file");
        assert_eq!(refused(r#"{"file": "a/../../b.png"}"#).0, "file");
        assert!(parse::<UploadInput>(r#"{"file": "photos/a.png"}"#).is_ok());
    }

    #[test]
    fn alt_text_and_types_are_checked() {
        let long = format!(r#"{{"file": "a.png", "alt_text": "{}"}}"#, "x".repeat(1001));
        assert_eq!(refused(&long).0, "alt_text");
        assert_eq!(
            refused(r#"{"file": "a.png", "media_type": "image/bmp"}"#).0,
            "media_type"
        );
        assert_eq!(
            refused(r#"{"file": "a.png", "media_category": "tweet_movie"}"#).0,
            "media_category"
        );
    }

    fn input(media_type: Option<MediaType>, category: Option<Category>) -> UploadInput {
        UploadInput {
            base64: None,
            file: Some("x".into()),
            media_type,
            media_category: category,
            alt_text: None,
        }
    }

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    const MP4: &[u8] = b"\0\0\0\x18ftypmp42\0\0\0\0";

    #[test]
    fn the_declared_type_must_match_the_bytes() {
        let (t, c, k) = choose(&input(None, None), PNG, 10, "file").unwrap();
        assert_eq!(
            (t, c, k),
            (MediaType::Png, Category::TweetImage, Kind::Image)
        );
        let e = choose(&input(Some(MediaType::Jpeg), None), PNG, 10, "file").unwrap_err();
        assert!(
            matches!(e, ConnectorError::InvalidInput(ref i) if i.field == "media_type"),
            "{e:?}"
        );
        let e = choose(&input(None, None), b"hello world", 11, "file").unwrap_err();
        assert!(
            matches!(e, ConnectorError::InvalidInput(ref i) if i.field == "file"),
            "{e:?}"
        );
        let e = choose(&input(None, Some(Category::TweetImage)), MP4, 10, "file").unwrap_err();
        assert!(
            matches!(e, ConnectorError::InvalidInput(ref i) if i.field == "media_category"),
            "{e:?}"
        );
    }

    #[test]
    fn each_kind_has_its_size_limit() {
        let five = 5 * 1024 * 1024;
        assert!(choose(&input(None, None), PNG, five, "file").is_ok());
        assert!(choose(&input(None, None), PNG, five + 1, "file").is_err());
        assert!(choose(&input(None, None), MP4, 512 * 1024 * 1024, "file").is_ok());
        assert!(choose(&input(None, None), MP4, 512 * 1024 * 1024 + 1, "file").is_err());
        assert!(
            choose(
                &input(None, None),
                b"GIF89a\x01\0\x01\0",
                15 * 1024 * 1024,
                "file"
            )
            .is_ok()
        );
    }
}
