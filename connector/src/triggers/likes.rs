//! `like.new`: who likes the account's newest posts, compared with who
//! did before.

use super::{Found, Keyed, Trigger, list_cursor, parse_list_cursor};
use crate::actions::fields::UserFields;
use crate::actions::lookup::user_page;
use crate::actions::model::{User, post_page};
use crate::bindings::integration::connector::types::ConnectorError;
use crate::context::Context;
use crate::input::{self, Validate};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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
