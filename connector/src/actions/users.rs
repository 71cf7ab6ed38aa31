//! `users.me`: who the connection acts for.

use super::model::{USER_FIELDS, User, data};
use super::{Action, Context};
use crate::api::RateLimit;
use crate::error::ConnectorError;
use crate::input::Validate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `users.me` takes no input.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MeInput {}

impl Validate for MeInput {}

/// The connected account.
#[derive(Debug, Serialize, JsonSchema)]
pub struct MeOutput {
    /// The account the connection acts for.
    pub user: User,
    /// The endpoint's rate limit after this call.
    pub rate_limit: RateLimit,
}

/// `GET /2/users/me`.
pub struct Me;

impl Action for Me {
    const ID: &'static str = "users.me";
    type Input = MeInput;
    type Output = MeOutput;

    fn run(ctx: &Context, _input: MeInput) -> Result<MeOutput, ConnectorError> {
        me(ctx)
    }
}

/// The connected account, also used to learn the account id when the host
/// does not know it.
pub fn me(ctx: &Context) -> Result<MeOutput, ConnectorError> {
    let answer = ctx
        .api
        .get("/2/users/me", &[("user.fields", USER_FIELDS.to_string())])?;
    Ok(MeOutput {
        user: data(&answer)?,
        rate_limit: answer.rate_limit,
    })
}
