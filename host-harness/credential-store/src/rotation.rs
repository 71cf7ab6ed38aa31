//! Re-sealing every secret under the active master key, online: in small
//! batches, each value replaced only if it is still the one read, so a host
//! that renews a token meanwhile loses nothing. Interrupted, it is run
//! again: what is sealed with the active key already is passed over.

use crate::backend::{Reseal, SealedValue};
use crate::error::StoreError;
use crate::key::KeyId;
use crate::schema::{SEALED_COLUMNS, SealedColumn};
use crate::store::Store;
use std::collections::BTreeMap;
use std::time::Duration;

/// How a rotation goes.
#[derive(Debug, Clone)]
pub struct KeyRotation {
    /// Values read and re-sealed per transaction.
    pub batch_size: usize,
    /// A pause after each batch, to spare a busy database.
    pub pause: Duration,
}

impl Default for KeyRotation {
    fn default() -> Self {
        KeyRotation {
            batch_size: 500,
            pause: Duration::ZERO,
        }
    }
}

/// What a rotation did, and what the store holds after it.
#[derive(Debug, Clone, Default)]
pub struct RotationReport {
    /// The key everything is now meant to be sealed with.
    pub active: Option<KeyId>,
    /// Values this run re-sealed under the active key.
    pub resealed: u64,
    /// Values already sealed with it.
    pub already_active: u64,
    /// Values rewritten by a host while this run was re-sealing them (left
    /// as that host wrote them, and counted again below).
    pub rewritten_meanwhile: u64,
    /// After the run: how many values each key still seals, the active
    /// key's included.
    pub sealed_by: BTreeMap<KeyId, u64>,
    /// Values no key given opens, by place (table, row and column): they
    /// were sealed with a key not given, or altered.
    pub unreadable: Vec<String>,
    /// The keys given (besides the active one) that seal nothing now and
    /// may be retired.
    pub retirable: Vec<KeyId>,
}

impl RotationReport {
    /// Whether only the active key is needed from now on.
    pub fn complete(&self) -> bool {
        self.unreadable.is_empty()
            && self
                .sealed_by
                .iter()
                .all(|(id, count)| Some(*id) == self.active || *count == 0)
    }
}

impl Store {
    /// Re-seals every secret not sealed with the active key (the first of
    /// the keyring the store was opened with), then counts what each key
    /// seals, so the report says which keys may be retired. Safe while
    /// other hosts serve from the same store; a host still sealing with an
    /// older key shows up as values that key still seals.
    pub async fn rotate_keys(&self, terms: &KeyRotation) -> Result<RotationReport, StoreError> {
        let batch_size = terms.batch_size.max(1);
        let mut report = RotationReport {
            active: Some(self.cipher.active()),
            ..RotationReport::default()
        };
        for column in SEALED_COLUMNS {
            let mut pages = Pages::new(self, column, batch_size);
            while let Some(batch) = pages.next().await? {
                let mut changes = Vec::new();
                for value in batch {
                    if self.cipher.sealed_with_active(&value.value) {
                        report.already_active += 1;
                        continue;
                    }
                    let place = column.place(&value.key);
                    // A value no key opens is left as it is, for the census
                    // to report.
                    if let Ok(plain) = self.cipher.open(&value.value, &place) {
                        let new = self.cipher.seal(&plain, &place);
                        changes.push(Reseal {
                            key: value.key,
                            old: value.value,
                            new,
                        });
                    }
                }
                let attempted = changes.len() as u64;
                if attempted > 0 {
                    let replaced = self.backend.reseal(column, changes).await?;
                    report.resealed += replaced;
                    report.rewritten_meanwhile += attempted - replaced;
                }
                if !pages.done && !terms.pause.is_zero() {
                    tokio::time::sleep(terms.pause).await;
                }
            }
        }
        self.census(&mut report, batch_size).await?;
        Ok(report)
    }

    /// Counts, for every sealed value, the key that opens it, changing
    /// nothing: which keys are in use, and which may be retired.
    pub async fn key_census(&self, batch_size: usize) -> Result<RotationReport, StoreError> {
        let mut report = RotationReport {
            active: Some(self.cipher.active()),
            ..RotationReport::default()
        };
        self.census(&mut report, batch_size.max(1)).await?;
        Ok(report)
    }

    async fn census(
        &self,
        report: &mut RotationReport,
        batch_size: usize,
    ) -> Result<(), StoreError> {
        let ids = self.cipher.ids();
        for id in &ids {
            report.sealed_by.insert(*id, 0);
        }
        for column in SEALED_COLUMNS {
            let mut pages = Pages::new(self, column, batch_size);
            while let Some(batch) = pages.next().await? {
                for value in batch {
                    let place = column.place(&value.key);
                    match self.cipher.open_with_id(&value.value, &place) {
                        Ok((_, id)) => *report.sealed_by.entry(id).or_default() += 1,
                        Err(_) => report.unreadable.push(place),
                    }
                }
            }
        }
        report.retirable = ids
            .iter()
            .skip(1)
            .filter(|id| report.sealed_by.get(id).copied().unwrap_or(0) == 0)
            .copied()
            .collect();
        Ok(())
    }
}

/// The sealed values of one column, a batch at a time, in the order of
/// their row's key.
struct Pages<'a> {
    store: &'a Store,
    column: &'static SealedColumn,
    after: Option<Vec<String>>,
    size: usize,
    /// Whether the last batch was the column's last.
    done: bool,
}

impl<'a> Pages<'a> {
    fn new(store: &'a Store, column: &'static SealedColumn, size: usize) -> Pages<'a> {
        Pages {
            store,
            column,
            after: None,
            size,
            done: false,
        }
    }

    async fn next(&mut self) -> Result<Option<Vec<SealedValue>>, StoreError> {
        if self.done {
            return Ok(None);
        }
        let batch = self
            .store
            .backend
            .sealed_values(self.column, self.after.clone(), self.size)
            .await?;
        self.done = batch.len() < self.size;
        match batch.last() {
            Some(last) => {
                self.after = Some(last.key.clone());
                Ok(Some(batch))
            }
            None => Ok(None),
        }
    }
}
