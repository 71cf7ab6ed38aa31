//! Why the store refused an operation. No message holds a secret: places
//! are named by table, connection and column, a database by its URL
//! without password.

/// Why the store refused an operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the credential store {location} cannot be opened: {reason}")]
    Open { location: String, reason: String },
    #[error(
        "the credential store {location} is an empty file: it is not a store, or it was truncated; restore it from a backup (or remove it to start a new store)"
    )]
    Empty { location: String },
    #[error(
        "the master key does not open the credential store {location}; use the key it was created with"
    )]
    WrongKey { location: String },
    #[error(
        "the credential store {location} has no key check; it was not created by this program or is damaged"
    )]
    NotAStore { location: String },
    #[error(
        "the credential store {location} has schema version {found}, newer than this release knows ({known}); run a newer release"
    )]
    TooNew {
        location: String,
        found: i64,
        known: i64,
    },
    #[error(
        "a stored secret ({what}) does not decrypt: the store was altered or damaged; reconnect to replace it"
    )]
    Tampered { what: String },
    #[error("no connection `{0}`")]
    NoSuchConnection(String),
    #[error("no subscription `{0}`")]
    NoSuchSubscription(String),
    #[error("no tenant `{0}`")]
    NoSuchTenant(String),
    #[error("no API key `{0}`")]
    NoSuchApiKey(String),
    #[error("`{0}` changed since it was read")]
    Conflict(String),
    #[error(
        "another host has been renewing the credentials of connection `{connection}` for over {waited_secs} s; try again"
    )]
    LeaseBusy {
        connection: String,
        waited_secs: u64,
    },
    #[error("the credential store failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the credential store's database failed: {0}")]
    Postgres(String),
    #[error("the credential store failed: {0}")]
    Internal(String),
    /// The store cannot be reached or is not taking work now (its database
    /// is down, restarting, or out of connections): a later try may work.
    #[error("the credential store is unavailable: {0}")]
    Unavailable(String),
}

impl StoreError {
    /// Whether a later try may work: the store is unreachable or busy,
    /// rather than the request wrong or the data damaged.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Unavailable(_) => true,
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseBusy
                    | rusqlite::ErrorCode::DatabaseLocked
                    | rusqlite::ErrorCode::SystemIoFailure
                    | rusqlite::ErrorCode::CannotOpen
            ),
            _ => false,
        }
    }
}

/// SQLSTATE classes and codes of a server that is not taking work now:
/// connection exceptions (08), shutting down or starting (57P01-57P03),
/// out of connections (53300).
fn unavailable_state(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> StoreError {
        let error = postgres_error(e);
        host_metrics::store_error("postgres", error.is_unavailable());
        error
    }
}

/// What a driver error means for the caller: unavailable (a retry may
/// work) or a database error.
fn postgres_error(e: tokio_postgres::Error) -> StoreError {
    // The driver's message names the server's error and never a bound
    // value; a sealed value would be ciphertext anyway.
    if let Some(tls) = tls_failure(&e) {
        // A certificate refused or a handshake that failed: the
        // settings or the server are wrong, and a retry will not help.
        return StoreError::Postgres(format!("{e}: {tls}"));
    }
    match e.as_db_error() {
        Some(db) if unavailable_state(db.code().code()) => {
            StoreError::Unavailable(format!("{} ({})", db.message(), db.code().code()))
        }
        Some(db) => StoreError::Postgres(format!("{} ({})", db.message(), db.code().code())),
        // No answer from the server at all: it cannot be reached, or
        // the connection broke.
        None if e.is_closed()
            || std::error::Error::source(&e)
                .is_some_and(|s| s.downcast_ref::<std::io::Error>().is_some()) =>
        {
            StoreError::Unavailable(e.to_string())
        }
        None => StoreError::Postgres(e.to_string()),
    }
}

/// What rustls said, when a connection failed in its TLS handshake.
fn tls_failure(e: &tokio_postgres::Error) -> Option<String> {
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            return Some(tls.to_string());
        }
        if let Some(inner) = cause
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(inner.to_string());
        }
        source = cause.source();
    }
    None
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> StoreError {
        match e {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            other => {
                host_metrics::store_error("postgres", true);
                StoreError::Unavailable(format!("no database connection: {other}"))
            }
        }
    }
}

impl From<tokio::task::JoinError> for StoreError {
    fn from(e: tokio::task::JoinError) -> StoreError {
        StoreError::Internal(format!("a store operation stopped: {e}"))
    }
}
