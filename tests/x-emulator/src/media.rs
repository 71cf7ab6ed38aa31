//! Media uploads as X runs them: a session is initialized with its total
//! size, type and category; numbered segments are appended, in any order;
//! finalize checks that every byte arrived and that the bytes are what the
//! type says; videos and animated GIFs are then processed asynchronously,
//! and status polls report `pending` → `in_progress` → `succeeded` (or
//! `failed`), each with `check_after_secs`.
//!
//! Only sizes and the first bytes of each upload are kept, never the media,
//! so a 500 MB upload costs the emulator nothing.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// How long an upload session lives after initialize, as X says.
pub const SESSION_SECS: u64 = 86_400;

/// The largest segment X accepts.
pub const MAX_SEGMENT_BYTES: usize = 5 * 1024 * 1024;

/// Highest segment index X accepts.
pub const MAX_SEGMENT_INDEX: u32 = 999;

/// What X does with a media category.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Image,
    Gif,
    Video,
}

impl Kind {
    /// The most bytes X accepts for this kind.
    pub fn max_bytes(self) -> u64 {
        match self {
            Kind::Image => 5 * 1024 * 1024,
            Kind::Gif => 15 * 1024 * 1024,
            Kind::Video => 512 * 1024 * 1024,
        }
    }

    /// The prefix of media keys: X's media type numbers.
    fn key_prefix(self) -> &'static str {
        match self {
            Kind::Image => "3",
            Kind::Gif => "16",
            Kind::Video => "7",
        }
    }

    /// The media `type` X gives in `includes.media`.
    pub fn media_type(self) -> &'static str {
        match self {
            Kind::Image => "photo",
            Kind::Gif => "animated_gif",
            Kind::Video => "video",
        }
    }

    /// Whether finalize starts asynchronous processing.
    fn processed(self) -> bool {
        self != Kind::Image
    }
}

/// The kind of a category, given the media type; `None` when X refuses the
/// combination.
pub fn kind_of(category: &str, media_type: &str) -> Option<Kind> {
    let image = matches!(media_type, "image/jpeg" | "image/png" | "image/webp");
    let gif = media_type == "image/gif";
    let video = media_type == "video/mp4";
    match category {
        "tweet_image" | "dm_image" if image || gif => Some(Kind::Image),
        "tweet_gif" | "dm_gif" if gif => Some(Kind::Gif),
        "tweet_video" | "dm_video" | "amplify_video" if video => Some(Kind::Video),
        _ => None,
    }
}

/// The category X picks when initialize names none.
pub fn default_category(media_type: &str) -> &'static str {
    match media_type {
        "video/mp4" => "tweet_video",
        _ => "tweet_image",
    }
}

/// Whether `head` starts the way a file of `media_type` does.
pub fn signature_matches(media_type: &str, head: &[u8]) -> bool {
    match media_type {
        "image/jpeg" => head.starts_with(&[0xFF, 0xD8, 0xFF]),
        "image/png" => head.starts_with(b"\x89PNG\r\n\x1a\n"),
        "image/gif" => head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a"),
        "image/webp" => head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP",
        "video/mp4" => head.len() >= 8 && &head[4..8] == b"ftyp",
        _ => false,
    }
}

/// How processing goes for the uploads finalized from now on.
#[derive(Debug, Clone)]
pub struct Processing {
    /// Status polls answered `pending` / `in_progress` before the outcome.
    pub polls: u32,
    /// The `check_after_secs` each answer asks for.
    pub check_after_secs: u64,
    /// `Some(message)`: processing fails with X's `InvalidMedia` error.
    pub fail: Option<String>,
}

impl Default for Processing {
    fn default() -> Self {
        Processing {
            polls: 2,
            check_after_secs: 1,
            fail: None,
        }
    }
}

/// Where an upload is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Taking segments.
    Uploading,
    /// Finalized; processing, with this many polls to go.
    Processing {
        polls_left: u32,
    },
    Succeeded,
    Failed(String),
}

/// One upload session.
#[derive(Debug, Clone)]
pub struct Upload {
    pub id: u64,
    pub owner: u64,
    pub media_type: String,
    pub category: String,
    pub kind: Kind,
    pub total_bytes: u64,
    /// Bytes received per segment index.
    pub segments: BTreeMap<u32, u64>,
    /// The first bytes of segment 0, to check the type at finalize.
    pub head: Vec<u8>,
    pub state: State,
    pub alt_text: Option<String>,
    pub expires_at: Instant,
    pub expires_at_unix: i64,
    /// When the next status poll may advance processing.
    next_step_at: Instant,
    processing: Processing,
    /// Status polls answered, for tests.
    pub polls: u32,
}

impl Upload {
    pub fn media_key(&self) -> String {
        format!("{}_{}", self.kind.key_prefix(), self.id)
    }

    pub fn received(&self) -> u64 {
        self.segments.values().sum()
    }

    pub fn usable(&self) -> bool {
        self.state == State::Succeeded
    }
}

/// Why an append or a finalize was refused.
#[derive(Debug)]
pub enum Refusal {
    UnknownId,
    Expired,
    NotOwner,
    AlreadyFinalized,
    SegmentIndex(u32),
    SegmentTooLarge(usize),
    TooManyBytes { declared: u64, received: u64 },
    MissingSegments(Vec<u32>),
    SizeMismatch { declared: u64, received: u64 },
    NotItsType,
}

impl Refusal {
    /// The parameter X names, and its message.
    pub fn describe(&self, id: &str) -> (&'static str, String) {
        match self {
            Refusal::UnknownId => ("id", format!("The media id [{id}] is not valid.")),
            Refusal::Expired => (
                "id",
                format!("The upload session of media [{id}] has expired."),
            ),
            Refusal::NotOwner => (
                "id",
                format!("The media id [{id}] does not belong to the authenticated user."),
            ),
            Refusal::AlreadyFinalized => ("id", format!("The media [{id}] is already finalized.")),
            Refusal::SegmentIndex(i) => (
                "segment_index",
                format!("The segment index {i} is not between 0 and {MAX_SEGMENT_INDEX}."),
            ),
            Refusal::SegmentTooLarge(n) => (
                "media",
                format!(
                    "The segment is {n} bytes; a segment may be at most {MAX_SEGMENT_BYTES} bytes."
                ),
            ),
            Refusal::TooManyBytes { declared, received } => (
                "media",
                format!(
                    "Received {received} bytes, more than the {declared} bytes declared at initialize."
                ),
            ),
            Refusal::MissingSegments(missing) => (
                "id",
                format!("Segments {missing:?} are missing; append them before finalize."),
            ),
            Refusal::SizeMismatch { declared, received } => (
                "id",
                format!(
                    "File size mismatch: {received} bytes received, {declared} declared at initialize."
                ),
            ),
            Refusal::NotItsType => (
                "id",
                "InvalidMedia: the file is not of the media type declared at initialize."
                    .to_string(),
            ),
        }
    }
}

/// Every upload, and how processing goes.
#[derive(Default)]
pub struct Uploads {
    by_id: HashMap<u64, Upload>,
    pub processing: Processing,
}

impl Uploads {
    #[allow(clippy::too_many_arguments)]
    pub fn initialize(
        &mut self,
        id: u64,
        owner: u64,
        media_type: &str,
        category: &str,
        kind: Kind,
        total_bytes: u64,
        now_unix: i64,
    ) -> &Upload {
        let now = Instant::now();
        let upload = Upload {
            id,
            owner,
            media_type: media_type.to_string(),
            category: category.to_string(),
            kind,
            total_bytes,
            segments: BTreeMap::new(),
            head: Vec::new(),
            state: State::Uploading,
            alt_text: None,
            expires_at: now + Duration::from_secs(SESSION_SECS),
            expires_at_unix: now_unix + SESSION_SECS as i64,
            next_step_at: now,
            processing: self.processing.clone(),
            polls: 0,
        };
        self.by_id.insert(id, upload);
        &self.by_id[&id]
    }

    pub fn get(&self, id: u64) -> Option<&Upload> {
        self.by_id.get(&id)
    }

    /// Ends the session of `id` now, as if a day had passed.
    pub fn expire(&mut self, id: u64) {
        if let Some(u) = self.by_id.get_mut(&id) {
            u.expires_at = Instant::now();
        }
    }

    fn session(&mut self, id: u64, caller: u64) -> Result<&mut Upload, Refusal> {
        let upload = self.by_id.get_mut(&id).ok_or(Refusal::UnknownId)?;
        if upload.owner != caller {
            return Err(Refusal::NotOwner);
        }
        if upload.state == State::Uploading && upload.expires_at <= Instant::now() {
            return Err(Refusal::Expired);
        }
        Ok(upload)
    }

    pub fn append(
        &mut self,
        id: u64,
        caller: u64,
        index: u32,
        bytes: &[u8],
    ) -> Result<&Upload, Refusal> {
        let upload = self.session(id, caller)?;
        if upload.state != State::Uploading {
            return Err(Refusal::AlreadyFinalized);
        }
        if index > MAX_SEGMENT_INDEX {
            return Err(Refusal::SegmentIndex(index));
        }
        if bytes.len() > MAX_SEGMENT_BYTES {
            return Err(Refusal::SegmentTooLarge(bytes.len()));
        }
        let before = upload.segments.get(&index).copied().unwrap_or(0);
        let received = upload.received() - before + bytes.len() as u64;
        if received > upload.total_bytes {
            return Err(Refusal::TooManyBytes {
                declared: upload.total_bytes,
                received,
            });
        }
        upload.segments.insert(index, bytes.len() as u64);
        if index == 0 {
            upload.head = bytes[..bytes.len().min(16)].to_vec();
        }
        Ok(upload)
    }

    pub fn finalize(&mut self, id: u64, caller: u64) -> Result<&Upload, Refusal> {
        let upload = self.session(id, caller)?;
        if upload.state != State::Uploading {
            return Err(Refusal::AlreadyFinalized);
        }
        let last = upload.segments.keys().next_back().copied();
        let missing: Vec<u32> = match last {
            None => vec![0],
            Some(last) => (0..=last)
                .filter(|i| !upload.segments.contains_key(i))
                .collect(),
        };
        if !missing.is_empty() {
            return Err(Refusal::MissingSegments(missing));
        }
        if upload.received() != upload.total_bytes {
            return Err(Refusal::SizeMismatch {
                declared: upload.total_bytes,
                received: upload.received(),
            });
        }
        let matches = signature_matches(&upload.media_type, &upload.head);
        if !upload.kind.processed() {
            if !matches {
                return Err(Refusal::NotItsType);
            }
            upload.state = State::Succeeded;
            return Ok(upload);
        }
        upload.state = State::Processing {
            polls_left: upload.processing.polls,
        };
        if !matches {
            upload.processing.fail = Some("Unsupported video format".to_string());
        }
        upload.next_step_at =
            Instant::now() + Duration::from_secs(upload.processing.check_after_secs);
        Ok(upload)
    }

    /// A status poll: advances processing by one step if the caller waited
    /// `check_after_secs`; a poll that comes too early changes nothing.
    pub fn poll(&mut self, id: u64, caller: u64) -> Result<&Upload, Refusal> {
        let upload = self.by_id.get_mut(&id).ok_or(Refusal::UnknownId)?;
        if upload.owner != caller {
            return Err(Refusal::NotOwner);
        }
        upload.polls += 1;
        let now = Instant::now();
        if let State::Processing { polls_left } = upload.state
            && now >= upload.next_step_at
        {
            upload.state = if polls_left > 0 {
                State::Processing {
                    polls_left: polls_left - 1,
                }
            } else {
                match &upload.processing.fail {
                    Some(message) => State::Failed(message.clone()),
                    None => State::Succeeded,
                }
            };
            upload.next_step_at = now + Duration::from_secs(upload.processing.check_after_secs);
        }
        Ok(upload)
    }

    pub fn set_alt_text(&mut self, id: u64, caller: u64, text: &str) -> Result<(), Refusal> {
        let upload = self.by_id.get_mut(&id).ok_or(Refusal::UnknownId)?;
        if upload.owner != caller {
            return Err(Refusal::NotOwner);
        }
        upload.alt_text = Some(text.to_string());
        Ok(())
    }

    /// The `processing_info` of an answer, if the upload is processed.
    pub fn processing_info(upload: &Upload) -> Option<serde_json::Value> {
        use serde_json::json;
        if !upload.kind.processed() {
            return None;
        }
        let after = upload.processing.check_after_secs;
        Some(match &upload.state {
            State::Uploading => return None,
            State::Processing { polls_left } => {
                let total = upload.processing.polls.max(1);
                if *polls_left == upload.processing.polls {
                    json!({ "state": "pending", "check_after_secs": after })
                } else {
                    let percent = 100 * (total - polls_left) / (total + 1);
                    json!({ "state": "in_progress", "check_after_secs": after, "progress_percent": percent })
                }
            }
            State::Succeeded => json!({ "state": "succeeded", "progress_percent": 100 }),
            State::Failed(message) => json!({
                "state": "failed",
                "progress_percent": 100,
                "error": { "code": 1, "name": "InvalidMedia", "message": message }
            }),
        })
    }
}
