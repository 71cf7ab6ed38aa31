//! X's media rules: the types and categories it accepts, what each category
//! takes, its size limits, and how to tell a file's type from its first
//! bytes.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A media type X accepts for posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum MediaType {
    #[serde(rename = "image/jpeg")]
    Jpeg,
    #[serde(rename = "image/png")]
    Png,
    #[serde(rename = "image/webp")]
    Webp,
    #[serde(rename = "image/gif")]
    Gif,
    #[serde(rename = "video/mp4")]
    Mp4,
}

impl MediaType {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaType::Jpeg => "image/jpeg",
            MediaType::Png => "image/png",
            MediaType::Webp => "image/webp",
            MediaType::Gif => "image/gif",
            MediaType::Mp4 => "video/mp4",
        }
    }
}

/// X's media category: the use the media is uploaded for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    TweetImage,
    TweetGif,
    TweetVideo,
    DmImage,
    DmGif,
    DmVideo,
    AmplifyVideo,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::TweetImage => "tweet_image",
            Category::TweetGif => "tweet_gif",
            Category::TweetVideo => "tweet_video",
            Category::DmImage => "dm_image",
            Category::DmGif => "dm_gif",
            Category::DmVideo => "dm_video",
            Category::AmplifyVideo => "amplify_video",
        }
    }

    /// The category for a post's media of `media_type`.
    pub fn default_for(media_type: MediaType) -> Category {
        match media_type {
            MediaType::Gif => Category::TweetGif,
            MediaType::Mp4 => Category::TweetVideo,
            _ => Category::TweetImage,
        }
    }

    /// What X makes of `media_type` in this category; `None` when the
    /// category does not take it.
    pub fn kind_for(self, media_type: MediaType) -> Option<Kind> {
        use Category::*;
        use MediaType::*;
        match (self, media_type) {
            (TweetImage | DmImage, Jpeg | Png | Webp | Gif) => Some(Kind::Image),
            (TweetGif | DmGif, Gif) => Some(Kind::Gif),
            (TweetVideo | DmVideo | AmplifyVideo, Mp4) => Some(Kind::Video),
            _ => None,
        }
    }
}

/// How X handles the media: images at once, GIFs and videos after
/// asynchronous processing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Image,
    Gif,
    Video,
}

impl Kind {
    /// The largest file X accepts: 5 MB for images, 15 MB for animated
    /// GIFs, 512 MB for videos.
    pub fn max_bytes(self) -> u64 {
        match self {
            Kind::Image => 5 * 1024 * 1024,
            Kind::Gif => 15 * 1024 * 1024,
            Kind::Video => 512 * 1024 * 1024,
        }
    }
}

/// The media type a file's first bytes announce.
pub fn sniff(head: &[u8]) -> Option<MediaType> {
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(MediaType::Jpeg)
    } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(MediaType::Png)
    } else if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        Some(MediaType::Gif)
    } else if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        Some(MediaType::Webp)
    } else if head.len() >= 8 && &head[4..8] == b"ftyp" {
        Some(MediaType::Mp4)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_each_type_by_its_signature() {
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0\0\x10JFIF"), Some(MediaType::Jpeg));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0"), Some(MediaType::Png));
        assert_eq!(sniff(b"GIF89a\x01\0"), Some(MediaType::Gif));
        assert_eq!(sniff(b"RIFF\x10\0\0\0WEBPVP8 "), Some(MediaType::Webp));
        assert_eq!(sniff(b"\0\0\0\x20ftypisom"), Some(MediaType::Mp4));
        assert_eq!(sniff(b"%PDF-1.7"), None);
        assert_eq!(sniff(b""), None);
    }
}
