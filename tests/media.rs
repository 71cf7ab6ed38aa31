//! A workflow uploads media to X through the component: images, GIFs and
//! videos, from a directory the host grants to the run or inline as base64,
//! in X's chunked upload, and attaches them to posts. Files that X would
//! refuse are refused before a byte is sent; a failed segment is sent again
//! alone; video processing is waited for as X asks.

mod support;

use host_harness::{ActionError, HostConfig, Progress, RunOptions};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::XBed;
use x_emulator::{Endpoint, Fault, MediaProcessing};

const MIB: usize = 1024 * 1024;

/// A file that starts like a file of `kind` and is `len` bytes long.
fn media_bytes(kind: &str, len: usize) -> Vec<u8> {
    let head: &[u8] = match kind {
        "jpeg" => b"\xFF\xD8\xFF\xE0\0\x10JFIF\0",
        "png" => b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR",
        "webp" => b"RIFF\0\0\0\0WEBPVP8 ",
        "gif" => b"GIF89a\x01\0\x01\0\x80\0\0",
        "mp4" => b"\0\0\0\x18ftypmp42\0\0\0\0",
        _ => b"%PDF-1.7\n",
    };
    let mut bytes = head.to_vec();
    // Bytes that do not repeat, as a real file's do not.
    let mut state = len as u32 | 1;
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::write(dir.join(name), bytes).unwrap();
}

/// Runs `media.upload` (or any action) with `dir` granted to the run.
async fn run_with_files(
    bed: &XBed,
    dir: &Path,
    action: &str,
    input: Value,
) -> Result<Value, ActionError> {
    let options = RunOptions {
        files: Some(dir.to_path_buf()),
        progress: None,
    };
    let result = bed
        .connector
        .invoke_with(&bed.ada, action, &input.to_string(), &options)
        .await;
    if let Ok(output) = &result {
        support::assert_fits_output_schema(&bed.connector, action, output);
    }
    result
}

fn quick_processing(bed: &XBed) {
    bed.x.set_media_processing(MediaProcessing {
        polls: 1,
        check_after_secs: 0,
        fail: None,
    });
}

fn invalid_field(error: &ActionError) -> &str {
    match error {
        ActionError::InvalidInput { field, .. } => field,
        other => panic!("expected invalid-input, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn each_media_kind_uploads_from_a_granted_directory() {
    let bed = XBed::start().await;
    quick_processing(&bed);
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "photo.jpg", &media_bytes("jpeg", 200_000));
    write(dir.path(), "chart.png", &media_bytes("png", 4 * MIB + 17));
    write(dir.path(), "sticker.webp", &media_bytes("webp", 30_000));
    std::fs::create_dir(dir.path().join("clips")).unwrap();
    write(dir.path(), "clips/loop.gif", &media_bytes("gif", 6 * MIB));
    write(
        dir.path(),
        "clips/launch.mp4",
        &media_bytes("mp4", 9 * MIB + 5),
    );

    let mut uploaded = Vec::new();
    for (file, media_type, category, segments) in [
        ("photo.jpg", "image/jpeg", "tweet_image", 1),
        ("chart.png", "image/png", "tweet_image", 2),
        ("sticker.webp", "image/webp", "tweet_image", 1),
        ("clips/loop.gif", "image/gif", "tweet_gif", 2),
        ("clips/launch.mp4", "video/mp4", "tweet_video", 3),
    ] {
        let out = run_with_files(&bed, dir.path(), "media.upload", json!({ "file": file }))
            .await
            .unwrap_or_else(|e| panic!("{file}: {e:?}"));
        let size = std::fs::metadata(dir.path().join(file)).unwrap().len();
        let id = out["media_id"].as_str().unwrap().to_string();
        let seen = bed.x.media(&id).expect("X knows the media");

        assert_eq!(out["media_type"], media_type, "{file}");
        assert_eq!(out["media_category"], category, "{file}");
        assert_eq!(out["size"], size, "{file}");
        assert_eq!(out["segments"], segments, "{file}");
        assert_eq!(seen.media_type, media_type);
        assert_eq!(seen.category, category);
        assert_eq!(
            (seen.total_bytes, seen.received_bytes),
            (size, size),
            "{file}"
        );
        assert_eq!(seen.segments, segments, "{file}");
        assert_eq!(seen.state, "succeeded", "{file}");
        if media_type == "image/gif" || media_type == "video/mp4" {
            assert_eq!(out["processing"]["state"], "succeeded", "{file}");
            assert!(out["processing"]["polls"].as_u64().unwrap() >= 1, "{file}");
        } else {
            assert!(out.get("processing").is_none(), "{file}");
        }
        uploaded.push(out);
    }
    assert!(uploaded[0]["media_key"].as_str().unwrap().starts_with("3_"));
    assert!(
        uploaded[3]["media_key"]
            .as_str()
            .unwrap()
            .starts_with("16_")
    );
    assert!(uploaded[4]["media_key"].as_str().unwrap().starts_with("7_"));
    bed.assert_traffic_conforms();
}

#[tokio::test(flavor = "multi_thread")]
async fn small_media_upload_inline_as_base64_with_alt_text() {
    let bed = XBed::start().await;
    let png = media_bytes("png", 70_000);
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(&png);

    let out = bed
        .ok(
            "media.upload",
            json!({ "base64": encoded, "alt_text": "A bar chart of launches per year" }),
        )
        .await;

    let seen = bed.x.media(out["media_id"].as_str().unwrap()).unwrap();
    assert_eq!(out["media_type"], "image/png");
    assert_eq!(seen.received_bytes, png.len() as u64);
    assert_eq!(
        seen.alt_text.as_deref(),
        Some("A bar chart of launches per year")
    );
    assert_eq!(out["alt_text"], "A bar chart of launches per year");
    bed.assert_traffic_conforms();
}

#[tokio::test(flavor = "multi_thread")]
async fn uploaded_media_and_polls_attach_to_posts() {
    let bed = XBed::start().await;
    quick_processing(&bed);
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.png", &media_bytes("png", 1000));
    write(dir.path(), "b.jpg", &media_bytes("jpeg", 2000));
    write(dir.path(), "c.mp4", &media_bytes("mp4", 3000));
    let mut ids = Vec::new();
    for file in ["a.png", "b.jpg", "c.mp4"] {
        let out = run_with_files(&bed, dir.path(), "media.upload", json!({ "file": file }))
            .await
            .unwrap();
        ids.push(out["media_id"].as_str().unwrap().to_string());
    }

    let with_images = bed
        .ok(
            "post.create",
            json!({ "text": "Two charts.", "media_ids": [ids[0], ids[1]] }),
        )
        .await;
    let with_video = bed
        .ok(
            "post.create",
            json!({ "text": "The launch.", "media_ids": [ids[2]] }),
        )
        .await;
    let with_poll = bed
        .ok(
            "post.create",
            json!({ "text": "Which engine?", "poll": { "options": ["Difference", "Analytical"], "duration_minutes": 1440 } }),
        )
        .await;
    let mixed = bed
        .err(
            "post.create",
            json!({ "text": "Too much.", "media_ids": [ids[0], ids[2]] }),
        )
        .await;
    let unknown = bed
        .err(
            "post.create",
            json!({ "text": "Nothing there.", "media_ids": ["123456789"] }),
        )
        .await;

    let posts = bed.x.posts_of("ada");
    let find = |out: &Value| {
        let id = out["post"]["id"].as_str().unwrap();
        posts.iter().find(|p| p.id == id).unwrap().clone()
    };
    assert_eq!(find(&with_images).media_keys.len(), 2);
    assert!(find(&with_video).media_keys[0].starts_with("7_"));
    assert_eq!(
        find(&with_poll).poll_options,
        vec!["Difference", "Analytical"]
    );
    for refused in [&mixed, &unknown] {
        assert!(
            matches!(refused, ActionError::InvalidInput { reason, .. } if reason.contains("X refused")),
            "{refused:?}"
        );
    }
    bed.assert_traffic_conforms();
}

#[tokio::test(flavor = "multi_thread")]
async fn files_x_would_refuse_are_refused_before_a_byte_is_sent() {
    let bed = XBed::start().await;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "photo.png", &media_bytes("png", 5000));
    write(dir.path(), "notes.pdf", &media_bytes("pdf", 5000));
    write(dir.path(), "huge.png", &media_bytes("png", 5 * MIB + 1));
    write(dir.path(), "huge.gif", &media_bytes("gif", 15 * MIB + 1));
    write(dir.path(), "empty.png", b"");
    std::fs::create_dir(dir.path().join("folder")).unwrap();

    let cases = [
        (
            json!({"file": "photo.png", "media_type": "image/jpeg"}),
            "media_type",
        ),
        (json!({"file": "notes.pdf"}), "file"),
        (
            json!({"file": "notes.pdf", "media_type": "image/png"}),
            "file",
        ),
        (json!({"file": "huge.png"}), "file"),
        (json!({"file": "huge.gif"}), "file"),
        (json!({"file": "empty.png"}), "file"),
        (
            json!({"file": "photo.png", "media_category": "tweet_video"}),
            "media_category",
        ),
        (json!({"file": "missing.png"}), "file"),
        (json!({"file": "folder"}), "file"),
        (json!({"file": "../photo.png"}), "file"),
        (json!({"file": "/etc/passwd"}), "file"),
        (json!({"base64": "not base64!"}), "base64"),
        (json!({"file": "photo.png", "base64": "AAAA"}), "file"),
        (
            json!({"file": "photo.png", "alt_text": "x".repeat(1001)}),
            "alt_text",
        ),
    ];
    for (input, field) in cases {
        let error = run_with_files(&bed, dir.path(), "media.upload", input.clone())
            .await
            .expect_err(&input.to_string());
        assert_eq!(invalid_field(&error), field, "{input}: {error:?}");
    }
    // Without a granted directory no file is visible at all.
    let error = bed.err("media.upload", json!({"file": "photo.png"})).await;
    assert_eq!(invalid_field(&error), "file");

    assert_eq!(bed.x.arrivals("/2/media/upload/initialize"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_segment_is_retried_alone_a_bounded_number_of_times() {
    let bed = XBed::start().await;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "chart.png", &media_bytes("png", 4 * MIB + 1000));

    // Two server errors, then success: only the failing segment is resent.
    bed.x.inject(Endpoint::MediaAppend, Fault::Status(503));
    bed.x.inject(Endpoint::MediaAppend, Fault::Status(500));
    let out = run_with_files(
        &bed,
        dir.path(),
        "media.upload",
        json!({"file": "chart.png"}),
    )
    .await
    .unwrap();
    let id = out["media_id"].as_str().unwrap();
    let appends = bed.x.arrivals(&format!("/2/media/upload/{id}/append"));
    assert_eq!(out["retries"], 2);
    assert_eq!(appends, 2 + 2, "two segments, one of them sent three times");
    assert_eq!(bed.x.media(id).unwrap().state, "succeeded");

    // A segment that keeps failing fails the upload after four attempts.
    for _ in 0..4 {
        bed.x.inject(Endpoint::MediaAppend, Fault::Status(503));
    }
    let error = run_with_files(
        &bed,
        dir.path(),
        "media.upload",
        json!({"file": "chart.png"}),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(error, ActionError::Upstream { status: 503, .. }),
        "{error:?}"
    );

    // A refusal is not retried.
    bed.x.inject(
        Endpoint::MediaAppend,
        Fault::Raw {
            status: 400,
            body: json!({"title": "Invalid Request", "detail": "One or more parameters to your request was invalid.", "type": "https://api.twitter.com/2/problems/invalid-request", "errors": [{"message": "Segment refused", "parameters": {"media": ["x"]}}]}).to_string(),
        },
    );
    let before = bed.x.traffic().len();
    let error = run_with_files(
        &bed,
        dir.path(),
        "media.upload",
        json!({"file": "chart.png"}),
    )
    .await
    .unwrap_err();
    let appends = bed.x.traffic()[before..]
        .iter()
        .filter(|e| e.path.ends_with("/append"))
        .count();
    assert_eq!(invalid_field(&error), "media");
    assert_eq!(appends, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn video_processing_is_polled_as_x_asks_and_its_failure_carries_xs_reason() {
    let bed = XBed::start().await;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "clip.mp4", &media_bytes("mp4", 100_000));
    bed.x.set_media_processing(MediaProcessing {
        polls: 2,
        check_after_secs: 1,
        fail: None,
    });

    let started = Instant::now();
    let out = run_with_files(
        &bed,
        dir.path(),
        "media.upload",
        json!({"file": "clip.mp4"}),
    )
    .await
    .unwrap();
    let took = started.elapsed();
    let seen = bed.x.media(out["media_id"].as_str().unwrap()).unwrap();

    // pending → in_progress → in_progress → succeeded, one second apart: a
    // poll that came early would not have advanced, and would show here.
    assert_eq!(out["processing"]["state"], "succeeded");
    assert_eq!(out["processing"]["polls"], 3);
    assert_eq!(seen.status_polls, 3);
    assert!(took >= Duration::from_secs(3), "{took:?}");

    bed.x.set_media_processing(MediaProcessing {
        polls: 1,
        check_after_secs: 0,
        fail: Some("Unsupported video codec".into()),
    });
    let error = run_with_files(
        &bed,
        dir.path(),
        "media.upload",
        json!({"file": "clip.mp4"}),
    )
    .await
    .unwrap_err();
    match &error {
        ActionError::InvalidInput { field, reason } => {
            assert_eq!(field, "file");
            assert!(
                reason.contains("InvalidMedia") && reason.contains("Unsupported video codec"),
                "{reason}"
            );
        }
        other => panic!("expected invalid-input, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_check_later_than_the_action_may_wait_ends_it_at_once_and_says_so() {
    // Arrange: X asks to check again in ten minutes; the action has 20 s.
    let mut bed = XBed::start().await;
    bed.connector = bed.connector.clone().with_config(HostConfig {
        action_deadline: Duration::from_secs(20),
        ..HostConfig::default()
    });
    bed.x.set_media_processing(MediaProcessing {
        polls: 1,
        check_after_secs: 600,
        fail: None,
    });
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "clip.mp4", &media_bytes("mp4", 10_000));

    // Act
    let started = Instant::now();
    let error = run_with_files(
        &bed,
        dir.path(),
        "media.upload",
        json!({"file": "clip.mp4"}),
    )
    .await
    .unwrap_err();

    // Assert: it did not wait, and says what X asked and what it could wait.
    assert!(started.elapsed() < Duration::from_secs(15));
    match &error {
        ActionError::Timeout { detail } => {
            assert!(detail.contains("again in 600 s"), "{detail}");
            assert!(detail.contains("after 0 s of waiting"), "{detail}");
        }
        other => panic!("expected timeout, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_host_hears_the_upload_progress() {
    let bed = XBed::start().await;
    quick_processing(&bed);
    let dir = tempfile::tempdir().unwrap();
    let size = 9 * MIB + 3;
    write(dir.path(), "clip.mp4", &media_bytes("mp4", size));
    let heard: Arc<Mutex<Vec<Progress>>> = Arc::default();
    let sink = heard.clone();
    let options = RunOptions {
        files: Some(dir.path().to_path_buf()),
        progress: Some(Arc::new(move |p: &Progress| {
            sink.lock().unwrap().push(p.clone())
        })),
    };

    bed.connector
        .invoke_with(
            &bed.ada,
            "media.upload",
            r#"{"file": "clip.mp4"}"#,
            &options,
        )
        .await
        .unwrap();

    let heard = heard.lock().unwrap();
    let uploading: Vec<&Progress> = heard.iter().filter(|p| p.stage == "uploading").collect();
    assert!(uploading.len() >= 9, "{} reports", uploading.len());
    assert!(uploading.iter().all(|p| p.total == Some(size as u64)));
    assert!(uploading.windows(2).all(|w| w[0].done <= w[1].done));
    assert_eq!(uploading.last().unwrap().done, size as u64);
    assert!(
        heard
            .iter()
            .any(|p| p.stage == "processing" && p.total == Some(100))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_200_mb_video_streams_through_a_component_capped_at_16_mib() {
    let mut bed = XBed::start().await;
    quick_processing(&bed);
    // The component's linear memory may not grow past 16 MiB: if it held a
    // segment, let alone the file, the upload would fail.
    bed.connector = bed.connector.clone().with_config(HostConfig {
        max_memory_bytes: 16 * MIB,
        action_deadline: Duration::from_secs(600),
        ..HostConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let size: u64 = 200 * 1024 * 1024;
    {
        // A sparse file: a video's first bytes, then zeros.
        let file = std::fs::File::create(dir.path().join("long.mp4")).unwrap();
        std::io::Write::write_all(&mut &file, &media_bytes("mp4", 64)).unwrap();
        file.set_len(size).unwrap();
    }

    let out = run_with_files(
        &bed,
        dir.path(),
        "media.upload",
        json!({"file": "long.mp4"}),
    )
    .await
    .unwrap();

    let seen = bed.x.media(out["media_id"].as_str().unwrap()).unwrap();
    assert_eq!(seen.received_bytes, size);
    assert_eq!(seen.segments, 50);
    assert_eq!(seen.state, "succeeded");
}

/// A raw X API client, to drive the emulator's upload state machine the
/// way any client could.
struct RawX {
    http: host_harness::auth::http::HostHttp,
    base: String,
    token: String,
}

impl RawX {
    fn new(bed: &XBed) -> RawX {
        RawX {
            http: host_harness::auth::http::HostHttp::new(
                host_harness::Routes::default(),
                host_harness::outgoing::HttpTimeouts::default(),
            ),
            base: bed.x.base_url(),
            token: bed.x.issue_user_token("ada", support::DEFAULT_SCOPES),
        }
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (u16, Value) {
        let request = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {}", self.token))
            .header("content-type", content_type)
            .body(body)
            .unwrap();
        let response = self.http.send(request).await.unwrap();
        let body = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
        (response.status().as_u16(), body)
    }

    async fn json(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        let bytes = if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        self.send(method, path, "application/json", bytes).await
    }

    async fn init(&self, total: usize, media_type: &str) -> String {
        let (status, body) = self
            .json(
                "POST",
                "/2/media/upload/initialize",
                json!({"total_bytes": total, "media_type": media_type}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["data"]["id"].as_str().unwrap().to_string()
    }

    /// Appends as X's SDK does: JSON with the segment in base64.
    async fn append(&self, id: &str, index: u32, bytes: &[u8]) -> (u16, Value) {
        use base64::Engine;
        let media = base64::engine::general_purpose::STANDARD.encode(bytes);
        self.json(
            "POST",
            &format!("/2/media/upload/{id}/append"),
            json!({"media": media, "segment_index": index}),
        )
        .await
    }
}

fn message(body: &Value) -> String {
    body["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_emulator_keeps_xs_upload_state_machine() {
    let bed = XBed::start().await;
    let x = RawX::new(&bed);
    let png = media_bytes("png", 3000);

    // Segments may arrive out of order; finalize wants every one of them.
    let id = x.init(3000, "image/png").await;
    assert_eq!(x.append(&id, 2, &png[2000..]).await.0, 200);
    assert_eq!(x.append(&id, 0, &png[..1000]).await.0, 200);
    let (status, early) = x
        .json(
            "POST",
            &format!("/2/media/upload/{id}/finalize"),
            Value::Null,
        )
        .await;
    assert_eq!(status, 400);
    assert!(message(&early).contains("[1] are missing"), "{early}");
    assert_eq!(x.append(&id, 1, &png[1000..2000]).await.0, 200);
    let (status, done) = x
        .json(
            "POST",
            &format!("/2/media/upload/{id}/finalize"),
            Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["data"]["size"], 3000);
    let (status, again) = x.append(&id, 3, b"more").await;
    assert_eq!(status, 400);
    assert!(message(&again).contains("already finalized"), "{again}");

    // Finalize before every byte arrived.
    let id = x.init(3000, "image/png").await;
    x.append(&id, 0, &png[..1000]).await;
    let (status, short) = x
        .json(
            "POST",
            &format!("/2/media/upload/{id}/finalize"),
            Value::Null,
        )
        .await;
    assert_eq!(status, 400);
    assert!(message(&short).contains("size mismatch"), "{short}");

    // More bytes than declared, a segment index out of range.
    let (status, over) = x.append(&id, 1, &png).await;
    assert_eq!(status, 400);
    assert!(
        message(&over).contains("more than the 3000 bytes"),
        "{over}"
    );
    let (status, index) = x.append(&id, 1000, b"x").await;
    assert_eq!(status, 400);
    assert_eq!(index["errors"][0]["parameters"]["segment_index"][0], "1000");

    // An unknown id and an expired session.
    let (status, unknown) = x.append("1234567890", 0, b"x").await;
    assert_eq!(status, 400);
    assert!(message(&unknown).contains("not valid"), "{unknown}");
    bed.x.expire_media(&id);
    let (status, expired) = x.append(&id, 1, b"x").await;
    assert_eq!(status, 400);
    assert!(message(&expired).contains("expired"), "{expired}");
    let (status, _) = x
        .json(
            "GET",
            "/2/media/upload?media_id=1234567890&command=STATUS",
            Value::Null,
        )
        .await;
    assert_eq!(status, 400);

    // Size and type limits at initialize; bytes that are not the declared type at finalize.
    let (status, big) = x
        .json(
            "POST",
            "/2/media/upload/initialize",
            json!({"total_bytes": 5 * MIB + 1, "media_type": "image/png"}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(message(&big).contains("File size exceeds 5242880"), "{big}");
    let (status, _) = x
        .json(
            "POST",
            "/2/media/upload/initialize",
            json!({"total_bytes": 10, "media_type": "image/png", "media_category": "tweet_video"}),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = x
        .json(
            "POST",
            "/2/media/upload/initialize",
            json!({"total_bytes": 10, "media_type": "application/pdf"}),
        )
        .await;
    assert_eq!(status, 400);
    let id = x.init(3000, "image/jpeg").await;
    x.append(&id, 0, &png).await;
    let (status, wrong) = x
        .json(
            "POST",
            &format!("/2/media/upload/{id}/finalize"),
            Value::Null,
        )
        .await;
    assert_eq!(status, 400);
    assert!(message(&wrong).contains("InvalidMedia"), "{wrong}");

    // Only the uploader's own media, with media.write.
    let grace = bed
        .x
        .issue_user_token("grace", &["tweet.read", "users.read", "tweet.write"]);
    let no_scope = RawX {
        token: grace,
        ..RawX::new(&bed)
    };
    let (status, _) = no_scope
        .json(
            "POST",
            "/2/media/upload/initialize",
            json!({"total_bytes": 10, "media_type": "image/png"}),
        )
        .await;
    assert_eq!(status, 403);
    support::openapi::assert_conforms_but_refused_requests(&bed.x.traffic());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_command_line_shows_an_upload_progress_bar_at_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "clip.mp4", &media_bytes("mp4", 9 * MIB));
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_host-harness"));
    command
        .args(["run", "media.upload", "--files"])
        .arg(dir.path())
        .args(["--input", r#"{"file": "clip.mp4"}"#])
        .env_remove("HOST_HARNESS_LOG");

    let screen = tokio::task::spawn_blocking(move || {
        let mut session = rexpect::session::spawn_command(command, Some(60_000)).unwrap();
        session.exp_eof().unwrap()
    })
    .await
    .unwrap();

    // The bar: stage, bytes of the total, rate and time left; then X's
    // processing; then the output.
    assert!(screen.contains("uploading"), "{screen}");
    assert!(screen.contains("9.00 MiB/9.00 MiB"), "{screen}");
    assert!(screen.contains("ETA"), "{screen}");
    assert!(screen.contains("processing"), "{screen}");
    assert!(screen.contains("\"media_id\""), "{screen}");
}
