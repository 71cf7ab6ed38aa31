//! `dm.new`: direct messages sent to the account, newest first, down to
//! the newest seen.

use super::{Found, Keyed, MAX_PAGES, Trigger, number};
use crate::actions::dm::{DmEvent, events_page};
use crate::bindings::integration::connector::types::ConnectorError;
use crate::context::Context;
use crate::error::invalid_input;
use crate::input::Validate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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
