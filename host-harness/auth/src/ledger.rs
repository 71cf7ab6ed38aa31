//! The usage ledger: every successful run of a connection the manager
//! hands out adds what it consumed at the API (an action's `usage`, a
//! poll's) to its tenant's ledger in the store, per connection, operation
//! and UTC day, so a platform bills from one place whichever node, route
//! or trigger ran it.

use credential_store::Store;
use host_core::credentials::{BoxFuture, Operation, Usage, UsageLedger};
use std::sync::Arc;

/// The ledger of one tenant (`None`: the default tenant), in the store.
pub struct StoreLedger {
    store: Arc<Store>,
    tenant: Option<String>,
}

impl StoreLedger {
    pub fn new(store: Arc<Store>, tenant: Option<String>) -> StoreLedger {
        StoreLedger { store, tenant }
    }
}

/// The ledger's name for an operation.
pub fn operation_key(operation: Operation<'_>) -> String {
    match operation {
        Operation::Action(id) => format!("action:{id}"),
        Operation::Trigger(id) => format!("trigger:{id}"),
    }
}

/// Today, UTC, as the ledger keys days.
pub fn today() -> String {
    chrono::Utc::now().format("%Y-%m-%d").to_string()
}

impl UsageLedger for StoreLedger {
    fn record<'a>(
        &'a self,
        connection_id: &'a str,
        operation: Operation<'a>,
        usage: &'a Usage,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let added = self
                .store
                .add_usage(
                    self.tenant.as_deref(),
                    &today(),
                    connection_id,
                    &operation_key(operation),
                    usage,
                )
                .await;
            if let Err(e) = added {
                // The run happened; only its billing record is missing.
                tracing::error!(connection = %connection_id, operation = %operation_key(operation), error = %e, "cannot add a run's usage to the ledger");
            }
        })
    }
}
