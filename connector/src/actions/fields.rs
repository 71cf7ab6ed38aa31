//! Which fields X returns and which related objects it expands: X's
//! `tweet.fields`, `user.fields`, `media.fields`, `poll.fields`,
//! `place.fields` and `expansions`, offered as one optional `fields` input.
//!
//! Each list a caller gives replaces that list's default; a list left out
//! keeps its default, which is chosen so that the output's joins (author,
//! media, poll, place, referenced posts) are filled without asking. An
//! expansion also asks for the field that carries its ids, so a join never
//! finds its ids missing.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};
use std::borrow::Cow;

/// Declares a string type that accepts only the names X's API defines for
/// one query parameter, and publishes them as the schema's `enum`.
macro_rules! names {
    ($(#[$doc:meta])* $name:ident, $param:literal, [$($value:literal),* $(,)?]) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name(&'static str);

        impl $name {
            /// Every name X accepts here.
            pub const ALL: &'static [&'static str] = &[$($value),*];

            pub fn as_str(self) -> &'static str {
                self.0
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                crate::input::checked_str(deserializer, |text| {
                    match Self::ALL.iter().find(|name| **name == text) {
                        Some(name) => Ok($name(name)),
                        None => Err(format!(
                            "`{}` is not one of X's {}: {}",
                            text.chars().take(40).collect::<String>(),
                            $param,
                            Self::ALL.join(", ")
                        )),
                    }
                })
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({
                    "type": "string",
                    "enum": Self::ALL,
                    "description": concat!("A value of X's `", $param, "`.")
                })
            }
        }
    };
}

names!(
    /// A post field.
    TweetField,
    "tweet.fields",
    [
        "article", "attachments", "author_id", "card_uri", "community_id",
        "context_annotations", "conversation_id", "created_at", "display_text_range",
        "edit_controls", "edit_history_tweet_ids", "entities", "geo", "id",
        "in_reply_to_user_id", "lang", "media_metadata", "non_public_metrics", "note_tweet",
        "organic_metrics", "possibly_sensitive", "promoted_metrics", "public_metrics",
        "referenced_tweets", "reply_settings", "scopes", "source", "suggested_source_links",
        "suggested_source_links_with_counts", "text", "withheld",
    ]
);

names!(
    /// A user field.
    UserField,
    "user.fields",
    [
        "affiliation", "confirmed_email", "connection_status", "created_at", "description",
        "entities", "id", "is_identity_verified", "location", "most_recent_tweet_id", "name",
        "parody", "pinned_tweet_id", "profile_banner_url", "profile_image_url", "protected",
        "public_metrics", "receives_your_dm", "subscription", "subscription_type", "url",
        "username", "verified", "verified_followers_count", "verified_type", "withheld",
    ]
);

names!(
    /// A media field.
    MediaField,
    "media.fields",
    [
        "alt_text", "duration_ms", "height", "media_key", "non_public_metrics",
        "organic_metrics", "preview_image_url", "promoted_metrics", "public_metrics", "type",
        "url", "variants", "width",
    ]
);

names!(
    /// A poll field.
    PollField,
    "poll.fields",
    ["duration_minutes", "end_datetime", "id", "options", "voting_status"]
);

names!(
    /// A place field.
    PlaceField,
    "place.fields",
    [
        "contained_within", "country", "country_code", "full_name", "geo", "id", "name",
        "place_type",
    ]
);

names!(
    /// An expansion of a post: the related objects to include.
    PostExpansion,
    "post expansions",
    [
        "article.cover_media", "article.media_entities", "attachments.media_keys",
        "attachments.media_source_tweet", "attachments.poll_ids", "author_id",
        "edit_history_tweet_ids", "entities.mentions.username", "geo.place_id",
        "in_reply_to_user_id", "entities.note.mentions.username", "referenced_tweets.id",
        "referenced_tweets.id.attachments.media_keys", "referenced_tweets.id.author_id",
    ]
);

names!(
    /// An expansion of a user: the related objects to include.
    UserExpansion,
    "user expansions",
    ["affiliation.user_id", "most_recent_tweet_id", "pinned_tweet_id"]
);

const DEFAULT_TWEET: &[&str] = &[
    "attachments",
    "author_id",
    "conversation_id",
    "created_at",
    "entities",
    "geo",
    "in_reply_to_user_id",
    "lang",
    "public_metrics",
    "referenced_tweets",
    "reply_settings",
];
const DEFAULT_USER: &[&str] = &[
    "created_at",
    "description",
    "profile_image_url",
    "protected",
    "public_metrics",
    "verified",
];
const DEFAULT_MEDIA: &[&str] = &[
    "alt_text",
    "duration_ms",
    "height",
    "preview_image_url",
    "type",
    "url",
    "width",
];
const DEFAULT_POLL: &[&str] = &[
    "duration_minutes",
    "end_datetime",
    "options",
    "voting_status",
];
const DEFAULT_PLACE: &[&str] = &["country", "country_code", "full_name", "name", "place_type"];
const DEFAULT_POST_EXPANSIONS: &[&str] = &[
    "attachments.media_keys",
    "attachments.poll_ids",
    "author_id",
    "geo.place_id",
    "referenced_tweets.id",
];
const DEFAULT_USER_EXPANSIONS: &[&str] = &["pinned_tweet_id"];

/// The post field that carries the ids an expansion looks up.
fn field_of(expansion: &str) -> Option<&'static str> {
    Some(match expansion.split('.').next()? {
        "attachments" => "attachments",
        "author_id" => "author_id",
        "geo" => "geo",
        "in_reply_to_user_id" => "in_reply_to_user_id",
        "referenced_tweets" => "referenced_tweets",
        "entities" => "entities",
        _ => return None,
    })
}

/// Fields and expansions for actions that return posts.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostFields {
    /// Post fields (`tweet.fields`); id and text always come. Default:
    /// attachments, author_id, conversation_id, created_at, entities, geo,
    /// in_reply_to_user_id, lang, public_metrics, referenced_tweets,
    /// reply_settings.
    #[serde(default)]
    pub tweet: Option<Vec<TweetField>>,
    /// User fields (`user.fields`) of authors and other included users.
    /// Default: created_at, description, profile_image_url, protected,
    /// public_metrics, verified.
    #[serde(default)]
    pub user: Option<Vec<UserField>>,
    /// Media fields (`media.fields`). Default: alt_text, duration_ms,
    /// height, preview_image_url, type, url, width.
    #[serde(default)]
    pub media: Option<Vec<MediaField>>,
    /// Poll fields (`poll.fields`). Default: duration_minutes, end_datetime,
    /// options, voting_status.
    #[serde(default)]
    pub poll: Option<Vec<PollField>>,
    /// Place fields (`place.fields`). Default: country, country_code,
    /// full_name, name, place_type.
    #[serde(default)]
    pub place: Option<Vec<PlaceField>>,
    /// Related objects to include and join into each post (`expansions`).
    /// Default: attachments.media_keys, attachments.poll_ids, author_id,
    /// geo.place_id, referenced_tweets.id. An empty list asks for none.
    #[serde(default)]
    pub expansions: Option<Vec<PostExpansion>>,
}

impl PostFields {
    /// The query parameters that select these fields.
    pub fn query(&self) -> Vec<(&'static str, String)> {
        let expansions = chosen(
            &self.expansions,
            DEFAULT_POST_EXPANSIONS,
            PostExpansion::as_str,
        );
        let mut tweet = chosen(&self.tweet, DEFAULT_TWEET, TweetField::as_str);
        // A long post's full text is in `note_tweet`; `text` is a preview.
        let full_text = std::iter::once("note_tweet");
        for needed in expansions
            .iter()
            .filter_map(|e| field_of(e))
            .chain(full_text)
        {
            if !tweet.contains(&needed) {
                tweet.push(needed);
            }
        }
        let mut query = vec![("tweet.fields", tweet.join(","))];
        if !expansions.is_empty() {
            query.push(("expansions", expansions.join(",")));
            let mut add = |name: &'static str, list: Vec<&str>| {
                if !list.is_empty() {
                    query.push((name, list.join(",")));
                }
            };
            add(
                "user.fields",
                chosen(&self.user, DEFAULT_USER, UserField::as_str),
            );
            add(
                "media.fields",
                chosen(&self.media, DEFAULT_MEDIA, MediaField::as_str),
            );
            add(
                "poll.fields",
                chosen(&self.poll, DEFAULT_POLL, PollField::as_str),
            );
            add(
                "place.fields",
                chosen(&self.place, DEFAULT_PLACE, PlaceField::as_str),
            );
        }
        query.retain(|(_, v)| !v.is_empty());
        query
    }
}

/// Fields and expansions for actions that return users.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserFields {
    /// User fields (`user.fields`); id, name and username always come.
    /// Default: created_at, description, profile_image_url, protected,
    /// public_metrics, verified.
    #[serde(default)]
    pub user: Option<Vec<UserField>>,
    /// Fields of included posts, such as a pinned post (`tweet.fields`).
    /// Default: created_at, public_metrics.
    #[serde(default)]
    pub tweet: Option<Vec<TweetField>>,
    /// Related objects to include (`expansions`). Default: pinned_tweet_id,
    /// joined as each user's `pinned_post`. An empty list asks for none.
    #[serde(default)]
    pub expansions: Option<Vec<UserExpansion>>,
}

impl UserFields {
    /// The query parameters that select these fields.
    pub fn query(&self) -> Vec<(&'static str, String)> {
        let expansions = chosen(
            &self.expansions,
            DEFAULT_USER_EXPANSIONS,
            UserExpansion::as_str,
        );
        let mut user = chosen(&self.user, DEFAULT_USER, UserField::as_str);
        for needed in &expansions {
            // `pinned_tweet_id` and `most_recent_tweet_id` are user fields too.
            if UserField::ALL.contains(needed) && !user.contains(needed) {
                user.push(needed);
            }
        }
        let mut query = vec![("user.fields", user.join(","))];
        if !expansions.is_empty() {
            query.push(("expansions", expansions.join(",")));
            let tweet = chosen(
                &self.tweet,
                &["created_at", "public_metrics"],
                TweetField::as_str,
            );
            query.push(("tweet.fields", tweet.join(",")));
        }
        query.retain(|(_, v)| !v.is_empty());
        query
    }
}

/// The caller's list, or the default when none was given.
fn chosen<T: Copy>(
    given: &Option<Vec<T>>,
    default: &[&'static str],
    name: fn(T) -> &'static str,
) -> Vec<&'static str> {
    let mut list: Vec<&'static str> = match given {
        Some(items) => items.iter().map(|i| name(*i)).collect(),
        None => default.to_vec(),
    };
    let mut seen = Vec::new();
    list.retain(|n| {
        let fresh = !seen.contains(n);
        seen.push(n);
        fresh
    });
    list
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ConnectorError;
    use crate::input::{Validate, parse};

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Holder {
        #[serde(default)]
        fields: PostFields,
    }
    impl Validate for Holder {}

    fn query_of(json: &str) -> Vec<(&'static str, String)> {
        parse::<Holder>(json).unwrap().fields.query()
    }

    fn param<'a>(query: &'a [(&'static str, String)], name: &str) -> Option<&'a str> {
        query
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn defaults_ask_for_what_the_joins_need() {
        let q = PostFields::default().query();
        let expansions = param(&q, "expansions").unwrap();
        for e in [
            "author_id",
            "attachments.media_keys",
            "attachments.poll_ids",
        ] {
            assert!(expansions.contains(e), "{expansions}");
        }
        assert!(param(&q, "media.fields").unwrap().contains("alt_text"));
    }

    #[test]
    fn a_given_list_replaces_its_default_and_expansions_bring_their_field() {
        let q = query_of(r#"{"fields": {"tweet": ["lang"], "expansions": ["author_id"]}}"#);
        assert_eq!(param(&q, "tweet.fields"), Some("lang,author_id,note_tweet"));
        assert_eq!(param(&q, "expansions"), Some("author_id"));
        // Default user fields still apply to the included authors.
        assert!(param(&q, "user.fields").unwrap().contains("public_metrics"));
    }

    #[test]
    fn no_expansions_means_no_object_fields() {
        let q = query_of(r#"{"fields": {"expansions": []}}"#);
        assert_eq!(param(&q, "expansions"), None);
        assert_eq!(param(&q, "user.fields"), None);
        assert!(param(&q, "tweet.fields").is_some());
    }

    #[test]
    fn an_unknown_name_is_refused_with_its_place() {
        match parse::<Holder>(r#"{"fields": {"media": ["url", "colour"]}}"#) {
            Err(ConnectorError::InvalidInput(i)) => {
                assert_eq!(i.field, "fields.media[1]");
                assert!(i.reason.contains("media.fields"), "{}", i.reason);
            }
            other => panic!("expected invalid-input, got {other:?}"),
        }
    }

    #[test]
    fn user_fields_bring_the_pinned_post() {
        let q = UserFields::default().query();
        assert_eq!(param(&q, "expansions"), Some("pinned_tweet_id"));
        assert!(
            param(&q, "user.fields")
                .unwrap()
                .contains("pinned_tweet_id")
        );
    }
}
