//! `tweet.fields`, `user.fields` and `expansions`: which fields of each
//! object an answer carries, and which related objects go in `includes`.
//!
//! Names are checked against the values X's OpenAPI specification allows;
//! a valid field the emulator does not model is left out, as X leaves out a
//! field that does not apply.

use crate::params::Params;
use crate::problem::invalid_parameter;
use crate::world::{AttachedMedia, Poll, Post, User, World};
use axum::response::Response;
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

const TWEET_FIELDS: &[&str] = &[
    "article",
    "attachments",
    "author_id",
    "card_uri",
    "community_id",
    "context_annotations",
    "conversation_id",
    "created_at",
    "display_text_range",
    "edit_controls",
    "edit_history_tweet_ids",
    "entities",
    "geo",
    "id",
    "in_reply_to_user_id",
    "lang",
    "media_metadata",
    "non_public_metrics",
    "note_tweet",
    "organic_metrics",
    "possibly_sensitive",
    "promoted_metrics",
    "public_metrics",
    "referenced_tweets",
    "reply_settings",
    "scopes",
    "source",
    "suggested_source_links",
    "suggested_source_links_with_counts",
    "text",
    "withheld",
];

const USER_FIELDS: &[&str] = &[
    "affiliation",
    "confirmed_email",
    "connection_status",
    "created_at",
    "description",
    "entities",
    "id",
    "is_identity_verified",
    "location",
    "most_recent_tweet_id",
    "name",
    "parody",
    "pinned_tweet_id",
    "profile_banner_url",
    "profile_image_url",
    "protected",
    "public_metrics",
    "receives_your_dm",
    "subscription",
    "subscription_type",
    "url",
    "username",
    "verified",
    "verified_followers_count",
    "verified_type",
    "withheld",
];

const TWEET_EXPANSIONS: &[&str] = &[
    "article.cover_media",
    "article.media_entities",
    "attachments.media_keys",
    "attachments.media_source_tweet",
    "attachments.poll_ids",
    "author_id",
    "edit_history_tweet_ids",
    "entities.mentions.username",
    "geo.place_id",
    "in_reply_to_user_id",
    "entities.note.mentions.username",
    "referenced_tweets.id",
    "referenced_tweets.id.attachments.media_keys",
    "referenced_tweets.id.author_id",
];

const USER_EXPANSIONS: &[&str] = &[
    "affiliation.user_id",
    "most_recent_tweet_id",
    "pinned_tweet_id",
];

const MEDIA_FIELDS: &[&str] = &[
    "alt_text",
    "duration_ms",
    "height",
    "media_key",
    "non_public_metrics",
    "organic_metrics",
    "preview_image_url",
    "promoted_metrics",
    "public_metrics",
    "type",
    "url",
    "variants",
    "width",
];

const POLL_FIELDS: &[&str] = &[
    "duration_minutes",
    "end_datetime",
    "id",
    "options",
    "voting_status",
];

const PLACE_FIELDS: &[&str] = &[
    "contained_within",
    "country",
    "country_code",
    "full_name",
    "geo",
    "id",
    "name",
    "place_type",
];

/// Field and expansion parameters every post-returning endpoint accepts.
/// `post.fields` is the name newer SDKs send for `tweet.fields`.
pub const POST_QUERY_PARAMS: &[&str] = &[
    "tweet.fields",
    "post.fields",
    "expansions",
    "media.fields",
    "poll.fields",
    "user.fields",
    "place.fields",
];

/// Field and expansion parameters of user-returning endpoints.
pub const USER_QUERY_PARAMS: &[&str] =
    &["user.fields", "expansions", "tweet.fields", "post.fields"];

/// Each post expansion and the post field that carries its ids.
const LINKING_FIELDS: &[(&str, &str)] = &[
    ("author_id", "author_id"),
    ("in_reply_to_user_id", "in_reply_to_user_id"),
    ("referenced_tweets.id", "referenced_tweets"),
    ("referenced_tweets.id.author_id", "referenced_tweets"),
    ("attachments.media_keys", "attachments"),
    ("attachments.poll_ids", "attachments"),
];

/// What an answer should carry.
#[derive(Debug, Default)]
pub struct Selection {
    tweet: BTreeSet<String>,
    user: BTreeSet<String>,
    media: BTreeSet<String>,
    poll: BTreeSet<String>,
    expansions: BTreeSet<String>,
}

impl Selection {
    /// Reads the selection of a post-returning endpoint.
    pub fn for_posts(params: &Params) -> Result<Selection, Response> {
        Self::read(params, TWEET_EXPANSIONS)
    }

    /// Reads the selection of a user-returning endpoint.
    pub fn for_users(params: &Params) -> Result<Selection, Response> {
        Self::read(params, USER_EXPANSIONS)
    }

    /// The user fields X Activity events carry for the users they name.
    pub fn activity_user() -> Selection {
        Selection {
            user: [
                "created_at",
                "description",
                "profile_image_url",
                "protected",
                "public_metrics",
                "verified",
            ]
            .into_iter()
            .map(str::to_string)
            .collect(),
            ..Selection::default()
        }
    }

    fn read(params: &Params, expansions: &[&str]) -> Result<Selection, Response> {
        // No post of the emulator's carries a place; the names are still checked.
        list(params, "place.fields", PLACE_FIELDS)?;
        let tweet_param = if params.get("post.fields").is_some() {
            "post.fields"
        } else {
            "tweet.fields"
        };
        let expansions = list(params, "expansions", expansions)?;
        let mut tweet = list(params, tweet_param, TWEET_FIELDS)?;
        // X returns the field that links a post to what an expansion puts
        // in `includes` whether or not `tweet.fields` asks for it (docs.x.com,
        // "Expansions": `expansions=author_id` alone answers `author_id`);
        // clients join on it.
        for (expansion, field) in LINKING_FIELDS {
            if expansions.contains(*expansion) {
                tweet.insert((*field).to_string());
            }
        }
        Ok(Selection {
            tweet,
            user: list(params, "user.fields", USER_FIELDS)?,
            media: list(params, "media.fields", MEDIA_FIELDS)?,
            poll: list(params, "poll.fields", POLL_FIELDS)?,
            expansions,
        })
    }

    /// Whether the answer expands `name`.
    pub fn expands(&self, name: &str) -> bool {
        self.expansions.contains(name)
    }

    /// A post with the selected fields.
    pub fn post(&self, post: &Post) -> Value {
        let mut o = Map::new();
        o.insert("id".into(), json!(post.id.to_string()));
        o.insert("text".into(), json!(preview(&post.text)));
        o.insert(
            "edit_history_tweet_ids".into(),
            json!(
                post.edit_history
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
            ),
        );
        for field in &self.tweet {
            let value = match field.as_str() {
                // A long post's full text is its note; `text` is a preview.
                "note_tweet" if is_long(&post.text) => json!({ "text": post.text }),
                "author_id" => json!(post.author_id.to_string()),
                "created_at" => json!(timestamp(post.created_at)),
                "conversation_id" => json!(post.conversation_id.to_string()),
                "in_reply_to_user_id" => match post.in_reply_to_user_id {
                    Some(id) => json!(id.to_string()),
                    None => continue,
                },
                "lang" => json!(post.lang),
                "edit_controls" => json!({
                    "is_edit_eligible": post.is_edit_eligible(),
                    "editable_until": timestamp(post.editable_until()),
                    "edits_remaining": post.edits_remaining(),
                }),
                "possibly_sensitive" => json!(false),
                "reply_settings" => {
                    json!(post.extras.reply_settings.as_deref().unwrap_or("everyone"))
                }
                "attachments" => {
                    let mut a = Map::new();
                    if !post.extras.media.is_empty() {
                        a.insert(
                            "media_keys".into(),
                            json!(
                                post.extras
                                    .media
                                    .iter()
                                    .map(|m| &m.media_key)
                                    .collect::<Vec<_>>()
                            ),
                        );
                    }
                    if let Some(poll) = &post.extras.poll {
                        a.insert("poll_ids".into(), json!([poll.id.to_string()]));
                    }
                    if a.is_empty() {
                        continue;
                    }
                    Value::Object(a)
                }
                // X renamed these metrics (`repost_count`, `post_count`); its
                // specification still requires the old names and its current
                // SDK the new ones, so both are given, as X does meanwhile.
                "public_metrics" => json!({
                    "retweet_count": post.retweet_count,
                    "repost_count": post.retweet_count,
                    "reply_count": post.reply_count,
                    "like_count": post.like_count,
                    "quote_count": post.quote_count,
                    "bookmark_count": 0,
                    "impression_count": 0,
                }),
                "referenced_tweets" if !post.references.is_empty() => json!(
                    post.references
                        .iter()
                        .map(|(kind, id)| json!({ "type": kind.as_str(), "id": id.to_string() }))
                        .collect::<Vec<_>>()
                ),
                _ => continue,
            };
            o.insert(field.clone(), value);
        }
        Value::Object(o)
    }

    /// Whether the user field `field` was asked for.
    pub fn wants_user_field(&self, field: &str) -> bool {
        self.user.contains(field)
    }

    /// A user with the selected fields.
    pub fn user(&self, world: &World, user: &User) -> Value {
        let mut o = Map::new();
        o.insert("id".into(), json!(user.id.to_string()));
        o.insert("name".into(), json!(user.name));
        o.insert("username".into(), json!(user.username));
        for field in &self.user {
            let value = match field.as_str() {
                "created_at" => json!(timestamp(user.created_at)),
                "description" => json!(user.description),
                "protected" => json!(user.protected),
                "verified" => json!(user.verified),
                "subscription_type" => json!(user.subscription_type),
                "profile_image_url" => json!(format!(
                    "https://pbs.twimg.com/profile_images/{}/avatar_normal.jpg",
                    user.id
                )),
                "public_metrics" => json!({
                    "followers_count": world.followers_count(user.id),
                    "following_count": world.following_count(user.id),
                    "tweet_count": world.post_count(user.id),
                    "post_count": world.post_count(user.id),
                    "listed_count": 0,
                    "like_count": 0,
                    "media_count": 0,
                }),
                _ => continue,
            };
            o.insert(field.clone(), value);
        }
        Value::Object(o)
    }

    /// `includes` for a list of posts: authors, replied-to users and
    /// referenced posts, each once. `None` when nothing is expanded.
    pub fn includes(&self, world: &World, posts: &[&Post]) -> Option<Value> {
        let mut user_ids = Vec::new();
        let mut post_ids = Vec::new();
        for post in posts {
            if self.expands("author_id") {
                user_ids.push(post.author_id);
            }
            if self.expands("in_reply_to_user_id") {
                user_ids.extend(post.in_reply_to_user_id);
            }
            if self.expands("referenced_tweets.id") {
                post_ids.extend(post.references.iter().map(|(_, id)| *id));
            }
            if self.expands("referenced_tweets.id.author_id") {
                user_ids.extend(
                    post.references
                        .iter()
                        .filter_map(|(_, id)| world.post(*id))
                        .map(|referenced| referenced.author_id),
                );
            }
            // The earlier versions of an edited post (docs.x.com, "Edit
            // Posts": `expansions=edit_history_tweet_ids`).
            if self.expands("edit_history_tweet_ids") {
                post_ids.extend(post.edit_history.iter().filter(|id| **id != post.id));
            }
        }
        let mut seen = BTreeSet::new();
        user_ids.retain(|id| seen.insert(*id));
        let mut seen = BTreeSet::new();
        post_ids.retain(|id| seen.insert(*id));
        let mut includes = Map::new();
        let users: Vec<Value> = user_ids
            .iter()
            .filter_map(|id| world.user(*id))
            .map(|u| self.user(world, u))
            .collect();
        if !users.is_empty() {
            includes.insert("users".into(), Value::Array(users));
        }
        if self.expands("attachments.media_keys") {
            let media: Vec<Value> = posts
                .iter()
                .flat_map(|p| &p.extras.media)
                .map(|m| self.media(m))
                .collect();
            if !media.is_empty() {
                includes.insert("media".into(), Value::Array(media));
            }
        }
        if self.expands("attachments.poll_ids") {
            let polls: Vec<Value> = posts
                .iter()
                .filter_map(|p| p.extras.poll.as_ref())
                .map(|poll| self.poll(poll))
                .collect();
            if !polls.is_empty() {
                includes.insert("polls".into(), Value::Array(polls));
            }
        }
        let referenced: Vec<Value> = post_ids
            .iter()
            .filter_map(|id| world.post(*id))
            .map(|p| self.post(p))
            .collect();
        if !referenced.is_empty() {
            includes.insert("tweets".into(), Value::Array(referenced));
        }
        (!includes.is_empty()).then_some(Value::Object(includes))
    }
}

impl Selection {
    /// An attached medium with the selected fields; `media_key` and `type`
    /// always come.
    fn media(&self, media: &AttachedMedia) -> Value {
        let mut o = Map::new();
        o.insert("media_key".into(), json!(media.media_key));
        o.insert("type".into(), json!(media.kind));
        for field in &self.media {
            let value = match (field.as_str(), media.kind) {
                ("alt_text", "photo") => match &media.alt_text {
                    Some(text) => json!(text),
                    None => continue,
                },
                ("url", "photo") => json!(format!(
                    "https://pbs.twimg.com/media/{}.jpg",
                    media.media_key
                )),
                ("preview_image_url", "video" | "animated_gif") => json!(format!(
                    "https://pbs.twimg.com/ext_tw_video_thumb/{}/pu/img/preview.jpg",
                    media.media_key
                )),
                ("width", _) => json!(1280),
                ("height", _) => json!(720),
                _ => continue,
            };
            o.insert(field.clone(), value);
        }
        Value::Object(o)
    }

    /// A poll with the selected fields; `id` and `options` always come.
    fn poll(&self, poll: &Poll) -> Value {
        let mut o = Map::new();
        o.insert("id".into(), json!(poll.id.to_string()));
        o.insert(
            "options".into(),
            json!(
                poll.options
                    .iter()
                    .enumerate()
                    .map(|(i, label)| json!({ "position": i + 1, "label": label, "votes": 0 }))
                    .collect::<Vec<_>>()
            ),
        );
        for field in &self.poll {
            let value = match field.as_str() {
                "duration_minutes" => json!(poll.duration_minutes),
                "end_datetime" => json!(timestamp(poll.ends_at)),
                "voting_status" => json!(if poll.ends_at > chrono::Utc::now() {
                    "open"
                } else {
                    "closed"
                }),
                _ => continue,
            };
            o.insert(field.clone(), value);
        }
        Value::Object(o)
    }
}

/// X's timestamp format: RFC 3339 in UTC with milliseconds.
pub fn timestamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn list(params: &Params, name: &str, allowed: &[&str]) -> Result<BTreeSet<String>, Response> {
    let Some(value) = params.get(name) else {
        return Ok(BTreeSet::new());
    };
    let mut out = BTreeSet::new();
    for item in value.split(',') {
        if !allowed.contains(&item) {
            return Err(invalid_parameter(
                name,
                item,
                &format!(
                    "The `{name}` query parameter value [{item}] is not one of [{}]",
                    allowed.join(",")
                ),
            ));
        }
        out.insert(item.to_string());
    }
    Ok(out)
}

/// Whether a post's text is over the standard 280 weighted characters, so
/// that X keeps it as a note and shows a preview.
fn is_long(text: &str) -> bool {
    x_text::count(text).weighted_length > 280
}

/// What X puts in a long post's `text`: its beginning, cut to fit 280
/// weighted characters with an ellipsis (each character weighed as
/// twitter-text's ranges do, URLs not shortened); a post within 280 is its
/// own preview.
pub fn preview(text: &str) -> String {
    if !is_long(text) {
        return text.to_string();
    }
    let scale = x_text::config::SCALE;
    let weight_of = |c: char| {
        let cp = c as u32;
        x_text::config::RANGES
            .iter()
            .find(|(start, end, _)| (*start..=*end).contains(&cp))
            .map_or(x_text::config::DEFAULT_WEIGHT, |(_, _, w)| *w)
    };
    let mut weight = 0;
    let mut cut = String::new();
    for c in text.chars() {
        weight += weight_of(c);
        if weight > 279 * scale {
            break;
        }
        cut.push(c);
    }
    cut.truncate(cut.trim_end().len());
    cut.push('…');
    cut
}
