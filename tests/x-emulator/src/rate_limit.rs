//! Per-endpoint rate limits in 15-minute windows, as X counts them: per user
//! for user-context tokens, per app for app-only tokens.

use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;
use std::sync::Mutex;

/// X's rate-limit window.
const WINDOW: Duration = Duration::minutes(15);

/// The endpoints the emulator serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `GET /2/users/me`
    UsersMe,
    /// `POST /2/tweets`
    CreatePost,
    /// `DELETE /2/tweets/:id`
    DeletePost,
    /// `GET /2/tweets/:id`
    GetPost,
    /// `GET /2/users/:id/tweets`
    UserPosts,
    /// `GET /2/users/:id/timelines/reverse_chronological`
    HomeTimeline,
    /// `GET /2/tweets/search/recent`
    SearchRecent,
    /// `POST /2/media/upload/initialize`
    MediaInitialize,
    /// `POST /2/media/upload/:id/append`
    MediaAppend,
    /// `POST /2/media/upload/:id/finalize`
    MediaFinalize,
    /// `GET /2/media/upload?command=STATUS`
    MediaStatus,
    /// `POST /2/media/metadata`
    MediaMetadata,
    /// `POST /2/users/:id/likes`, `DELETE /2/users/:id/likes/:tweet_id`
    Likes,
    /// `POST /2/users/:id/retweets`, `DELETE /2/users/:id/retweets/:tweet_id`
    Reposts,
    /// `POST /2/users/:id/bookmarks`, `DELETE /2/users/:id/bookmarks/:tweet_id`
    Bookmarks,
    /// `POST /2/users/:id/following`, `DELETE /2/users/:id/following/:target`
    Follows,
    /// `GET /2/users/:id/followers`, `GET /2/users/:id/following`
    FollowLists,
    /// `GET /2/tweets/:id/liking_users`
    LikingUsers,
    /// `GET /2/tweets/:id/retweeted_by`
    RepostedBy,
    /// `GET /2/users/:id/mentions`
    Mentions,
    /// `GET /2/tweets/:id/quote_tweets`
    QuotePosts,
    /// `GET /2/users/reposts_of_me`
    RepostsOfMe,
    /// `GET /2/users/:id/bookmarks`
    BookmarksList,
    /// `POST /2/users/:id/muting`, `DELETE /2/users/:id/muting/:target`
    Mutes,
    /// `GET /2/users/:id/muting`
    MuteList,
    /// `PUT /2/tweets/:id/hidden`
    HideReplies,
    /// `POST /2/dm_conversations/with/:id/messages`
    DmSend,
    /// `GET /2/dm_events`
    DmEvents,
    /// `GET /2/users`, `GET /2/users/by`
    UsersLookup,
    /// `GET /2/tweets`
    PostsLookup,
    /// `POST /2/oauth2/token`: not rate limited; named here so tests can
    /// inject faults into token requests.
    OAuth2Token,
    /// `POST /2/webhooks`
    CreateWebhook,
    /// `GET /2/webhooks`
    ListWebhooks,
    /// `PUT /2/webhooks/:webhook_id`
    ValidateWebhook,
    /// `DELETE /2/webhooks/:webhook_id`
    DeleteWebhook,
    /// `POST /2/webhooks/replay`
    ReplayWebhook,
    /// `POST /2/activity/subscriptions`
    CreateActivitySubscription,
    /// `GET /2/activity/subscriptions`
    ListActivitySubscriptions,
    /// `DELETE /2/activity/subscriptions/:subscription_id`
    DeleteActivitySubscription,
}

impl Endpoint {
    /// Requests per window X allows, for a user token and an app token.
    fn default_limits(self) -> (u32, u32) {
        match self {
            Endpoint::UsersMe => (75, 0),
            Endpoint::CreatePost => (100, 0),
            Endpoint::DeletePost => (50, 0),
            Endpoint::GetPost => (900, 450),
            Endpoint::UserPosts => (900, 1500),
            Endpoint::HomeTimeline => (180, 0),
            Endpoint::SearchRecent => (300, 450),
            Endpoint::MediaInitialize | Endpoint::MediaFinalize => (500, 0),
            Endpoint::MediaAppend => (50_000, 0),
            Endpoint::MediaStatus => (1_000, 0),
            Endpoint::MediaMetadata => (500, 0),
            Endpoint::Likes | Endpoint::Reposts | Endpoint::Follows => (50, 0),
            Endpoint::Bookmarks => (50, 0),
            Endpoint::FollowLists => (15, 15),
            Endpoint::LikingUsers => (75, 0),
            Endpoint::RepostedBy => (75, 75),
            Endpoint::UsersLookup => (900, 300),
            Endpoint::Mentions => (300, 450),
            Endpoint::QuotePosts => (75, 75),
            Endpoint::RepostsOfMe => (75, 0),
            Endpoint::BookmarksList => (180, 0),
            Endpoint::Mutes => (50, 0),
            Endpoint::MuteList => (15, 0),
            Endpoint::HideReplies => (50, 0),
            Endpoint::DmSend => (200, 0),
            Endpoint::DmEvents => (300, 0),
            Endpoint::PostsLookup => (900, 450),
            Endpoint::OAuth2Token => (u32::MAX, u32::MAX),
            // X's rate-limit table lists these per app only. Creating,
            // validating and deleting a webhook also take OAuth 1.0a user
            // context, and creating a subscription a user token; the
            // emulator gives such callers the app's number.
            Endpoint::CreateWebhook | Endpoint::ValidateWebhook | Endpoint::DeleteWebhook => {
                (450, 450)
            }
            Endpoint::ListWebhooks => (0, 450),
            Endpoint::ReplayWebhook => (0, 100),
            Endpoint::CreateActivitySubscription => (500, 500),
            Endpoint::ListActivitySubscriptions | Endpoint::DeleteActivitySubscription => (0, 500),
        }
    }

    /// Scopes a user token needs, as X's OpenAPI specification lists them.
    pub fn scopes(self) -> &'static [&'static str] {
        match self {
            Endpoint::CreatePost | Endpoint::DeletePost => {
                &["tweet.read", "tweet.write", "users.read"]
            }
            Endpoint::MediaInitialize
            | Endpoint::MediaAppend
            | Endpoint::MediaFinalize
            | Endpoint::MediaStatus
            | Endpoint::MediaMetadata => &["media.write"],
            Endpoint::Likes => &["like.write", "tweet.read", "users.read"],
            Endpoint::Reposts => &["tweet.read", "tweet.write", "users.read"],
            Endpoint::Bookmarks => &["bookmark.write", "tweet.read", "users.read"],
            Endpoint::Follows => &["follows.write", "tweet.read", "users.read"],
            Endpoint::FollowLists => &["follows.read", "tweet.read", "users.read"],
            Endpoint::LikingUsers => &["like.read", "tweet.read", "users.read"],
            Endpoint::DmSend => &["dm.write", "tweet.read", "users.read"],
            Endpoint::DmEvents => &["dm.read", "tweet.read", "users.read"],
            Endpoint::RepostsOfMe => &["timeline.read", "tweet.read"],
            Endpoint::BookmarksList => &["bookmark.read", "tweet.read", "users.read"],
            Endpoint::Mutes => &["mute.write", "tweet.read", "users.read"],
            Endpoint::MuteList => &["mute.read", "tweet.read", "users.read"],
            Endpoint::HideReplies => &["tweet.moderate.write", "tweet.read", "users.read"],
            Endpoint::CreateActivitySubscription => &["dm.read", "tweet.read"],
            // Only app-only tokens and OAuth 1.0a user context reach these.
            Endpoint::CreateWebhook
            | Endpoint::ListWebhooks
            | Endpoint::ValidateWebhook
            | Endpoint::DeleteWebhook
            | Endpoint::ReplayWebhook
            | Endpoint::ListActivitySubscriptions
            | Endpoint::DeleteActivitySubscription => &[],
            _ => &["tweet.read", "users.read"],
        }
    }

    /// Whether X refuses app-only tokens here.
    pub fn needs_user(self) -> bool {
        self.default_limits().1 == 0
    }

    /// Whether X takes only app-only tokens here.
    pub fn app_only(self) -> bool {
        self.default_limits().0 == 0
    }

    /// Whether X takes a caller who authenticated with `scheme` here, as
    /// the operation's `security` in X's OpenAPI specification lists.
    pub fn accepts(self, scheme: Scheme) -> bool {
        match scheme {
            Scheme::App => !self.needs_user(),
            Scheme::OAuth1User => !self.app_only(),
            // Webhooks are managed with the app's own credentials.
            Scheme::OAuth2User => {
                !self.app_only()
                    && !matches!(
                        self,
                        Endpoint::CreateWebhook
                            | Endpoint::ValidateWebhook
                            | Endpoint::DeleteWebhook
                    )
            }
        }
    }
}

/// How a caller authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// An app-only bearer token (`BearerToken` in X's specification).
    App,
    /// An OAuth 2.0 user access token (`OAuth2UserToken`).
    OAuth2User,
    /// A request signed with an OAuth 1.0a access token (`UserToken`).
    OAuth1User,
}

impl Scheme {
    /// The name X's problem documents give the scheme.
    pub fn label(self) -> &'static str {
        match self {
            Scheme::App => "OAuth 2.0 Application-Only",
            Scheme::OAuth2User => "OAuth 2.0 User Context",
            Scheme::OAuth1User => "OAuth 1.0a User Context",
        }
    }
}

/// What the `x-rate-limit-*` headers say.
#[derive(Clone, Copy, Debug)]
pub struct RateStatus {
    pub limit: u32,
    pub remaining: u32,
    /// Unix seconds.
    pub reset: i64,
}

struct Window {
    started: DateTime<Utc>,
    used: u32,
}

/// Windows per caller and endpoint, and limits a test has overridden.
#[derive(Default)]
pub struct Limits {
    overrides: Mutex<HashMap<Endpoint, u32>>,
    windows: Mutex<HashMap<(String, Endpoint), Window>>,
    /// A window other than X's 15 minutes, set by a test.
    window: Mutex<Option<Duration>>,
}

impl Limits {
    /// Makes every window last `length` from now on.
    pub fn set_window(&self, length: Duration) {
        *self.window.lock().unwrap() = Some(length);
    }

    pub fn set(&self, endpoint: Endpoint, limit: u32) {
        self.overrides.lock().unwrap().insert(endpoint, limit);
    }

    /// Counts one request of `caller` to `endpoint`: `Ok` while the window
    /// has room, `Err` (for a 429) when it is spent.
    pub fn take(
        &self,
        caller: &str,
        endpoint: Endpoint,
        app: bool,
        now: DateTime<Utc>,
    ) -> Result<RateStatus, RateStatus> {
        let (user_limit, app_limit) = endpoint.default_limits();
        let limit = self
            .overrides
            .lock()
            .unwrap()
            .get(&endpoint)
            .copied()
            .unwrap_or(if app { app_limit } else { user_limit });
        let length = self.window.lock().unwrap().unwrap_or(WINDOW);
        let mut windows = self.windows.lock().unwrap();
        let window = windows
            .entry((caller.to_string(), endpoint))
            .or_insert(Window {
                started: now,
                used: 0,
            });
        if now >= window.started + length {
            *window = Window {
                started: now,
                used: 0,
            };
        }
        let reset = (window.started + length).timestamp();
        if window.used >= limit {
            return Err(RateStatus {
                limit,
                remaining: 0,
                reset,
            });
        }
        window.used += 1;
        Ok(RateStatus {
            limit,
            remaining: limit - window.used,
            reset,
        })
    }
}
