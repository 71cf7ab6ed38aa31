//! X API v2 chunked media upload: `POST /2/media/upload/initialize`,
//! `POST /2/media/upload/:id/append` (multipart or JSON with base64),
//! `POST /2/media/upload/:id/finalize`, `GET /2/media/upload?command=STATUS`,
//! and `POST /2/media/metadata` for alt text.

use super::answer;
use crate::Shared;
use crate::auth::{Caller, authorize};
use crate::media::{Refusal, Upload, Uploads, default_category, kind_of};
use crate::params::{Params, parse_id};
use crate::problem::{invalid_body, invalid_parameter};
use crate::rate_limit::Endpoint;
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// The media types X's specification lists for initialize.
const MEDIA_TYPES: &[&str] = &[
    "video/mp4",
    "video/webm",
    "video/mp2t",
    "video/quicktime",
    "text/srt",
    "text/vtt",
    "image/jpeg",
    "image/gif",
    "image/bmp",
    "image/png",
    "image/webp",
    "image/pjpeg",
    "image/tiff",
    "model/gltf-binary",
    "model/vnd.usdz+zip",
];

const CATEGORIES: &[&str] = &[
    "amplify_video",
    "tweet_gif",
    "tweet_image",
    "tweet_video",
    "dm_gif",
    "dm_image",
    "dm_video",
    "subtitles",
];

/// Longest alt text X accepts.
const MAX_ALT_TEXT: usize = 1000;

fn user(caller: &Caller) -> Result<u64, Response> {
    caller
        .user_id
        .ok_or_else(crate::problem::unsupported_authentication)
}

fn refused(refusal: Refusal, id: &str) -> Response {
    let (parameter, message) = refusal.describe(id);
    let value = match refusal {
        Refusal::SegmentIndex(index) => index.to_string(),
        _ => id.to_string(),
    };
    invalid_parameter(parameter, &value, &message)
}

fn media_id(raw: &str, parameter: &str) -> Result<u64, Response> {
    parse_id(parameter, raw)
}

/// The `data` of initialize, finalize and status answers.
fn upload_data(upload: &Upload, with_size: bool) -> Value {
    let mut data = Map::new();
    data.insert("id".into(), json!(upload.id.to_string()));
    data.insert("media_key".into(), json!(upload.media_key()));
    let left = upload
        .expires_at
        .saturating_duration_since(std::time::Instant::now())
        .as_secs();
    data.insert("expires_after_secs".into(), json!(left));
    if with_size {
        data.insert("size".into(), json!(upload.total_bytes));
    }
    if let Some(info) = Uploads::processing_info(upload) {
        data.insert("processing_info".into(), info);
    }
    Value::Object(data)
}

pub async fn initialize(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Response> {
    let caller = authorize(&shared, &headers, Endpoint::MediaInitialize).await?;
    let owner = user(&caller)?;
    let request: Value = serde_json::from_slice(&body)
        .map_err(|e| invalid_body(&format!("Request body is not valid JSON: {e}")))?;
    let Some(fields) = request.as_object() else {
        return Err(invalid_body("$: must be an object"));
    };
    const KNOWN: &[&str] = &[
        "additional_owners",
        "media_category",
        "media_type",
        "shared",
        "total_bytes",
    ];
    if let Some(unknown) = fields.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(invalid_body(&format!(
            "$.{unknown}: is not defined in the schema and the schema does not allow additional properties"
        )));
    }
    let media_type = match fields.get("media_type") {
        Some(Value::String(t)) if MEDIA_TYPES.contains(&t.as_str()) => t.clone(),
        Some(Value::String(t)) => {
            return Err(invalid_body(&format!(
                "$.media_type: does not have a value in the enumeration [{}] ({t})",
                MEDIA_TYPES.join(", ")
            )));
        }
        Some(_) => return Err(invalid_body("$.media_type: expected string")),
        None => return Err(invalid_body("$.media_type: is missing but it is required")),
    };
    let total_bytes = match fields.get("total_bytes") {
        Some(v) => v
            .as_u64()
            .ok_or_else(|| invalid_body("$.total_bytes: expected a non-negative integer"))?,
        None => return Err(invalid_body("$.total_bytes: is missing but it is required")),
    };
    let category = match fields.get("media_category") {
        None => default_category(&media_type).to_string(),
        Some(Value::String(c)) if CATEGORIES.contains(&c.as_str()) => c.clone(),
        Some(other) => {
            return Err(invalid_body(&format!(
                "$.media_category: does not have a value in the enumeration [{}] ({other})",
                CATEGORIES.join(", ")
            )));
        }
    };
    let Some(kind) = kind_of(&category, &media_type) else {
        return Err(invalid_parameter(
            "media_category",
            &category,
            &format!("The media category {category} does not accept media of type {media_type}."),
        ));
    };
    if total_bytes > kind.max_bytes() {
        return Err(invalid_parameter(
            "total_bytes",
            &total_bytes.to_string(),
            &format!(
                "File size exceeds {} bytes: {category} media may be at most that large.",
                kind.max_bytes()
            ),
        ));
    }
    let now = shared.clock.now();
    let id = shared.world.lock().unwrap().new_id(now);
    let mut uploads = shared.media.lock().unwrap();
    let upload = uploads.initialize(
        id,
        owner,
        &media_type,
        &category,
        kind,
        total_bytes,
        now.timestamp(),
    );
    Ok(answer(
        &caller,
        StatusCode::OK,
        json!({ "data": upload_data(upload, false) }),
    ))
}

/// One segment: its index and bytes, from a multipart form or a JSON body.
async fn segment(request: Request) -> Result<(u32, Bytes), Response> {
    let multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let (mut index, mut media) = (None::<String>, None::<Bytes>);
    if multipart {
        let mut form = Multipart::from_request(request, &())
            .await
            .map_err(|e| invalid_body(&format!("The multipart body is malformed: {e}")))?;
        while let Some(field) = form
            .next_field()
            .await
            .map_err(|e| invalid_body(&format!("The multipart body is malformed: {e}")))?
        {
            match field.name() {
                Some("segment_index") => {
                    index = Some(field.text().await.map_err(|e| {
                        invalid_body(&format!("segment_index could not be read: {e}"))
                    })?)
                }
                Some("media") => {
                    media = Some(
                        field
                            .bytes()
                            .await
                            .map_err(|e| invalid_body(&format!("media could not be read: {e}")))?,
                    )
                }
                Some(other) => {
                    return Err(invalid_body(&format!(
                        "$.{other}: is not defined in the schema"
                    )));
                }
                None => return Err(invalid_body("a form field has no name")),
            }
        }
    } else {
        let body = Bytes::from_request(request, &())
            .await
            .map_err(|e| invalid_body(&format!("The body could not be read: {e}")))?;
        let value: Value = serde_json::from_slice(&body)
            .map_err(|e| invalid_body(&format!("Request body is not valid JSON: {e}")))?;
        index = match value.get("segment_index") {
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(invalid_body("$.segment_index: expected an integer")),
            None => None,
        };
        if let Some(m) = value.get("media") {
            let text = m
                .as_str()
                .ok_or_else(|| invalid_body("$.media: expected a base64 string"))?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|e| invalid_body(&format!("$.media: is not base64: {e}")))?;
            media = Some(Bytes::from(bytes));
        }
    }
    let index =
        index.ok_or_else(|| invalid_body("$.segment_index: is missing but it is required"))?;
    let index: u32 = index.trim().parse().map_err(|_| {
        invalid_parameter(
            "segment_index",
            &index,
            "The segment index must be an integer between 0 and 999.",
        )
    })?;
    let media = media.ok_or_else(|| invalid_body("$.media: is missing but it is required"))?;
    Ok((index, media))
}

pub async fn append(
    State(shared): State<Arc<Shared>>,
    Path(raw_id): Path<String>,
    request: Request,
) -> Result<Response, Response> {
    let caller = authorize(&shared, request.headers(), Endpoint::MediaAppend).await?;
    let owner = user(&caller)?;
    let id = media_id(&raw_id, "id")?;
    let (index, bytes) = segment(request).await?;
    let mut uploads = shared.media.lock().unwrap();
    let upload = uploads
        .append(id, owner, index, &bytes)
        .map_err(|r| refused(r, &raw_id))?;
    Ok(answer(
        &caller,
        StatusCode::OK,
        json!({ "data": { "expires_at": upload.expires_at_unix } }),
    ))
}

pub async fn finalize(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(raw_id): Path<String>,
) -> Result<Response, Response> {
    let caller = authorize(&shared, &headers, Endpoint::MediaFinalize).await?;
    let owner = user(&caller)?;
    let id = media_id(&raw_id, "id")?;
    let mut uploads = shared.media.lock().unwrap();
    let upload = uploads
        .finalize(id, owner)
        .map_err(|r| refused(r, &raw_id))?;
    Ok(answer(
        &caller,
        StatusCode::OK,
        json!({ "data": upload_data(upload, true) }),
    ))
}

pub async fn status(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, Response> {
    let caller = authorize(&shared, &headers, Endpoint::MediaStatus).await?;
    let owner = user(&caller)?;
    let params = Params::parse(query.as_deref(), &["media_id", "command"])?;
    if let Some(command) = params.get("command")
        && command != "STATUS"
    {
        return Err(invalid_parameter(
            "command",
            command,
            "The command must be STATUS.",
        ));
    }
    let raw_id = params
        .get("media_id")
        .ok_or_else(|| {
            invalid_parameter(
                "media_id",
                "",
                "The `media_id` query parameter is required.",
            )
        })?
        .to_string();
    let id = media_id(&raw_id, "media_id")?;
    let mut uploads = shared.media.lock().unwrap();
    let upload = uploads.poll(id, owner).map_err(|r| {
        let (_, message) = r.describe(&raw_id);
        invalid_parameter("media_id", &raw_id, &message)
    })?;
    Ok(answer(
        &caller,
        StatusCode::OK,
        json!({ "data": upload_data(upload, true) }),
    ))
}

pub async fn metadata(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Response> {
    let caller = authorize(&shared, &headers, Endpoint::MediaMetadata).await?;
    let owner = user(&caller)?;
    let request: Value = serde_json::from_slice(&body)
        .map_err(|e| invalid_body(&format!("Request body is not valid JSON: {e}")))?;
    let raw_id = request
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid_body("$.id: is missing but it is required"))?
        .to_string();
    let id = media_id(&raw_id, "id")?;
    let text = request
        .pointer("/metadata/alt_text/text")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid_body("$.metadata.alt_text.text: is missing but it is required"))?;
    if text.chars().count() > MAX_ALT_TEXT {
        return Err(invalid_body(&format!(
            "$.metadata.alt_text.text: must be at most {MAX_ALT_TEXT} characters"
        )));
    }
    let mut uploads = shared.media.lock().unwrap();
    uploads
        .set_alt_text(id, owner, text)
        .map_err(|r| refused(r, &raw_id))?;
    Ok(answer(
        &caller,
        StatusCode::OK,
        json!({ "data": { "id": raw_id, "associated_metadata": { "alt_text": { "text": text } } } }),
    ))
}
