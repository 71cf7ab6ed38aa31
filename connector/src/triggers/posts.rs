//! The post triggers: `mention.new`, `post.new` (a user's posts) and
//! `post.matching` (a search), each polled after the newest post seen.

use super::{Found, Keyed, MAX_PAGES, Trigger, number, user_or_account};
use crate::actions::fields::PostFields;
use crate::actions::model::{Post, post_page};
use crate::bindings::integration::connector::types::ConnectorError;
use crate::context::Context;
use crate::error::invalid_input;
use crate::input::{self, Id, Validate};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A new post, as the actions return posts: its author, media, poll, place
/// and the posts it refers to joined in.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PostEvent {
    /// The post.
    pub post: Post,
}

/// Where a post trigger's next poll starts.
enum PostCursor {
    /// After this post id.
    After(u64),
    /// From this time (RFC 3339): no post had been seen yet.
    Since(String),
}

impl PostCursor {
    fn parse(cursor: &str) -> Result<PostCursor, ConnectorError> {
        if let Some(time) = cursor.strip_prefix("since:") {
            return Ok(PostCursor::Since(time.to_string()));
        }
        cursor.parse().map(PostCursor::After).map_err(|_| {
            invalid_input(
                "cursor",
                format!("`{cursor}` is not a cursor of this trigger"),
            )
        })
    }

    fn text(&self) -> String {
        match self {
            PostCursor::After(id) => id.to_string(),
            PostCursor::Since(time) => format!("since:{time}"),
        }
    }
}

/// Polls posts at `path` (with the filters in `query`) after `cursor`,
/// page after page. Without a cursor: the newest post's id, or now.
fn poll_posts(
    ctx: &Context,
    path: &str,
    query: Vec<(&'static str, String)>,
    page_size: u32,
    cursor: Option<&str>,
) -> Result<Found<PostEvent>, ConnectorError> {
    let Some(cursor) = cursor else {
        let mut first = query.clone();
        first.push(("max_results", page_size.min(10).to_string()));
        let page = post_page(ctx.api.get(path, &first)?)?;
        let newest = page.posts.iter().map(|p| number(&p.id)).max();
        let cursor = match newest {
            Some(id) => PostCursor::After(id),
            None => PostCursor::Since(input::format_rfc3339(input::unix_now())),
        };
        return Ok(Found {
            events: Vec::new(),
            cursor: cursor.text(),
        });
    };
    let cursor = PostCursor::parse(cursor)?;
    let mut events: Vec<Keyed<PostEvent>> = Vec::new();
    let mut token: Option<String> = None;
    for page_number in 0.. {
        if page_number == MAX_PAGES {
            crate::api::log_warning(&format!(
                "a poll of {path} stopped after {MAX_PAGES} pages; older posts since the cursor are skipped"
            ));
            break;
        }
        let mut request = query.clone();
        match &cursor {
            PostCursor::After(id) => request.push(("since_id", id.to_string())),
            PostCursor::Since(time) => request.push(("start_time", time.clone())),
        }
        request.push(("max_results", page_size.to_string()));
        if let Some(t) = token.take() {
            request.push(("pagination_token", t));
        }
        let page = post_page(ctx.api.get(path, &request)?)?;
        let empty = page.posts.is_empty();
        events.extend(page.posts.into_iter().map(|post| Keyed {
            id: post.id.clone(),
            event: PostEvent { post },
        }));
        match page.next_token {
            Some(next) if !empty => token = Some(next),
            _ => break,
        }
    }
    // Oldest first, each once, only after the cursor.
    events.sort_by_key(|e| number(&e.id));
    events.dedup_by(|a, b| a.id == b.id);
    if let PostCursor::After(after) = cursor {
        events.retain(|e| number(&e.id) > after);
    }
    let cursor = events
        .last()
        .map(|e| PostCursor::After(number(&e.id)))
        .unwrap_or(cursor);
    Ok(Found {
        events,
        cursor: cursor.text(),
    })
}

/// The newest post at `path`, for a sample.
fn newest_post(
    ctx: &Context,
    path: &str,
    mut query: Vec<(&'static str, String)>,
    page_size: u32,
) -> Result<Option<Keyed<PostEvent>>, ConnectorError> {
    query.push(("max_results", page_size.min(10).to_string()));
    let page = post_page(ctx.api.get(path, &query)?)?;
    Ok(page
        .posts
        .into_iter()
        .max_by_key(|p| number(&p.id))
        .map(|post| Keyed {
            id: post.id.clone(),
            event: PostEvent { post },
        }))
}

/// Whose mentions.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MentionConfiguration {
    /// The user mentioned; by default the connected account.
    #[serde(default)]
    pub user_id: Option<Id>,
    /// Which fields and related objects X returns with each post.
    #[serde(default)]
    pub fields: PostFields,
}

impl Validate for MentionConfiguration {}

/// `mention.new`: `GET /2/users/:id/mentions` after the newest seen.
pub struct NewMention;

impl Trigger for NewMention {
    const ID: &'static str = "mention.new";
    type Configuration = MentionConfiguration;
    type Event = PostEvent;

    fn poll(
        ctx: &Context,
        c: &MentionConfiguration,
        cursor: Option<&str>,
    ) -> Result<Found<PostEvent>, ConnectorError> {
        let path = format!("/2/users/{}/mentions", user_or_account(ctx, &c.user_id)?);
        poll_posts(ctx, &path, c.fields.query(), 100, cursor)
    }

    fn sample(
        ctx: &Context,
        c: &MentionConfiguration,
    ) -> Result<Option<Keyed<PostEvent>>, ConnectorError> {
        let path = format!("/2/users/{}/mentions", user_or_account(ctx, &c.user_id)?);
        newest_post(ctx, &path, c.fields.query(), 5)
    }
}

/// Whose posts, and which of them.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPostConfiguration {
    /// The user whose posts start the workflow; by default the connected
    /// account.
    #[serde(default)]
    pub user_id: Option<Id>,
    /// Leave out replies, reposts, or both.
    #[serde(default)]
    pub exclude: Vec<crate::actions::timelines::Exclude>,
    /// Which fields and related objects X returns with each post.
    #[serde(default)]
    pub fields: PostFields,
}

impl Validate for NewPostConfiguration {}

/// `post.new`: `GET /2/users/:id/tweets` after the newest seen.
pub struct NewPost;

impl NewPostConfiguration {
    fn query(&self) -> Vec<(&'static str, String)> {
        let mut query = self.fields.query();
        let mut names: Vec<&str> = self
            .exclude
            .iter()
            .map(|e| match e {
                crate::actions::timelines::Exclude::Replies => "replies",
                crate::actions::timelines::Exclude::Retweets => "retweets",
            })
            .collect();
        names.sort_unstable();
        names.dedup();
        if !names.is_empty() {
            query.push(("exclude", names.join(",")));
        }
        query
    }
}

impl Trigger for NewPost {
    const ID: &'static str = "post.new";
    type Configuration = NewPostConfiguration;
    type Event = PostEvent;

    fn poll(
        ctx: &Context,
        c: &NewPostConfiguration,
        cursor: Option<&str>,
    ) -> Result<Found<PostEvent>, ConnectorError> {
        let path = format!("/2/users/{}/tweets", user_or_account(ctx, &c.user_id)?);
        poll_posts(ctx, &path, c.query(), 100, cursor)
    }

    fn sample(
        ctx: &Context,
        c: &NewPostConfiguration,
    ) -> Result<Option<Keyed<PostEvent>>, ConnectorError> {
        let path = format!("/2/users/{}/tweets", user_or_account(ctx, &c.user_id)?);
        newest_post(ctx, &path, c.query(), 5)
    }
}

/// Which posts.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchConfiguration {
    /// The search query, with X's operators (`from:`, `-is:retweet`,
    /// `"phrases"`, `has:media`, ...).
    #[schemars(length(min = 1, max = 4096))]
    pub query: String,
    /// Which fields and related objects X returns with each post.
    #[serde(default)]
    pub fields: PostFields,
}

impl Validate for SearchConfiguration {
    fn validate(&self) -> Result<(), ConnectorError> {
        if self.query.trim().is_empty() {
            return Err(invalid_input("query", "must not be empty"));
        }
        input::check_length("query", Some(&self.query), 4096)
    }
}

/// `post.matching`: `GET /2/tweets/search/recent` after the newest seen.
pub struct MatchingPost;

impl SearchConfiguration {
    fn search(&self) -> Vec<(&'static str, String)> {
        let mut query = self.fields.query();
        query.push(("query", self.query.clone()));
        query
    }
}

impl Trigger for MatchingPost {
    const ID: &'static str = "post.matching";
    type Configuration = SearchConfiguration;
    type Event = PostEvent;

    fn poll(
        ctx: &Context,
        c: &SearchConfiguration,
        cursor: Option<&str>,
    ) -> Result<Found<PostEvent>, ConnectorError> {
        poll_posts(ctx, "/2/tweets/search/recent", c.search(), 100, cursor)
    }

    fn sample(
        ctx: &Context,
        c: &SearchConfiguration,
    ) -> Result<Option<Keyed<PostEvent>>, ConnectorError> {
        newest_post(ctx, "/2/tweets/search/recent", c.search(), 10)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_cursors_read_back_what_they_wrote() {
        for cursor in ["1850000000000000000", "since:2026-12-02T10:00:00Z"] {
            assert_eq!(PostCursor::parse(cursor).unwrap().text(), cursor);
        }
        assert!(PostCursor::parse("yesterday").is_err());
    }
}
