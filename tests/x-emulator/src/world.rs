//! The emulator's X: users, posts, follows and tokens, in memory.

use crate::clock::Clock;
use crate::ids::snowflake;
use chrono::{DateTime, Duration, Utc};
use rand::distr::{Alphanumeric, SampleString};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// How long an OAuth 2.0 user access token lives at X.
pub const ACCESS_TOKEN_LIFETIME: Duration = Duration::hours(2);

/// How long after its first version a post can be edited, as X sets it:
/// 30 minutes (docs.x.com, "Edit Posts": "Posts on X can be edited within
/// 30 minutes of posting, up to 5 times").
pub const EDIT_WINDOW: Duration = Duration::minutes(30);

/// How many times a post can be edited, as X sets it.
pub const MAX_EDITS: usize = 5;

/// An account.
#[derive(Debug, Clone)]
pub struct User {
    pub id: u64,
    pub username: String,
    pub name: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub protected: bool,
    pub verified: bool,
    /// X's `subscription_type`: `None`, `Basic`, `Premium` or
    /// `PremiumPlus`. Any subscription allows long posts.
    pub subscription_type: &'static str,
}

impl User {
    /// The most a post of this user's may weigh: 25,000 for a subscriber.
    pub fn max_post_weight(&self) -> usize {
        if self.subscription_type == "None" {
            280
        } else {
            25_000
        }
    }
}

/// How a post refers to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference {
    RepliedTo,
    Quoted,
    Retweeted,
}

impl Reference {
    pub fn as_str(self) -> &'static str {
        match self {
            Reference::RepliedTo => "replied_to",
            Reference::Quoted => "quoted",
            Reference::Retweeted => "retweeted",
        }
    }
}

/// A post.
#[derive(Debug, Clone)]
pub struct Post {
    pub id: u64,
    pub author_id: u64,
    pub text: String,
    pub created_at: DateTime<Utc>,
    pub conversation_id: u64,
    pub in_reply_to_user_id: Option<u64>,
    pub references: Vec<(Reference, u64)>,
    pub lang: &'static str,
    pub like_count: u64,
    pub retweet_count: u64,
    pub reply_count: u64,
    pub quote_count: u64,
    /// What the author set when publishing: media, poll, reply settings.
    pub extras: PostExtras,
    /// The ids of every version of the post, oldest first, this one last
    /// (X's `edit_history_tweet_ids`).
    pub edit_history: Vec<u64>,
    /// The version that replaced this one, once the post was edited.
    pub superseded_by: Option<u64>,
    /// When the first version was published: the edit window runs from it.
    pub first_published: DateTime<Utc>,
}

impl Post {
    /// Whether the post shows in `viewer`'s timelines and searches: a
    /// promoted-only post or one for Super Followers (the emulator has
    /// none) shows to its author alone.
    pub fn listed_for(&self, viewer: Option<u64>) -> bool {
        let restricted = self.extras.nullcast || self.extras.for_super_followers_only;
        self.superseded_by.is_none() && (!restricted || viewer == Some(self.author_id))
    }

    /// Until when the post can be edited.
    pub fn editable_until(&self) -> DateTime<Utc> {
        self.first_published + EDIT_WINDOW
    }

    /// Edits left to this version: five in all.
    pub fn edits_remaining(&self) -> usize {
        if self.superseded_by.is_some() {
            return 0;
        }
        MAX_EDITS.saturating_sub(self.edit_history.len() - 1)
    }

    /// Whether X lets the post be edited at all: not one with a poll, nor
    /// a promoted-only one.
    pub fn is_edit_eligible(&self) -> bool {
        self.extras.poll.is_none() && !self.extras.nullcast
    }
}

/// What a post may carry besides its text, as `POST /2/tweets` set it.
#[derive(Debug, Clone, Default)]
pub struct PostExtras {
    pub media: Vec<AttachedMedia>,
    pub poll: Option<Poll>,
    /// `following`, `mentionedUsers`, `subscribers` or `verified`;
    /// `None` for everyone.
    pub reply_settings: Option<String>,
    pub for_super_followers_only: bool,
    /// Promoted-only: in no timeline but the author's own, and not in search.
    pub nullcast: bool,
}

/// One attached medium.
#[derive(Debug, Clone)]
pub struct AttachedMedia {
    pub media_key: String,
    /// X's media type: `photo`, `animated_gif` or `video`.
    pub kind: &'static str,
    pub alt_text: Option<String>,
}

/// An attached poll.
#[derive(Debug, Clone)]
pub struct Poll {
    pub id: u64,
    pub options: Vec<String>,
    pub duration_minutes: u32,
    pub ends_at: DateTime<Utc>,
}

/// A direct message.
#[derive(Debug, Clone)]
pub struct DmEvent {
    pub id: u64,
    /// `smaller-larger` user ids, as X names one-to-one conversations.
    pub conversation_id: String,
    pub sender_id: u64,
    pub participants: [u64; 2],
    pub text: String,
    pub created_at: DateTime<Utc>,
}

/// A post as a test sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostSnapshot {
    pub id: String,
    pub text: String,
    /// Media keys of the attached media.
    pub media_keys: Vec<String>,
    /// The options of the attached poll.
    pub poll_options: Vec<String>,
}

/// A developer app registered with X.
#[derive(Debug, Clone)]
pub struct App {
    pub name: String,
    /// OAuth 2.0 Client ID.
    pub client_id: String,
    /// OAuth 2.0 Client Secret; `None` for a public client (Native App).
    pub client_secret: Option<String>,
    /// Callback URLs registered for OAuth 2.0 and OAuth 1.0a; matched exactly.
    pub callback_urls: Vec<String>,
    /// API Key (OAuth 1.0a consumer key; also the app-only client id).
    pub consumer_key: String,
    /// API Key Secret.
    pub consumer_secret: String,
}

/// An authorization code waiting for its exchange.
#[derive(Debug, Clone)]
pub struct PendingCode {
    pub client_id: String,
    pub user_id: u64,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub challenge_method: String,
    pub scopes: BTreeSet<String>,
    pub expires_at: DateTime<Utc>,
    pub used: bool,
    /// The authorization the code's exchange starts.
    pub authorization: String,
}

/// A refresh token: single use; using it issues the next one.
#[derive(Debug, Clone)]
pub struct RefreshGrant {
    pub client_id: String,
    pub user_id: u64,
    pub scopes: BTreeSet<String>,
    pub used: bool,
    /// The authorization it descends from: every token issued from one
    /// consent, through any number of refreshes.
    pub authorization: String,
}

/// An OAuth 1.0a token: a request token while `user_id` is unset or
/// `verifier` pending, an access token once exchanged.
#[derive(Debug, Clone)]
pub struct OAuth1Token {
    pub consumer_key: String,
    pub secret: String,
    pub callback: Option<String>,
    pub verifier: Option<String>,
    pub user_id: Option<u64>,
    pub access: bool,
    /// For an access token: the bearer token it stands for inside the emulator.
    pub bearer: Option<String>,
}

/// What a bearer token stands for.
#[derive(Debug, Clone)]
pub enum Grant {
    /// OAuth 2.0 user context: acts for `user_id` within `scopes`.
    User {
        user_id: u64,
        scopes: BTreeSet<String>,
    },
    /// App-only: no user.
    App,
}

/// An issued bearer token.
#[derive(Debug, Clone)]
pub struct Token {
    pub grant: Grant,
    pub expires_at: Option<DateTime<Utc>>,
    /// The app it was issued to, if any.
    pub client_id: Option<String>,
    /// The authorization it descends from, for OAuth 2.0 user tokens.
    pub authorization: Option<String>,
}

/// Why a post cannot be created.
#[derive(Debug)]
pub enum CreateRefusal {
    Duplicate,
    ReplyTargetMissing,
    QuoteTargetMissing,
}

/// Why a post cannot be deleted.
#[derive(Debug)]
pub enum DeleteRefusal {
    NotFound,
    NotAuthor,
}

/// Everything the emulator knows.
#[derive(Debug, Default)]
pub struct World {
    users: Vec<User>,
    posts: BTreeMap<u64, Post>,
    follows: BTreeSet<(u64, u64)>,
    /// Direct messages, oldest first.
    pub dm_events: Vec<DmEvent>,
    /// Likes, reposts and bookmarks: (kind, user, post).
    pub engagements: BTreeSet<(&'static str, u64, u64)>,
    /// Follow requests a protected account has not approved yet:
    /// (follower, followed).
    pub follow_requests: BTreeSet<(u64, u64)>,
    /// Replies their conversation's author hid.
    pub hidden_replies: BTreeSet<u64>,
    tokens: HashMap<String, Token>,
    sequence: u64,
    pub apps: Vec<App>,
    pub codes: HashMap<String, PendingCode>,
    pub refresh_tokens: HashMap<String, RefreshGrant>,
    pub oauth1_tokens: HashMap<String, OAuth1Token>,
    /// Pending consent screens, by request id: the validated query of the
    /// authorization request.
    pub consents: HashMap<String, Vec<(String, String)>>,
    /// OAuth 1.0a nonces already seen, so a signed request cannot be replayed.
    pub nonces: BTreeSet<(String, String)>,
    /// Every credential issued so far (tokens, refresh tokens, codes, token
    /// secrets), for tests that check none of them leaks.
    pub secrets: Vec<String>,
    /// How long the access tokens the token endpoint issues last.
    pub access_token_lifetime: Duration,
    /// Authorizations revoked because a used refresh token or code was
    /// presented again.
    pub reuses_detected: usize,
    /// Webhooks, X Activity subscriptions and the events pushed to them.
    pub activity: crate::activity::Activity,
}

impl World {
    /// The demo world: `ada` follows `grace` and `alan`; `mary`'s account is
    /// protected and nobody follows it; each has posted in
    /// the last days, `grace` has reposted `ada`, `alan` has replied to `grace`,
    /// and one post of `ada`'s is older than recent search's seven days.
    pub fn seeded(clock: &Clock) -> World {
        let now = clock.now();
        let mut world = World {
            access_token_lifetime: ACCESS_TOKEN_LIFETIME,
            ..World::default()
        };
        let ada = world.add_user(
            "ada",
            "Ada Lovelace",
            "Poetical science.",
            now - Duration::days(2900),
        );
        let grace = world.add_user(
            "grace",
            "Grace Hopper",
            "Compilers, nanoseconds, and ships in port.",
            now - Duration::days(2500),
        );
        let alan = world.add_user(
            "alan",
            "Alan Turing",
            "Can machines think?",
            now - Duration::days(2100),
        );
        let mary = world.add_user(
            "mary",
            "Mary Somerville",
            "On the connexion of the physical sciences.",
            now - Duration::days(1900),
        );
        world.user_mut(mary).protected = true;
        world.follows.insert((ada, grace));
        world.follows.insert((ada, alan));
        world.add_post(
            mary,
            "Private notes on the mechanism of the heavens.",
            now - Duration::hours(40),
            None,
            None,
        );

        let old = world.add_post(
            ada,
            "Notes on the Analytical Engine, part one.",
            now - Duration::days(10),
            None,
            None,
        );
        let _ = old;
        let engine = world.add_post(ada, "The Analytical Engine weaves algebraic patterns just as the Jacquard loom weaves flowers and leaves.", now - Duration::days(3), None, None);
        let ship = world.add_post(
            grace,
            "A ship in port is safe, but that is not what ships are built for.",
            now - Duration::days(2),
            None,
            None,
        );
        world.add_post(
            grace,
            "It is often easier to ask for forgiveness than to ask for permission.",
            now - Duration::hours(30),
            None,
            None,
        );
        world.add_repost(grace, engine, now - Duration::hours(20));
        world.add_post(alan, "We can only see a short distance ahead, but we can see plenty there that needs to be done.", now - Duration::hours(12), None, None);
        world.add_post(
            alan,
            "@grace Ships and machines alike: built to leave port.",
            now - Duration::hours(6),
            Some(ship),
            None,
        );
        world.add_post(
            ada,
            "That brain of mine is something more than merely mortal; as time will show.",
            now - Duration::hours(2),
            None,
            None,
        );
        world
    }

    pub fn add_user(
        &mut self,
        username: &str,
        name: &str,
        description: &str,
        created_at: DateTime<Utc>,
    ) -> u64 {
        let id = self.next_id(created_at);
        self.users.push(User {
            id,
            username: username.into(),
            name: name.into(),
            description: description.into(),
            created_at,
            protected: false,
            verified: false,
            subscription_type: "None",
        });
        id
    }

    /// Sets a user's X subscription (`None`, `Basic`, `Premium`,
    /// `PremiumPlus`).
    pub fn set_subscription(&mut self, id: u64, subscription_type: &'static str) {
        self.user_mut(id).subscription_type = subscription_type;
    }

    fn user_mut(&mut self, id: u64) -> &mut User {
        self.users
            .iter_mut()
            .find(|u| u.id == id)
            .expect("the user was just added")
    }

    /// Whether `viewer` may see `author`'s posts: an account that is not
    /// protected, or one the viewer is or follows.
    pub fn can_see(&self, viewer: Option<u64>, author: u64) -> bool {
        let protected = self.user(author).is_some_and(|u| u.protected);
        !protected || viewer == Some(author) || viewer.is_some_and(|v| self.follows(v, author))
    }

    /// A fresh id, as X's ids go (for media, say).
    pub fn new_id(&mut self, at: DateTime<Utc>) -> u64 {
        self.next_id(at)
    }

    fn next_id(&mut self, at: DateTime<Utc>) -> u64 {
        self.sequence += 1;
        snowflake(at, self.sequence)
    }

    fn add_post(
        &mut self,
        author: u64,
        text: &str,
        at: DateTime<Utc>,
        reply_to: Option<u64>,
        quote: Option<u64>,
    ) -> u64 {
        let id = self.next_id(at);
        let mut references = Vec::new();
        let mut conversation_id = id;
        let mut in_reply_to_user_id = None;
        if let Some(parent) = reply_to.and_then(|p| self.posts.get(&p)) {
            references.push((Reference::RepliedTo, parent.id));
            conversation_id = parent.conversation_id;
            in_reply_to_user_id = Some(parent.author_id);
        }
        if let Some(q) = quote {
            references.push((Reference::Quoted, q));
        }
        if let Some(parent) = reply_to.and_then(|p| self.posts.get_mut(&p)) {
            parent.reply_count += 1;
        }
        if let Some(quoted) = quote.and_then(|q| self.posts.get_mut(&q)) {
            quoted.quote_count += 1;
        }
        self.posts.insert(
            id,
            Post {
                id,
                author_id: author,
                text: text.into(),
                created_at: at,
                conversation_id,
                in_reply_to_user_id,
                references,
                lang: "en",
                like_count: 0,
                retweet_count: 0,
                reply_count: 0,
                quote_count: 0,
                extras: PostExtras::default(),
                edit_history: vec![id],
                superseded_by: None,
                first_published: at,
            },
        );
        id
    }

    /// Replaces post `previous` of `author`'s by a new version with `text`,
    /// keeping what it replies to and quotes, its conversation and what it
    /// carries; the old version stays readable by its id, as on X.
    pub fn edit_post(
        &mut self,
        author: u64,
        previous: u64,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, EditRefusal> {
        let Some(old) = self.posts.get(&previous) else {
            return Err(EditRefusal::NotFound);
        };
        if old.author_id != author {
            return Err(EditRefusal::NotAuthor);
        }
        if !old.is_edit_eligible() {
            return Err(EditRefusal::NotEligible);
        }
        if old.edits_remaining() == 0 {
            return Err(EditRefusal::NoEditsLeft);
        }
        if now > old.editable_until() {
            return Err(EditRefusal::WindowPassed);
        }
        if self
            .user(author)
            .is_some_and(|u| u.subscription_type == "None")
        {
            return Err(EditRefusal::NeedsSubscription);
        }
        let old = old.clone();
        let id = self.next_id(now);
        let mut new = old.clone();
        new.id = id;
        new.text = text.into();
        new.created_at = now;
        new.edit_history.push(id);
        if new.conversation_id == old.id {
            new.conversation_id = id;
        }
        self.posts.insert(id, new);
        if let Some(old) = self.posts.get_mut(&previous) {
            old.superseded_by = Some(id);
        }
        Ok(id)
    }

    pub fn user(&self, id: u64) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    /// Usernames match without regard to case, as at X.
    pub fn user_by_username(&self, username: &str) -> Option<&User> {
        self.users
            .iter()
            .find(|u| u.username.eq_ignore_ascii_case(username))
    }

    /// Whether `user` may reply to post `id` under X's rule for self-serve
    /// apps: the post is the user's own, mentions the user, or quotes one
    /// of the user's posts. A post that does not exist is left to the
    /// reply's own check.
    pub fn summons(&self, id: u64, user: u64) -> bool {
        let Some(post) = self.post(id) else {
            return true;
        };
        if post.author_id == user {
            return true;
        }
        let mentioned = self.user(user).is_some_and(|u| {
            let handle = format!("@{}", u.username.to_ascii_lowercase());
            let text = post.text.to_ascii_lowercase();
            text.match_indices(&handle).any(|(at, _)| {
                let next = text[at + handle.len()..].chars().next();
                !next.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            })
        });
        let quotes_user = post.references.iter().any(|(kind, quoted)| {
            matches!(kind, Reference::Quoted)
                && self.post(*quoted).is_some_and(|q| q.author_id == user)
        });
        mentioned || quotes_user
    }

    pub fn post(&self, id: u64) -> Option<&Post> {
        self.posts.get(&id)
    }

    /// Every post, newest first.
    pub fn posts_newest_first(&self) -> impl Iterator<Item = &Post> {
        self.posts.values().rev()
    }

    /// The users `user` follows (`following`) or who follow `user`.
    pub fn follow_list(&self, user: u64, following: bool) -> Vec<&User> {
        self.follows
            .iter()
            .filter_map(|&(a, b)| match following {
                true if a == user => self.user(b),
                false if b == user => self.user(a),
                _ => None,
            })
            .collect()
    }

    /// The users who `kind`d (`like`, `repost`) the post `post`.
    pub fn engaged_users(&self, kind: &str, post: u64) -> Vec<&User> {
        self.engagements
            .iter()
            .filter(|(k, _, p)| *k == kind && *p == post)
            .filter_map(|(_, u, _)| self.user(*u))
            .collect()
    }

    /// Starts or stops `follower` following `followed`; whether that
    /// changed anything.
    pub fn set_follow(&mut self, follower: u64, followed: u64, on: bool) -> bool {
        if on {
            self.follows.insert((follower, followed))
        } else {
            self.follows.remove(&(follower, followed))
        }
    }

    pub fn follows(&self, follower: u64, followed: u64) -> bool {
        self.follows.contains(&(follower, followed))
    }

    pub fn following_count(&self, user: u64) -> usize {
        self.follows.iter().filter(|(a, _)| *a == user).count()
    }

    pub fn followers_count(&self, user: u64) -> usize {
        self.follows.iter().filter(|(_, b)| *b == user).count()
    }

    pub fn post_count(&self, user: u64) -> usize {
        self.posts.values().filter(|p| p.author_id == user).count()
    }

    pub fn posts_of(&self, user: u64) -> Vec<PostSnapshot> {
        self.posts_newest_first()
            .filter(|p| p.author_id == user)
            .map(|p| PostSnapshot {
                id: p.id.to_string(),
                text: p.text.clone(),
                media_keys: p.extras.media.iter().map(|m| m.media_key.clone()).collect(),
                poll_options: p
                    .extras
                    .poll
                    .as_ref()
                    .map(|poll| poll.options.clone())
                    .unwrap_or_default(),
            })
            .collect()
    }

    pub fn issue_user_token(
        &mut self,
        user_id: u64,
        scopes: &[&str],
        now: DateTime<Utc>,
    ) -> String {
        let scopes = scopes.iter().map(|s| s.to_string()).collect();
        self.issue_access_token(
            user_id,
            scopes,
            None,
            Some(now + ACCESS_TOKEN_LIFETIME),
            None,
        )
    }

    /// Issues a user-context bearer token.
    pub fn issue_access_token(
        &mut self,
        user_id: u64,
        scopes: BTreeSet<String>,
        client_id: Option<String>,
        expires_at: Option<DateTime<Utc>>,
        authorization: Option<String>,
    ) -> String {
        let token = random_token();
        self.secrets.push(token.clone());
        self.tokens.insert(
            token.clone(),
            Token {
                grant: Grant::User { user_id, scopes },
                expires_at,
                client_id,
                authorization,
            },
        );
        token
    }

    /// Issues a refresh token.
    pub fn issue_refresh_token(
        &mut self,
        client_id: &str,
        user_id: u64,
        scopes: BTreeSet<String>,
        authorization: &str,
    ) -> String {
        let token = random_token();
        self.secrets.push(token.clone());
        self.refresh_tokens.insert(
            token.clone(),
            RefreshGrant {
                client_id: client_id.to_string(),
                user_id,
                scopes,
                used: false,
                authorization: authorization.to_string(),
            },
        );
        token
    }

    /// Revokes every access and refresh token of an authorization, as a
    /// strict provider does when a used refresh token or code comes back
    /// (RFC 9700, section 4.14.2; RFC 6749, section 4.1.2): one of the two
    /// holders is not the client it was issued to.
    pub fn revoke_authorization(&mut self, authorization: &str) {
        self.reuses_detected += 1;
        self.tokens
            .retain(|_, t| t.authorization.as_deref() != Some(authorization));
        self.refresh_tokens
            .retain(|_, r| r.authorization != authorization);
    }

    /// Revokes every token issued to the app `client_id`.
    pub fn revoke_tokens_of(&mut self, client_id: &str) {
        self.tokens
            .retain(|_, t| t.client_id.as_deref() != Some(client_id));
        self.refresh_tokens.retain(|_, r| r.client_id != client_id);
    }

    pub fn app_by_client_id(&self, client_id: &str) -> Option<&App> {
        self.apps.iter().find(|a| a.client_id == client_id)
    }

    pub fn app_by_consumer_key(&self, key: &str) -> Option<&App> {
        self.apps.iter().find(|a| a.consumer_key == key)
    }

    /// The app a token's `client_id` names: its OAuth 2.0 Client ID (user
    /// tokens from the token endpoint) or its API Key (app-only tokens and
    /// OAuth 1.0a access tokens).
    pub fn app_of(&self, client_id: &str) -> Option<&App> {
        self.app_by_client_id(client_id)
            .or_else(|| self.app_by_consumer_key(client_id))
    }

    /// Whether `user` has authorized the app with API Key `consumer_key`:
    /// some user token or refresh token of that app for that user exists.
    pub fn has_authorized(&self, user: u64, consumer_key: &str) -> bool {
        let of_app = |client_id: &str| {
            self.app_of(client_id)
                .is_some_and(|a| a.consumer_key == consumer_key)
        };
        self.tokens.values().any(|t| {
            matches!(t.grant, Grant::User { user_id, .. } if user_id == user)
                && t.client_id.as_deref().is_some_and(of_app)
        }) || self
            .refresh_tokens
            .values()
            .any(|r| r.user_id == user && of_app(&r.client_id))
    }

    pub fn users(&self) -> &[User] {
        &self.users
    }

    pub fn issue_app_token(&mut self) -> String {
        self.issue_app_token_for(None)
    }

    /// Issues an app-only token, for the app `client_id` if given.
    pub fn issue_app_token_for(&mut self, client_id: Option<String>) -> String {
        // App tokens at X start with a run of `A`s; the emulator's do too.
        let token = format!("AAAAAAAAAAAAAAAAAAAAA{}", random_token());
        self.secrets.push(token.clone());
        self.tokens.insert(
            token.clone(),
            Token {
                grant: Grant::App,
                expires_at: None,
                client_id,
                authorization: None,
            },
        );
        token
    }

    pub fn revoke_token(&mut self, token: &str) {
        self.tokens.remove(token);
    }

    pub fn token(&self, token: &str) -> Option<&Token> {
        self.tokens.get(token)
    }

    /// Publishes a post, or refuses it as X would.
    pub fn create_post(
        &mut self,
        author: u64,
        text: &str,
        reply_to: Option<u64>,
        quote: Option<u64>,
        now: DateTime<Utc>,
    ) -> Result<u64, CreateRefusal> {
        if self
            .posts
            .values()
            .any(|p| p.author_id == author && p.text == text)
        {
            return Err(CreateRefusal::Duplicate);
        }
        if reply_to.is_some_and(|id| !self.posts.contains_key(&id)) {
            return Err(CreateRefusal::ReplyTargetMissing);
        }
        if quote.is_some_and(|id| !self.posts.contains_key(&id)) {
            return Err(CreateRefusal::QuoteTargetMissing);
        }
        Ok(self.add_post(author, text, now, reply_to, quote))
    }

    /// Publishes `n` numbered posts by `author`, a minute apart, ending now.
    pub fn add_numbered_posts(&mut self, author: u64, n: usize, now: DateTime<Utc>) {
        for i in 0..n {
            let at = now - chrono::Duration::minutes((n - i) as i64);
            self.add_post(author, &format!("Numbered post {i}"), at, None, None);
        }
    }

    /// Sets what a post just created carries besides its text.
    pub fn attach(&mut self, post: u64, extras: PostExtras) {
        if let Some(p) = self.posts.get_mut(&post) {
            p.extras = extras;
        }
    }

    /// Deletes a post of `caller`'s.
    /// `user`'s repost of `original`, as X makes one: a post of its own,
    /// `RT @author: text`, that refers to the original; its id.
    pub fn add_repost(&mut self, user: u64, original: u64, at: DateTime<Utc>) -> Option<u64> {
        let source = self.posts.get(&original)?;
        let author = self.user(source.author_id)?.username.clone();
        let text = format!("RT @{author}: {}", source.text);
        let id = self.add_post(user, &text, at, None, None);
        if let Some(repost) = self.posts.get_mut(&id) {
            repost.references = vec![(Reference::Retweeted, original)];
        }
        Some(id)
    }

    /// Removes `user`'s reposts of `original`.
    pub fn remove_repost(&mut self, user: u64, original: u64) {
        self.posts.retain(|_, p| {
            !(p.author_id == user
                && p.references
                    .iter()
                    .any(|(kind, target)| *kind == Reference::Retweeted && *target == original))
        });
    }

    pub fn delete_post(&mut self, caller: u64, id: u64) -> Result<(), DeleteRefusal> {
        match self.posts.get(&id) {
            None => Err(DeleteRefusal::NotFound),
            Some(p) if p.author_id != caller => Err(DeleteRefusal::NotAuthor),
            Some(_) => {
                self.posts.remove(&id);
                Ok(())
            }
        }
    }
}

/// Why X refuses an edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditRefusal {
    NotFound,
    NotAuthor,
    NotEligible,
    NoEditsLeft,
    WindowPassed,
    NeedsSubscription,
}

/// A random token of 40 letters and digits.
pub fn random_token() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), 40)
}
