//! The X Activity API's state: the webhooks each app registered, its
//! activity subscriptions, and a record of every event pushed (or tried) to
//! a webhook, kept a day so that a replay job can send it again.
//!
//! An event is made where what it reports happens, under the world's lock,
//! recorded, and handed to the pusher ([`crate::webhook_client`]) in that
//! same order; the pusher sends it from a task of its own, never under the
//! lock, so a slow receiver holds up nothing but later pushes.

use crate::Shared;
use crate::fields::{Selection, timestamp};
use crate::webhook_client::Job;
use crate::world::World;
use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value, json};

/// How long X keeps what it pushed to a webhook for replay jobs.
pub const REPLAY_WINDOW: Duration = Duration::hours(24);

/// Every `event_type` X's `ActivitySubscriptionCreateRequest` allows: the
/// dotted names and the older camel-case ones.
pub const EVENT_TYPES: &[&str] = &[
    "profile.update.bio",
    "profile.update.profile_picture",
    "profile.update.banner_picture",
    "profile.update.screenname",
    "profile.update.geo",
    "profile.update.url",
    "profile.update.verified_badge",
    "profile.update.affiliate_badge",
    "profile.update.handle",
    "news.new",
    "follow.follow",
    "follow.unfollow",
    "spaces.start",
    "spaces.end",
    "chat.received",
    "chat.sent",
    "ProfileBioUpdate",
    "ProfilePictureUpdate",
    "ProfileBannerPictureUpdate",
    "ProfileScreennameUpdate",
    "ProfileGeoUpdate",
    "ProfileUrlUpdate",
    "ProfileVerifiedBadgeUpdate",
    "NewsNew",
    "FollowFollow",
    "FollowUnfollow",
];

/// Whether `event_type` is a private event: X lets an app subscribe to it
/// only for a user who has authorized the app, and a user token only for
/// its own user.
pub fn is_private(event_type: &str) -> bool {
    matches!(
        event_type,
        "follow.follow" | "follow.unfollow" | "FollowFollow" | "FollowUnfollow"
    ) || event_type.starts_with("chat.")
}

/// Whether `event_type` is filtered by keyword (news) rather than by user.
pub fn filters_by_keyword(event_type: &str) -> bool {
    matches!(event_type, "news.new" | "NewsNew")
}

/// A webhook: a callback URL an app registered and X checks with CRCs.
#[derive(Debug, Clone)]
pub struct Webhook {
    pub id: u64,
    pub url: String,
    /// Whether its last CRC passed; only a valid webhook receives events.
    pub valid: bool,
    pub created_at: DateTime<Utc>,
    /// The API Key of the app that registered it.
    pub app: String,
}

impl Webhook {
    /// X's `WebhookConfig`.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id.to_string(),
            "url": self.url,
            "valid": self.valid,
            "created_at": timestamp(self.created_at),
        })
    }
}

/// What a subscription matches: events of a user, or news on a keyword.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub user_id: Option<u64>,
    pub keyword: Option<String>,
}

impl Filter {
    /// X's `ActivitySubscriptionFilter`.
    pub fn to_json(&self) -> Value {
        let mut o = Map::new();
        if let Some(keyword) = &self.keyword {
            o.insert("keyword".into(), json!(keyword));
        }
        if let Some(user) = self.user_id {
            o.insert("user_id".into(), json!(user.to_string()));
        }
        Value::Object(o)
    }
}

/// An X Activity subscription of an app.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub id: u64,
    /// The API Key of the app that created it.
    pub app: String,
    pub event_type: String,
    pub filter: Filter,
    pub tag: Option<String>,
    /// Where its events are pushed; without one they would go to the
    /// activity stream, which the emulator does not serve.
    pub webhook_id: Option<u64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Subscription {
    /// X's `ActivitySubscription`.
    pub fn to_json(&self) -> Value {
        let mut o = Map::new();
        o.insert("subscription_id".into(), json!(self.id.to_string()));
        o.insert("event_type".into(), json!(self.event_type));
        o.insert("filter".into(), self.filter.to_json());
        if let Some(tag) = &self.tag {
            o.insert("tag".into(), json!(tag));
        }
        if let Some(webhook) = self.webhook_id {
            o.insert("webhook_id".into(), json!(webhook.to_string()));
        }
        o.insert("created_at".into(), json!(timestamp(self.created_at)));
        o.insert("updated_at".into(), json!(timestamp(self.updated_at)));
        Value::Object(o)
    }
}

/// One event pushed, or to be pushed, to a webhook: the exact bytes sent,
/// so that a replay sends them again unchanged.
#[derive(Debug, Clone)]
pub struct Push {
    pub webhook_id: u64,
    pub event_uuid: u64,
    pub event_type: String,
    /// When the event happened, by the emulator's clock.
    pub at: DateTime<Utc>,
    pub body: Bytes,
    /// POSTs made so far, replays included.
    pub attempts: u32,
    /// Whether the receiver answered one of them with a 2xx status.
    pub delivered: bool,
}

/// The webhooks, subscriptions and pushes of every app.
#[derive(Debug, Default)]
pub struct Activity {
    pub webhooks: Vec<Webhook>,
    pub subscriptions: Vec<Subscription>,
    /// Oldest first; none older than [`REPLAY_WINDOW`].
    pub pushes: Vec<Push>,
}

impl Activity {
    /// The webhook `id` of the app with API Key `app`.
    pub fn webhook_of(&self, app: &str, id: u64) -> Option<&Webhook> {
        self.webhooks.iter().find(|w| w.id == id && w.app == app)
    }

    /// The subscriptions of the app with API Key `app`, oldest first.
    pub fn subscriptions_of<'a>(&'a self, app: &'a str) -> impl Iterator<Item = &'a Subscription> {
        self.subscriptions.iter().filter(move |s| s.app == app)
    }

    /// Forgets a webhook, its subscriptions and what was pushed to it.
    pub fn remove_webhook(&mut self, id: u64) {
        self.webhooks.retain(|w| w.id != id);
        self.subscriptions.retain(|s| s.webhook_id != Some(id));
        self.pushes.retain(|p| p.webhook_id != id);
    }

    /// Records a push, forgetting those past the replay window.
    fn record(&mut self, push: Push, now: DateTime<Utc>) {
        self.pushes.retain(|p| p.at > now - REPLAY_WINDOW);
        self.pushes.push(push);
    }

    /// The push of event `event_uuid`, if still kept.
    pub fn push_mut(&mut self, event_uuid: u64) -> Option<&mut Push> {
        self.pushes.iter_mut().find(|p| p.event_uuid == event_uuid)
    }
}

/// `follower` starts (`on`) or stops following `followed`, and every
/// `follow.follow` (or `follow.unfollow`) subscription that filters on
/// either of them gets the event at its webhook, if that webhook is valid.
/// Whether the follow changed; nothing is pushed when it did not.
///
/// Called with the world locked, so that events are recorded and queued in
/// the order the follows happened.
pub fn follow(shared: &Shared, world: &mut World, follower: u64, followed: u64, on: bool) -> bool {
    if !world.set_follow(follower, followed, on) {
        return false;
    }
    let kinds: [&str; 2] = if on {
        ["follow.follow", "FollowFollow"]
    } else {
        ["follow.unfollow", "FollowUnfollow"]
    };
    let matching: Vec<Subscription> = world
        .activity
        .subscriptions
        .iter()
        .filter(|s| kinds.contains(&s.event_type.as_str()))
        .filter(|s| {
            s.filter
                .user_id
                .is_some_and(|u| u == follower || u == followed)
        })
        .cloned()
        .collect();
    if matching.is_empty() {
        return true;
    }
    // FollowActivityResponsePayload: the follower and the followed, as
    // User objects.
    let selection = Selection::activity_user();
    let user = |id| {
        world
            .user(id)
            .map(|u| selection.user(world, u))
            .unwrap_or(Value::Null)
    };
    let payload = json!({ "source": user(follower), "target": user(followed) });
    let now = shared.clock.now();
    for subscription in matching {
        let Some(webhook_id) = subscription.webhook_id else {
            continue;
        };
        let valid = world
            .activity
            .webhooks
            .iter()
            .any(|w| w.id == webhook_id && w.valid);
        if !valid {
            continue;
        }
        let event_uuid = world.new_id(now);
        let body = event_body(event_uuid, &subscription, payload.clone());
        world.activity.record(
            Push {
                webhook_id,
                event_uuid,
                event_type: subscription.event_type.clone(),
                at: now,
                body,
                attempts: 0,
                delivered: false,
            },
            now,
        );
        // The pusher is gone only when the emulator is.
        let _ = shared.pusher.send(Job {
            webhook_id,
            event_uuid,
        });
    }
    true
}

/// X's `ActivityStreamingResponse` for one event of `subscription`.
fn event_body(event_uuid: u64, subscription: &Subscription, payload: Value) -> Bytes {
    let mut data = Map::new();
    data.insert("event_uuid".into(), json!(event_uuid.to_string()));
    data.insert("filter".into(), subscription.filter.to_json());
    data.insert("event_type".into(), json!(subscription.event_type));
    if let Some(tag) = &subscription.tag {
        data.insert("tag".into(), json!(tag));
    }
    data.insert("payload".into(), payload);
    Bytes::from(json!({ "data": data }).to_string())
}
