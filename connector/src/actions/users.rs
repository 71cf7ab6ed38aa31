//! `users.me`: who the connection acts for.

use super::Action;
use super::fields::UserFields;
use super::model::{Includes, User, data};
use crate::api::RateLimit;
use crate::context::Context;
use crate::context::SUBSCRIPTION;
use crate::error::ConnectorError;
use crate::input::Validate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `users.me` needs no input.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MeInput {
    /// Which fields and related objects X returns.
    #[serde(default)]
    pub fields: UserFields,
}

impl Validate for MeInput {}

/// The connected account.
#[derive(Debug, Serialize, JsonSchema)]
pub struct MeOutput {
    /// The account the connection acts for.
    pub user: User,
    /// The endpoint's rate limit after this call.
    pub rate_limit: RateLimit,
}

/// The scope that lets X return an account's `confirmed_email`.
const EMAIL_SCOPE: &str = "users.email";
const CONFIRMED_EMAIL: &str = "confirmed_email";

/// `GET /2/users/me`.
pub struct Me;

impl Action for Me {
    const ID: &'static str = "users.me";
    const READS: bool = true;
    type Input = MeInput;
    type Output = MeOutput;

    fn run(ctx: &Context, input: MeInput) -> Result<MeOutput, ConnectorError> {
        me(ctx, &input.fields)
    }
}

/// The connected account, with its subscription (which decides how long
/// its posts may be).
pub fn me(ctx: &Context, fields: &UserFields) -> Result<MeOutput, ConnectorError> {
    let mut query = fields.query();
    // The account's subscription decides how long its posts may be; the
    // host records it at connect time (manifest `identity.facts`).
    let mut wanted = vec![SUBSCRIPTION];
    // The confirmed email comes only to a connection granted users.email.
    let email_granted = ctx
        .facts
        .granted_scopes
        .as_ref()
        .is_some_and(|granted| granted.iter().any(|s| s == EMAIL_SCOPE));
    if email_granted {
        wanted.push(CONFIRMED_EMAIL);
    }
    for field in wanted {
        match query.iter_mut().find(|(name, _)| *name == "user.fields") {
            Some((_, list)) if !list.split(',').any(|f| f == field) => {
                list.push(',');
                list.push_str(field);
            }
            Some(_) => {}
            None => query.push(("user.fields", field.to_string())),
        }
    }
    let answer = ctx.api.get("/2/users/me", &query)?;
    Ok(MeOutput {
        user: Includes::of(&answer.body).join_user(data(&answer)?),
        rate_limit: answer.rate_limit,
    })
}
