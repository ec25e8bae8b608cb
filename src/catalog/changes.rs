//! Catalog changes as values: what a `CREATE`, `DROP`, `ALTER ... RENAME`
//! or `COMMENT ON` does to the catalog, made once by the DDL methods and
//! then either published at once (outside a transaction block) or staged in
//! the session's block and published by its `COMMIT`, in the same SQLite
//! transaction as the block's rows. Inside the block the session sees its
//! changes in front of the committed catalog ([`seen`]); other sessions see
//! none of them until the `COMMIT`, and after a crash all of them are there
//! or none (a new table's files, written and fsynced but not listed, are
//! removed at the next start).

use std::sync::Arc;

use datafusion::catalog::{SchemaProvider, TableProvider};

use super::store::{DataFile, RelationChange, RelationRow, TableCommit};
use super::writer::PendingFiles;
use super::{Catalog, Entry, RelName};
use crate::error::{IntoSqlError, Result};
use crate::sync::write;

/// One change to the catalog.
pub enum Change {
    /// A new relation (`CREATE TABLE [AS]`, `CREATE VIEW`, `CREATE EXTERNAL
    /// TABLE`), replacing `replaces` (`OR REPLACE`); a table's first files.
    Create {
        name: RelName,
        row: RelationRow,
        provider: Arc<dyn TableProvider>,
        files: Option<PendingFiles>,
        replaces: Option<Entry>,
    },
    /// `DROP TABLE | VIEW`.
    Drop { name: RelName, entry: Entry },
    /// `ALTER TABLE | VIEW ... RENAME TO`.
    Rename {
        from: RelName,
        to: RelName,
        entry: Entry,
        provider: Arc<dyn TableProvider>,
    },
    /// `COMMENT ON`: relation `id`'s description (`column` 0) or its
    /// column's.
    Comment {
        id: String,
        column: i64,
        text: Option<String>,
    },
}

impl std::fmt::Debug for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::Create { name, .. } => write!(f, "Create({name})"),
            Change::Drop { name, .. } => write!(f, "Drop({name})"),
            Change::Rename { from, to, .. } => write!(f, "Rename({from} -> {to})"),
            Change::Comment { id, column, .. } => write!(f, "Comment({id}, {column})"),
        }
    }
}

impl Change {
    /// What the store records for it.
    fn stored(&self) -> RelationChange<'_> {
        match self {
            Change::Create {
                row,
                files,
                replaces,
                ..
            } => RelationChange::Create {
                row,
                files: files.as_ref().map_or(&[][..], PendingFiles::files),
                replaces: replaces
                    .as_ref()
                    .map(|e| (e.id.as_str(), row.name.as_str())),
            },
            Change::Drop { name, entry } => RelationChange::Drop {
                id: &entry.id,
                schema: &name.schema,
                name: &name.name,
            },
            Change::Rename {
                from, to, entry, ..
            } => RelationChange::Rename {
                id: &entry.id,
                from_schema: &from.schema,
                from: &from.name,
                schema: &to.schema,
                name: &to.name,
            },
            Change::Comment { id, column, text } => RelationChange::Comment {
                id,
                column: *column,
                description: text.as_deref(),
            },
        }
    }

    /// The relation this change drops or replaces (`CREATE OR REPLACE`),
    /// if any: its staged rows go with it.
    pub fn dropped(&self) -> Option<&str> {
        match self {
            Change::Drop { entry, .. } => Some(&entry.id),
            Change::Create {
                replaces: Some(old),
                ..
            } => Some(&old.id),
            _ => None,
        }
    }

    /// Forgets a change that will not be published: a new table's files
    /// and directory are deleted.
    pub fn discard(self) {
        if let Change::Create {
            provider, files, ..
        } = self
        {
            drop(files);
            if let Some(table) = super::table::as_managed(&provider) {
                let _ = std::fs::remove_dir_all(&table.data().dir);
            }
        }
    }
}

/// What a name means after a session's uncommitted changes.
pub enum Seen {
    Relation {
        entry: Entry,
        provider: Arc<dyn TableProvider>,
    },
    /// Dropped, or renamed away.
    Gone,
}

/// What `name` means after `changes`, if they touched it: the last change
/// to it wins.
pub fn seen(changes: &[Change], name: &RelName) -> Option<Seen> {
    let mut seen = None;
    for change in changes {
        match change {
            Change::Create {
                name: n,
                row,
                provider,
                ..
            } if n == name => {
                seen = Some(Seen::Relation {
                    entry: Entry {
                        id: row.id.clone(),
                        kind: row.kind,
                    },
                    provider: provider.clone(),
                });
            }
            Change::Drop { name: n, .. } if n == name => seen = Some(Seen::Gone),
            Change::Rename {
                from,
                to,
                entry,
                provider,
            } => {
                if from == name {
                    seen = Some(Seen::Gone);
                } else if to == name {
                    seen = Some(Seen::Relation {
                        entry: entry.clone(),
                        provider: provider.clone(),
                    });
                }
            }
            _ => {}
        }
    }
    seen
}

/// The names `changes` add to and take from `schema`.
pub fn names_in(changes: &[Change], schema: &str) -> (Vec<String>, Vec<String>) {
    let mut touched: Vec<&RelName> = Vec::new();
    for change in changes {
        match change {
            Change::Create { name, .. } | Change::Drop { name, .. } => touched.push(name),
            Change::Rename { from, to, .. } => touched.extend([from, to]),
            Change::Comment { .. } => {}
        }
    }
    let (mut added, mut gone) = (Vec::new(), Vec::new());
    for name in touched.into_iter().filter(|n| n.schema == schema) {
        let list = match seen(changes, name) {
            Some(Seen::Relation { .. }) => &mut added,
            _ => &mut gone,
        };
        if !list.contains(&name.name) {
            list.push(name.name.clone());
        }
    }
    (added, gone)
}

impl Catalog {
    /// Publishes `changes` and the tables' `commits` in one store
    /// transaction, then makes the catalog in memory say the same. The
    /// caller holds the DDL lock (and the tables' commit locks).
    pub(super) fn publish(
        &self,
        changes: Vec<Change>,
        commits: &[TableCommit<'_>],
    ) -> Result<Vec<i64>> {
        let stored: Vec<RelationChange<'_>> = changes.iter().map(Change::stored).collect();
        let versions = match self.store.commit(&stored, commits) {
            Ok(v) => v,
            Err(e) => {
                drop(stored);
                changes.into_iter().for_each(Change::discard);
                return Err(e);
            }
        };
        drop(stored);
        for change in changes {
            self.applied(change)?;
        }
        Ok(versions)
    }

    /// Makes the catalog in memory follow a change the store committed.
    fn applied(&self, change: Change) -> Result<()> {
        match change {
            Change::Create {
                name,
                row,
                provider,
                files,
                replaces,
            } => {
                if let Some(files) = files {
                    let _: Vec<DataFile> = files.committed();
                }
                if let Some(old) = replaces {
                    self.unregister(&name);
                    self.remove_data(&old);
                }
                self.schema(&name.schema)?
                    .register_table(name.name.clone(), provider)
                    .sql_err()?;
                write(&self.entries).insert(
                    name,
                    Entry {
                        id: row.id,
                        kind: row.kind,
                    },
                );
            }
            Change::Drop { name, entry } => {
                self.unregister(&name);
                self.remove_data(&entry);
            }
            Change::Rename {
                from,
                to,
                entry,
                provider,
            } => {
                self.unregister(&from);
                self.schema(&to.schema)?
                    .register_table(to.name.clone(), provider)
                    .sql_err()?;
                write(&self.entries).insert(to, entry);
            }
            Change::Comment { .. } => {}
        }
        Ok(())
    }
}
