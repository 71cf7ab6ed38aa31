//! `follower.new`: the newest followers compared with those seen before,
//! or pushed by X (`follow.follow`).

use super::{
    Found, Keyed, PushSubscription, Trigger, list_cursor, parse_list_cursor, user_or_account,
};
use crate::actions::fields::UserFields;
use crate::actions::lookup::user_page;
use crate::actions::model::User;
use crate::bindings::integration::connector::types::ConnectorError;
use crate::context::Context;
use crate::error::invalid_input;
use crate::input::{self, Id, Validate};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

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
