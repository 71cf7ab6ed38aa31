//! The store's schema, as numbered migrations written once for both backends.
//!
//! A store records the last migration applied (`schema_version` in `meta`).
//! Opening a store applies the ones it lacks, in order, in one transaction
//! that only one host runs at a time; a store from a newer release is
//! refused rather than guessed at. The numbers are the same for both
//! backends, so a version means the same data everywhere.

/// One step of the schema, written once in the SQL both backends share.
/// Two column types differ: SQLite's `BLOB` and `INTEGER` are
/// PostgreSQL's `BYTEA` and `BIGINT` ([`Migration::postgres`]).
pub(crate) struct Migration {
    pub version: i64,
    pub sql: &'static str,
}

impl Migration {
    pub fn sqlite(&self) -> &'static str {
        self.sql
    }

    pub fn postgres(&self) -> String {
        self.sql
            .replace(" BLOB", " BYTEA")
            .replace(" INTEGER", " BIGINT")
    }
}

/// The schema version this release writes.
pub(crate) const LATEST: i64 = 13;

/// A column that holds sealed secrets, for re-sealing them under a new key.
/// A value's place (its associated data) is made of its table, its row's key
/// and, for some tables, the column, as the store seals it.
pub(crate) struct SealedColumn {
    pub table: &'static str,
    /// The primary key's columns, all text, in the order of the place.
    pub key: &'static [&'static str],
    pub column: &'static str,
    pub place: PlaceShape,
    /// A condition on the rows holding sealed values, if not every row does.
    pub only: Option<&'static str>,
}

/// How a sealed value's place is made.
pub(crate) enum PlaceShape {
    /// `table/key.../column`.
    KeyThenColumn,
    /// `table/key...`: the key names the value already.
    Key,
    /// One fixed place.
    Fixed(&'static str),
}

impl SealedColumn {
    pub fn place(&self, key: &[String]) -> String {
        match self.place {
            PlaceShape::KeyThenColumn => {
                format!("{}/{}/{}", self.table, key.join("/"), self.column)
            }
            PlaceShape::Key => format!("{}/{}", self.table, key.join("/")),
            PlaceShape::Fixed(place) => place.to_string(),
        }
    }
}

/// Every column of the schema that holds sealed values; the key check
/// last, so that it moves to a new key only after everything else has.
pub(crate) const SEALED_COLUMNS: &[SealedColumn] = &[
    SealedColumn {
        table: "app_credentials",
        key: &["connector", "method", "level", "field"],
        column: "secret",
        place: PlaceShape::Key,
        only: None,
    },
    SealedColumn {
        table: "connection_fields",
        key: &["connection_id", "field"],
        column: "secret",
        place: PlaceShape::Key,
        only: None,
    },
    SealedColumn {
        table: "tokens",
        key: &["connection_id"],
        column: "access_token",
        place: PlaceShape::KeyThenColumn,
        only: None,
    },
    SealedColumn {
        table: "tokens",
        key: &["connection_id"],
        column: "refresh_token",
        place: PlaceShape::KeyThenColumn,
        only: None,
    },
    SealedColumn {
        table: "tokens",
        key: &["connection_id"],
        column: "token_secret",
        place: PlaceShape::KeyThenColumn,
        only: None,
    },
    SealedColumn {
        table: "sign_ins",
        key: &["key_hash"],
        column: "payload",
        place: PlaceShape::KeyThenColumn,
        only: None,
    },
    SealedColumn {
        table: "trigger_subscriptions",
        key: &["id"],
        column: "signing_secret",
        place: PlaceShape::KeyThenColumn,
        only: None,
    },
    SealedColumn {
        table: "identity_codes",
        key: &["code_hash"],
        column: "identity",
        place: PlaceShape::KeyThenColumn,
        only: None,
    },
    SealedColumn {
        table: "tenant_webhooks",
        key: &["tenant_id"],
        column: "signing_secret",
        place: PlaceShape::KeyThenColumn,
        only: None,
    },
    SealedColumn {
        table: "meta",
        key: &["key"],
        column: "value",
        place: PlaceShape::Fixed("meta/key_check"),
        only: Some("key = 'key_check'"),
    },
];

pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        // The first release's schema, unchanged: stores it made are at 1.
        sql: "
CREATE TABLE IF NOT EXISTS app_credentials (
    connector TEXT NOT NULL,
    method    TEXT NOT NULL,
    level     TEXT NOT NULL,
    field     TEXT NOT NULL,
    plain     TEXT,
    secret    BLOB,
    PRIMARY KEY (connector, method, level, field)
);
CREATE TABLE IF NOT EXISTS connections (
    id             TEXT PRIMARY KEY,
    connector      TEXT NOT NULL,
    method         TEXT NOT NULL,
    auth_kind      TEXT NOT NULL,
    name           TEXT NOT NULL,
    brand          TEXT,
    status         TEXT NOT NULL,
    status_reason  TEXT,
    account_id     TEXT,
    account_name   TEXT,
    granted_scopes TEXT,
    callback_url   TEXT,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS connection_fields (
    connection_id TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    field         TEXT NOT NULL,
    plain         TEXT,
    secret        BLOB,
    PRIMARY KEY (connection_id, field)
);
CREATE TABLE IF NOT EXISTS tokens (
    connection_id     TEXT PRIMARY KEY REFERENCES connections(id) ON DELETE CASCADE,
    access_token      BLOB,
    access_expires_at INTEGER,
    refresh_token     BLOB,
    token_secret      BLOB,
    scope             TEXT,
    version           INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
",
    },
    Migration {
        version: 2,
        // What several hosts share beyond connections: sign-ins in flight,
        // page sessions, and the state of triggers; and when each access
        // token was issued.
        sql: "
ALTER TABLE tokens ADD COLUMN access_issued_at INTEGER;
CREATE TABLE sign_ins (
    key_hash      TEXT PRIMARY KEY,
    connection_id TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    flow          TEXT NOT NULL,
    payload       BLOB NOT NULL,
    expires_at    INTEGER NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE INDEX sign_ins_by_expiry ON sign_ins (expires_at);
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
CREATE TABLE trigger_subscriptions (
    id             TEXT PRIMARY KEY,
    connection_id  TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    trigger_id     TEXT NOT NULL,
    configuration  TEXT NOT NULL,
    delivery       TEXT NOT NULL,
    cursor         TEXT,
    cursor_version INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
CREATE INDEX trigger_subscriptions_by_connection ON trigger_subscriptions (connection_id);
CREATE TABLE trigger_events_seen (
    subscription_id TEXT NOT NULL REFERENCES trigger_subscriptions(id) ON DELETE CASCADE,
    event_key       TEXT NOT NULL,
    seen_at         INTEGER NOT NULL,
    PRIMARY KEY (subscription_id, event_key)
);
CREATE INDEX trigger_events_seen_by_age ON trigger_events_seen (subscription_id, seen_at);
",
    },
    Migration {
        version: 3,
        // Subscriptions a server runs: where their events go, how often
        // they are polled and by which host, the key that signs their
        // deliveries; and the deliveries themselves, an outbox.
        sql: "
ALTER TABLE trigger_subscriptions ADD COLUMN destination TEXT NOT NULL DEFAULT 'watch';
ALTER TABLE trigger_subscriptions ADD COLUMN target_url TEXT;
ALTER TABLE trigger_subscriptions ADD COLUMN interval_secs INTEGER NOT NULL DEFAULT 60;
ALTER TABLE trigger_subscriptions ADD COLUMN next_poll_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE trigger_subscriptions ADD COLUMN poller TEXT;
ALTER TABLE trigger_subscriptions ADD COLUMN poll_lease_until INTEGER NOT NULL DEFAULT 0;
ALTER TABLE trigger_subscriptions ADD COLUMN signing_secret BLOB;
CREATE TABLE trigger_deliveries (
    subscription_id TEXT NOT NULL REFERENCES trigger_subscriptions(id) ON DELETE CASCADE,
    event_id        TEXT NOT NULL,
    sequence        INTEGER NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    claimed_by      TEXT,
    claimed_until   INTEGER NOT NULL,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    settled_at      INTEGER,
    PRIMARY KEY (subscription_id, event_id)
);
CREATE UNIQUE INDEX trigger_deliveries_in_order ON trigger_deliveries (subscription_id, sequence);
CREATE INDEX trigger_deliveries_due ON trigger_deliveries (status, next_attempt_at);
",
    },
    Migration {
        version: 4,
        // Push: the API's id of a subscription it pushes, and the webhook
        // registered at the API for an app-level connection (who is
        // registering it, and when the last event came, to replay a gap).
        sql: "
ALTER TABLE trigger_subscriptions ADD COLUMN push_id TEXT;
CREATE TABLE push_webhooks (
    connection_id   TEXT PRIMARY KEY REFERENCES connections(id) ON DELETE CASCADE,
    url             TEXT NOT NULL,
    remote_id       TEXT,
    registrar       TEXT,
    registrar_until INTEGER NOT NULL,
    registered_at   INTEGER,
    last_event_at   INTEGER
);
",
    },
    Migration {
        version: 5,
        // What the host learnt of the account at connect time, as the
        // manifest's identity.facts names it: a JSON object of strings.
        sql: "ALTER TABLE connections ADD COLUMN account_facts TEXT;",
    },
    Migration {
        version: 6,
        // Requests counted per key in fixed windows, so that a limit
        // (challenges a webhook answers, say) holds for every host sharing
        // the store rather than for each apart.
        sql: "
CREATE TABLE request_counts (
    key          TEXT PRIMARY KEY,
    window_start INTEGER NOT NULL,
    count        INTEGER NOT NULL
);
",
    },
    Migration {
        version: 7,
        // Tenants: a platform's customers, each with its own API keys (kept
        // by hash) and connections. A connection without a tenant is the
        // default tenant's, as every connection made before was.
        sql: "
CREATE TABLE tenants (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    key_hash   TEXT NOT NULL UNIQUE,
    scopes     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    revoked_at INTEGER
);
CREATE INDEX api_keys_by_tenant ON api_keys (tenant_id);
ALTER TABLE connections ADD COLUMN tenant_id TEXT REFERENCES tenants(id);
CREATE INDEX connections_by_tenant ON connections (tenant_id);
",
    },
    Migration {
        version: 8,
        // End users: a tenant's connections carry the user (and their
        // organisation and tags) they were made for; connect sessions are
        // the single-use links that make them, or that sign a user in with
        // their account; identity codes carry a signed-in user's verified
        // identity (sealed) to the tenant's backend, once. A tenant's
        // settings (allowed return URLs) are the server's JSON. A quiet
        // connection (a sign-in's, kept only to learn who signed in) makes
        // no platform event.
        sql: "
ALTER TABLE tenants ADD COLUMN settings TEXT;
ALTER TABLE connections ADD COLUMN end_user_id TEXT;
ALTER TABLE connections ADD COLUMN end_user TEXT;
ALTER TABLE connections ADD COLUMN quiet INTEGER NOT NULL DEFAULT 0;
CREATE INDEX connections_by_end_user ON connections (tenant_id, end_user_id);
CREATE TABLE connect_sessions (
    token_hash    TEXT PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    purpose       TEXT NOT NULL,
    details       TEXT NOT NULL,
    expires_at    INTEGER NOT NULL,
    used_at       INTEGER,
    connection_id TEXT,
    created_at    INTEGER NOT NULL
);
CREATE INDEX connect_sessions_by_connection ON connect_sessions (connection_id);
CREATE INDEX connect_sessions_by_expiry ON connect_sessions (expires_at);
CREATE TABLE identity_codes (
    code_hash  TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    identity   BLOB NOT NULL,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX identity_codes_by_expiry ON identity_codes (expires_at);
",
    },
    Migration {
        version: 9,
        // The usage ledger: what each tenant's connections consumed at the
        // API, by operation (`action:ID`, `trigger:ID`), UTC day and
        // billing unit, added to as runs succeed. The default tenant is ''.
        // Rows outlive their connection: what was consumed stays billed.
        sql: "
CREATE TABLE usage_ledger (
    tenant_id     TEXT NOT NULL,
    day           TEXT NOT NULL,
    connection_id TEXT NOT NULL,
    operation     TEXT NOT NULL,
    unit          TEXT NOT NULL,
    amount        INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, day, connection_id, operation, unit)
);
",
    },
    Migration {
        version: 10,
        // Platform events: a tenant's webhook (its signing key sealed), and
        // the outbox of what happened to its connections (created, needing a
        // reconnect, revoked, deleted; a subscription's dead letter),
        // written in the same step as the change itself, so each is queued
        // once whichever host made it. The default tenant is ''.
        sql: "
CREATE TABLE tenant_webhooks (
    tenant_id      TEXT PRIMARY KEY,
    url            TEXT NOT NULL,
    signing_secret BLOB NOT NULL,
    created_at     INTEGER NOT NULL
);
CREATE TABLE tenant_events (
    id              TEXT PRIMARY KEY,
    seq             INTEGER NOT NULL,
    tenant_id       TEXT NOT NULL,
    kind            TEXT NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    claimed_by      TEXT,
    claimed_until   INTEGER NOT NULL,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    settled_at      INTEGER
);
CREATE INDEX tenant_events_due ON tenant_events (status, next_attempt_at);
CREATE INDEX tenant_events_by_tenant ON tenant_events (tenant_id, seq);
",
    },
    Migration {
        version: 11,
        // The trace an event was found in (a W3C `traceparent`), so that its
        // delivery, by whichever host, continues that trace.
        sql: "ALTER TABLE trigger_deliveries ADD COLUMN trace_context TEXT;",
    },
    Migration {
        version: 12,
        // The tools an MCP client of a connection may see and call, when
        // its tenant limited them; gone with the connection.
        sql: "
CREATE TABLE mcp_tool_limits (
    connection_id TEXT PRIMARY KEY REFERENCES connections(id) ON DELETE CASCADE,
    tools         TEXT NOT NULL,
    updated_at    INTEGER NOT NULL
);
",
    },
    Migration {
        version: 13,
        // What the MCP server's authorization server hands out to be used
        // once: authorization codes and refresh tokens, by the hash of
        // their text, with what they grant (tenant, connection, tools,
        // client) as JSON; gone with their connection.
        sql: "
CREATE TABLE oauth_grants (
    token_hash    TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    connection_id TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    claims        TEXT NOT NULL,
    expires_at    INTEGER NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE INDEX oauth_grants_by_expiry ON oauth_grants (expires_at);
CREATE INDEX oauth_grants_by_connection ON oauth_grants (connection_id);
",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_one_by_one_up_to_the_latest() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1);
        }
        assert_eq!(MIGRATIONS.last().unwrap().version, LATEST);
    }

    #[test]
    fn postgres_gets_its_own_column_types_and_nothing_else_changes() {
        let first = MIGRATIONS[0].postgres();
        assert!(first.contains("secret    BYTEA"), "{first}");
        assert!(first.contains("created_at     BIGINT NOT NULL"), "{first}");
        assert!(!first.contains("BLOB") && !first.contains("INTEGER"));
        assert_eq!(
            first.replace("BYTEA", "BLOB").replace("BIGINT", "INTEGER"),
            MIGRATIONS[0].sqlite()
        );
    }
}
