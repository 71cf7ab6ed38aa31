//! The catalogue of triggers: what on X can start a workflow, and how each
//! is polled.
//!
//! The component keeps nothing between polls: everything a trigger needs to
//! tell new from old is in its cursor, which the host stores and hands back.
//! Posts and direct messages carry ids that grow with time (compared as
//! integers), so their cursor is the newest id seen, and a poll asks X for
//! what came after it (`since_id`), page after page until nothing is left.
//! Followers and likes come as lists without a time, so their cursor is the
//! list last seen, and a poll reports who is new on it. A subscription's
//! first poll (no cursor) reports nothing and returns the cursor of "now",
//! so a workflow starts with what happens next.

use crate::actions::Context;
use crate::actions::dm::{DmEvent, events_page};
use crate::actions::fields::{PostFields, UserFields};
use crate::actions::lookup::user_page;
use crate::actions::model::{Post, User, post_page};
use crate::bindings::integration::connector::types::{
    ConnectorError, PollResult, TriggerDescriptor, TriggerEvent,
};
use crate::error::{internal, invalid_input};
use crate::input::{self, Id, Validate};
use crate::manifest::manifest;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The most pages one poll reads, at X's largest page size: past them, the
/// poll reports what it read and says so in the host's log.
const MAX_PAGES: usize = 20;

/// An event and its stable id.
pub struct Keyed<E> {
    pub id: String,
    pub event: E,
}

/// What a poll found: events, oldest first, and the next cursor.
pub struct Found<E> {
    pub events: Vec<Keyed<E>>,
    pub cursor: String,
}

/// One trigger of the catalogue.
pub trait Trigger {
    /// The trigger's id, as in the manifest.
    const ID: &'static str;
    /// The configuration, parsed and validated before a poll.
    type Configuration: DeserializeOwned + JsonSchema + Validate;
    /// One event.
    type Event: Serialize + JsonSchema;

    /// What happened since `cursor`; with none, nothing, and the cursor of
    /// now.
    fn poll(
        ctx: &Context,
        configuration: &Self::Configuration,
        cursor: Option<&str>,
    ) -> Result<Found<Self::Event>, ConnectorError>;

    /// The most recent event, for a workflow builder to see one.
    fn sample(
        ctx: &Context,
        configuration: &Self::Configuration,
    ) -> Result<Option<Keyed<Self::Event>>, ConnectorError>;

    /// What to ask the X Activity API to push for this configuration, for
    /// triggers X can push.
    fn push_subscription(
        _ctx: &Context,
        _configuration: &Self::Configuration,
    ) -> Result<PushSubscription, ConnectorError> {
        Err(invalid_input(
            "trigger",
            format!("X does not push `{}`; poll it", Self::ID),
        ))
    }

    /// The events of a delivery X pushed (the body of a webhook request),
    /// for triggers X can push.
    fn deliver(
        _ctx: &Context,
        _configuration: &Self::Configuration,
        _payload: &Value,
    ) -> Result<Vec<Keyed<Self::Event>>, ConnectorError> {
        Err(invalid_input(
            "trigger",
            format!("X does not push `{}`; poll it", Self::ID),
        ))
    }
}

/// What a pushable trigger asks the X Activity API for: an event type for
/// one user.
pub struct PushSubscription {
    /// The Activity API's `event_type` (`follow.follow`).
    pub event_type: &'static str,
    /// Whose events (`filter.user_id`).
    pub user_id: String,
}

/// A trigger with its types erased, for the catalogue table.
pub struct Entry {
    pub id: &'static str,
    #[cfg(not(prebuilt_schemas))]
    configuration_schema: fn() -> Value,
    #[cfg(not(prebuilt_schemas))]
    event_schema: fn() -> Value,
    poll: fn(&Context, &str, Option<&str>) -> Result<PollResult, ConnectorError>,
    sample: fn(&Context, &str) -> Result<Option<TriggerEvent>, ConnectorError>,
    deliver: fn(&Context, &str, &str) -> Result<Vec<TriggerEvent>, ConnectorError>,
    push_subscription: fn(&Context, &str) -> Result<PushSubscription, ConnectorError>,
}

#[cfg(not(prebuilt_schemas))]
impl Entry {
    /// JSON Schema of the configuration.
    pub fn configuration_schema(&self) -> Value {
        (self.configuration_schema)()
    }

    /// JSON Schema of one event.
    pub fn event_schema(&self) -> Value {
        (self.event_schema)()
    }

    /// Both schemas as JSON text, for `describe`.
    fn schema_texts(&self) -> (String, String) {
        (
            self.configuration_schema().to_string(),
            self.event_schema().to_string(),
        )
    }
}

#[cfg(prebuilt_schemas)]
impl Entry {
    /// Both schemas as JSON text, for `describe`: derived before the build.
    fn schema_texts(&self) -> (String, String) {
        crate::prebuilt::schemas(crate::prebuilt::TRIGGERS, self.id)
    }
}

fn encode<E: Serialize>(keyed: Keyed<E>) -> Result<TriggerEvent, ConnectorError> {
    Ok(TriggerEvent {
        id: keyed.id,
        data: serde_json::to_string(&keyed.event)
            .map_err(|e| internal(format!("cannot encode an event: {e}")))?,
    })
}

fn entry<T: Trigger>() -> Entry {
    Entry {
        id: T::ID,
        #[cfg(not(prebuilt_schemas))]
        configuration_schema: || schemars::schema_for!(T::Configuration).to_value(),
        #[cfg(not(prebuilt_schemas))]
        event_schema: || schemars::schema_for!(T::Event).to_value(),
        poll: |ctx, configuration, cursor| {
            let configuration = input::parse::<T::Configuration>(configuration)?;
            let found = T::poll(ctx, &configuration, cursor)?;
            Ok(PollResult {
                events: found
                    .events
                    .into_iter()
                    .map(encode)
                    .collect::<Result<_, _>>()?,
                cursor: found.cursor,
            })
        },
        sample: |ctx, configuration| {
            let configuration = input::parse::<T::Configuration>(configuration)?;
            T::sample(ctx, &configuration)?.map(encode).transpose()
        },
        deliver: |ctx, configuration, payload| {
            let configuration = input::parse::<T::Configuration>(configuration)?;
            let payload: Value = serde_json::from_str(payload)
                .map_err(|e| invalid_input("payload", format!("is not JSON: {e}")))?;
            T::deliver(ctx, &configuration, &payload)?
                .into_iter()
                .map(encode)
                .collect()
        },
        push_subscription: |ctx, configuration| {
            let configuration = input::parse::<T::Configuration>(configuration)?;
            T::push_subscription(ctx, &configuration)
        },
    }
}

/// Every trigger, in display order.
pub fn catalogue() -> Vec<Entry> {
    vec![
        entry::<NewMention>(),
        entry::<NewPost>(),
        entry::<MatchingPost>(),
        entry::<NewFollower>(),
        entry::<NewMessage>(),
        entry::<NewLike>(),
    ]
}

/// The triggers `describe` returns.
pub fn descriptors() -> Vec<TriggerDescriptor> {
    let m = manifest();
    catalogue()
        .into_iter()
        .map(|entry| {
            let meta = m
                .trigger(entry.id)
                .expect("every catalogued trigger is in the manifest (checked by tests)");
            let (configuration_schema, event_schema) = entry.schema_texts();
            TriggerDescriptor {
                id: entry.id.to_string(),
                title: meta.title.to_string(),
                description: meta.description.to_string(),
                configuration_schema,
                event_schema,
                required_scopes: meta.scopes.iter().map(|s| s.to_string()).collect(),
                pushable: meta.pushable,
            }
        })
        .collect()
}

fn find(trigger_id: &str) -> Result<(Entry, Context), ConnectorError> {
    let catalogue = catalogue();
    let known: Vec<&str> = catalogue.iter().map(|e| e.id).collect();
    let Some(entry) = catalogue.into_iter().find(|e| e.id == trigger_id) else {
        return Err(invalid_input(
            "trigger",
            format!(
                "unknown trigger `{trigger_id}`; this connector offers {}",
                known.join(", ")
            ),
        ));
    };
    let meta = manifest()
        .trigger(trigger_id)
        .ok_or_else(|| internal(format!("trigger {trigger_id} is missing from the manifest")))?;
    let ctx = crate::actions::context(meta.id, meta.scopes, meta.contexts)?;
    Ok((entry, ctx))
}

/// Polls `trigger_id` for the host's current connection.
pub fn poll(
    trigger_id: &str,
    configuration: &str,
    cursor: Option<&str>,
) -> Result<PollResult, ConnectorError> {
    let (entry, ctx) = find(trigger_id)?;
    (entry.poll)(&ctx, configuration, cursor)
}

/// The most recent event of `trigger_id`.
pub fn sample(
    trigger_id: &str,
    configuration: &str,
) -> Result<Option<TriggerEvent>, ConnectorError> {
    let (entry, ctx) = find(trigger_id)?;
    (entry.sample)(&ctx, configuration)
}

/// The events of a delivery X pushed for `trigger_id`.
pub fn deliver(
    trigger_id: &str,
    configuration: &str,
    payload: &str,
) -> Result<Vec<TriggerEvent>, ConnectorError> {
    let (entry, ctx) = find(trigger_id)?;
    (entry.deliver)(&ctx, configuration, payload)
}

/// What to ask X to push for `trigger_id` with this configuration, on the
/// host's current connection.
pub fn push_subscription(
    trigger_id: &str,
    configuration: &str,
) -> Result<PushSubscription, ConnectorError> {
    let (entry, ctx) = find(trigger_id)?;
    (entry.push_subscription)(&ctx, configuration)
}

// ---- Posts: mentions, a user's posts, a search --------------------------

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

/// The id of a post, user or message as the number X compares.
fn number(id: &str) -> u64 {
    id.parse().unwrap_or(0)
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

fn user_or_account(ctx: &Context, user_id: &Option<Id>) -> Result<String, ConnectorError> {
    Ok(match user_id {
        Some(id) => id.as_str().to_string(),
        None => ctx.account_id()?.to_string(),
    })
}

// ---- Lists without time: followers, likes -------------------------------

/// The ids last seen on a list, as a cursor.
fn list_cursor(ids: &[String]) -> String {
    serde_json::to_string(ids).expect("a list of strings encodes")
}

fn parse_list_cursor(cursor: &str) -> Result<Vec<String>, ConnectorError> {
    serde_json::from_str(cursor)
        .map_err(|_| invalid_input("cursor", "is not a cursor of this trigger"))
}

/// A new follower.
#[derive(Debug, Serialize, JsonSchema)]
pub struct FollowerEvent {
    /// The account that followed.
    pub follower: User,
    /// The account it followed.
    pub followed_user_id: String,
}

/// Whose followers.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FollowerConfiguration {
    /// The user followed; by default the connected account.
    #[serde(default)]
    pub user_id: Option<Id>,
    /// How many of the newest followers each poll compares, 1 to 1000
    /// (default 100): more new followers than this between two polls are
    /// not all seen.
    #[serde(default)]
    #[schemars(range(min = 1, max = 1000))]
    pub window: Option<u32>,
    /// Which fields X returns of each follower.
    #[serde(default)]
    pub fields: UserFields,
}

impl Validate for FollowerConfiguration {
    fn validate(&self) -> Result<(), ConnectorError> {
        input::check_range("window", self.window, 1, 1000)
    }
}

/// `follower.new`: the newest page of `GET /2/users/:id/followers`,
/// compared with the one seen before; X can also push `follow.follow`.
pub struct NewFollower;

fn follower_event(id: &str, follower: User, followed: &str) -> Keyed<FollowerEvent> {
    Keyed {
        id: format!("{followed}:{id}"),
        event: FollowerEvent {
            follower,
            followed_user_id: followed.to_string(),
        },
    }
}

impl Trigger for NewFollower {
    const ID: &'static str = "follower.new";
    type Configuration = FollowerConfiguration;
    type Event = FollowerEvent;

    fn poll(
        ctx: &Context,
        c: &FollowerConfiguration,
        cursor: Option<&str>,
    ) -> Result<Found<FollowerEvent>, ConnectorError> {
        let followed = user_or_account(ctx, &c.user_id)?;
        let page = user_page(
            ctx,
            &format!("/2/users/{followed}/followers"),
            &c.fields,
            Some(c.window.unwrap_or(100)),
            None,
        )?;
        let now: Vec<String> = page.users.iter().map(|u| u.id.clone()).collect();
        let events = match cursor {
            None => Vec::new(),
            Some(cursor) => {
                let before = parse_list_cursor(cursor)?;
                // X lists the newest followers first: oldest of the new first.
                page.users
                    .into_iter()
                    .rev()
                    .filter(|u| !before.contains(&u.id))
                    .map(|u| follower_event(&u.id.clone(), u, &followed))
                    .collect()
            }
        };
        Ok(Found {
            events,
            cursor: list_cursor(&now),
        })
    }

    fn sample(
        ctx: &Context,
        c: &FollowerConfiguration,
    ) -> Result<Option<Keyed<FollowerEvent>>, ConnectorError> {
        let followed = user_or_account(ctx, &c.user_id)?;
        let page = user_page(
            ctx,
            &format!("/2/users/{followed}/followers"),
            &c.fields,
            Some(1),
            None,
        )?;
        Ok(page
            .users
            .into_iter()
            .next()
            .map(|u| follower_event(&u.id.clone(), u, &followed)))
    }

    /// X Activity API `follow.follow` events for the followed user.
    fn push_subscription(
        ctx: &Context,
        c: &FollowerConfiguration,
    ) -> Result<PushSubscription, ConnectorError> {
        Ok(PushSubscription {
            event_type: "follow.follow",
            user_id: user_or_account(ctx, &c.user_id)?,
        })
    }

    /// An X Activity API delivery of `follow.follow`: `payload.source`
    /// followed `payload.target`.
    fn deliver(
        ctx: &Context,
        c: &FollowerConfiguration,
        payload: &Value,
    ) -> Result<Vec<Keyed<FollowerEvent>>, ConnectorError> {
        let data = payload.get("data").unwrap_or(payload);
        if data["event_type"] != "follow.follow" {
            return Ok(Vec::new());
        }
        let followed = user_or_account(ctx, &c.user_id)?;
        // X's specification gives the users as they are; its published
        // deliveries wrap each in `data`, as a lookup answer does.
        let user = |side: &str| -> Result<User, ConnectorError> {
            let user = &data["payload"][side];
            let user = user.get("data").unwrap_or(user);
            User::deserialize(user).map_err(|e| {
                invalid_input(
                    format!("payload.data.payload.{side}"),
                    format!("is not an X user: {e}"),
                )
            })
        };
        let (source, target) = (user("source")?, user("target")?);
        if target.id != followed {
            return Ok(Vec::new());
        }
        Ok(vec![follower_event(&source.id.clone(), source, &followed)])
    }
}

/// A like on one of the account's posts.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LikeEvent {
    /// The post that was liked.
    pub post_id: String,
    /// Its text, as X returned it.
    pub post_text: String,
    /// Who liked it.
    pub liking_user: User,
}

/// Which posts to watch.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LikeConfiguration {
    /// How many of the account's newest posts to watch, 5 to 20 (default
    /// 5); each costs one request per poll.
    #[serde(default)]
    #[schemars(range(min = 5, max = 20))]
    pub recent_posts: Option<u32>,
    /// Which fields X returns of each liking user.
    #[serde(default)]
    pub fields: UserFields,
}

impl Validate for LikeConfiguration {
    fn validate(&self) -> Result<(), ConnectorError> {
        input::check_range("recent_posts", self.recent_posts, 5, 20)
    }
}

/// `like.new`: who likes each of the account's newest posts, compared with
/// who did before.
pub struct NewLike;

impl NewLike {
    /// Every (post, liking user) of the newest posts, newest post first.
    fn likes(
        ctx: &Context,
        c: &LikeConfiguration,
    ) -> Result<Vec<Keyed<LikeEvent>>, ConnectorError> {
        let me = ctx.account_id()?.to_string();
        let posts = post_page(ctx.api.get(
            &format!("/2/users/{me}/tweets"),
            &[("max_results", c.recent_posts.unwrap_or(5).to_string())],
        )?)?;
        let mut likes = Vec::new();
        for post in posts.posts {
            let page = user_page(
                ctx,
                &format!("/2/tweets/{}/liking_users", post.id),
                &c.fields,
                Some(100),
                None,
            )?;
            for user in page.users.into_iter().rev() {
                likes.push(Keyed {
                    id: format!("{}:{}", post.id, user.id),
                    event: LikeEvent {
                        post_id: post.id.clone(),
                        post_text: post.text.clone(),
                        liking_user: user,
                    },
                });
            }
        }
        Ok(likes)
    }
}

impl Trigger for NewLike {
    const ID: &'static str = "like.new";
    type Configuration = LikeConfiguration;
    type Event = LikeEvent;

    fn poll(
        ctx: &Context,
        c: &LikeConfiguration,
        cursor: Option<&str>,
    ) -> Result<Found<LikeEvent>, ConnectorError> {
        let likes = NewLike::likes(ctx, c)?;
        let now: Vec<String> = likes.iter().map(|l| l.id.clone()).collect();
        let events = match cursor {
            None => Vec::new(),
            Some(cursor) => {
                let before = parse_list_cursor(cursor)?;
                likes
                    .into_iter()
                    .filter(|l| !before.contains(&l.id))
                    .collect()
            }
        };
        Ok(Found {
            events,
            cursor: list_cursor(&now),
        })
    }

    fn sample(
        ctx: &Context,
        c: &LikeConfiguration,
    ) -> Result<Option<Keyed<LikeEvent>>, ConnectorError> {
        Ok(NewLike::likes(ctx, c)?.into_iter().last())
    }
}

// ---- Direct messages ------------------------------------------------------

/// A direct message someone sent the account.
#[derive(Debug, Serialize, JsonSchema)]
pub struct MessageEvent {
    /// The message.
    pub message: DmEvent,
}

/// Nothing to configure.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoConfiguration {}

impl Validate for NoConfiguration {}

/// `dm.new`: `GET /2/dm_events`, newest first, down to the newest seen.
pub struct NewMessage;

impl Trigger for NewMessage {
    const ID: &'static str = "dm.new";
    type Configuration = NoConfiguration;
    type Event = MessageEvent;

    fn poll(
        ctx: &Context,
        _: &NoConfiguration,
        cursor: Option<&str>,
    ) -> Result<Found<MessageEvent>, ConnectorError> {
        let me = ctx.account_id()?.to_string();
        let after = match cursor {
            Some(c) => Some(
                c.parse::<u64>()
                    .map_err(|_| invalid_input("cursor", "is not a cursor of this trigger"))?,
            ),
            None => None,
        };
        let mut seen: Vec<DmEvent> = Vec::new();
        let mut token = None;
        for _ in 0..MAX_PAGES {
            let page = events_page(ctx, Some(if after.is_some() { 100 } else { 1 }), token)?;
            let reached = page
                .events
                .iter()
                .any(|e| after.is_none_or(|a| number(&e.id) <= a));
            seen.extend(page.events);
            match page.next_token {
                Some(next) if !reached && after.is_some() => token = Some(next),
                _ => break,
            }
        }
        let newest = seen.iter().map(|e| number(&e.id)).max();
        let Some(after) = after else {
            return Ok(Found {
                events: Vec::new(),
                cursor: newest.unwrap_or(0).to_string(),
            });
        };
        let mut events: Vec<Keyed<MessageEvent>> = seen
            .into_iter()
            .filter(|e| number(&e.id) > after && e.sender_id.as_deref() != Some(me.as_str()))
            .map(|message| Keyed {
                id: message.id.clone(),
                event: MessageEvent { message },
            })
            .collect();
        events.sort_by_key(|e| number(&e.id));
        Ok(Found {
            events,
            cursor: newest.unwrap_or(after).max(after).to_string(),
        })
    }

    fn sample(
        ctx: &Context,
        _: &NoConfiguration,
    ) -> Result<Option<Keyed<MessageEvent>>, ConnectorError> {
        let me = ctx.account_id()?.to_string();
        let page = events_page(ctx, Some(20), None)?;
        Ok(page
            .events
            .into_iter()
            .filter(|e| e.sender_id.as_deref() != Some(me.as_str()))
            .max_by_key(|e| number(&e.id))
            .map(|message| Keyed {
                id: message.id.clone(),
                event: MessageEvent { message },
            }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_and_manifest_list_the_same_triggers_in_the_same_order() {
        let ours: Vec<&str> = catalogue().iter().map(|e| e.id).collect();
        let manifest: Vec<&str> = manifest().triggers.iter().map(|t| t.id).collect();
        assert_eq!(ours, manifest);
    }

    #[test]
    fn every_configuration_refuses_unknown_fields_and_every_event_is_an_object() {
        for entry in catalogue() {
            let configuration = entry.configuration_schema();
            assert_eq!(configuration["type"], "object", "{}", entry.id);
            assert_eq!(configuration["additionalProperties"], false, "{}", entry.id);
            assert_eq!(entry.event_schema()["type"], "object", "{}", entry.id);
        }
    }

    #[test]
    fn post_cursors_read_back_what_they_wrote() {
        for cursor in ["1850000000000000000", "since:2026-12-02T10:00:00Z"] {
            assert_eq!(PostCursor::parse(cursor).unwrap().text(), cursor);
        }
        assert!(PostCursor::parse("yesterday").is_err());
        assert!(parse_list_cursor("[\"1\",\"2\"]").is_ok());
        assert!(parse_list_cursor("1,2").is_err());
    }

    #[test]
    fn ids_compare_as_numbers_not_text() {
        assert!(number("10000000000000000000") > number("9"));
        assert!(number("1850000000000000001") > number("1850000000000000000"));
    }
}
