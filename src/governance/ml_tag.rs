//! `ml_tag('customers.email', 'pii')`: a tag on a stored column, kept in
//! the catalog (by relation id, so a rename keeps it and a drop removes
//! it) and listed in `ml_column_tags`. Training on a column tagged `pii`
//! (directly or through a view) warns, and the version's warnings say so.

use std::sync::{Arc, Weak};

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion_macros::user_doc;
use rusqlite::params;

use super::{Governance, ident};
use crate::access::Checks;
use crate::catalog::staging::Block;
use crate::catalog::{Catalog, RelName};
use crate::error::{SqlStateError, sqlstate};

pub const NAME: &str = "ml_tag";

/// The tag training warns about.
pub const PII: &str = "pii";

pub const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS column_tags (
    relation_id TEXT NOT NULL REFERENCES relations(id) ON DELETE CASCADE,
    column_name TEXT NOT NULL,
    tag         TEXT NOT NULL,
    tagged_by   TEXT NOT NULL,
    tagged_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (relation_id, column_name, tag)
);
"#;

#[user_doc(
    doc_section(label = "Governance"),
    description = "Tags a stored column ('table.column' or 'schema.table.column'), or with tagged false removes the tag; returns what it did. Tags are lower-case words (letters, digits, _ and -, at most 63 characters) such as pii, sensitive or quasi_identifier, listed in ml_column_tags. Training a model on a column tagged pii, directly or through a view, adds a warning to the version (ml_model_versions.warnings) naming the feature and the column. Tags follow the table through renames and go with it when it is dropped. Needs ownership of the table (its owner or a superuser). Errors: 42P01 unknown table; 42703 unknown column; 42501 not the owner; 22023 for a malformed tag.",
    syntax_example = "ml_tag(column, tag [, tagged])",
    sql_example = r#"```sql
> SELECT ml_tag('house_prices.neighborhood', 'quasi_identifier');
+----------------------------------------------------------+
| ml_tag                                                   |
+----------------------------------------------------------+
| tagged public.house_prices.neighborhood quasi_identifier |
+----------------------------------------------------------+
```"#,
    argument(
        name = "column",
        description = "Text: 'table.column' or 'schema.table.column'."
    ),
    argument(name = "tag", description = "Text: the tag, such as 'pii'."),
    argument(
        name = "tagged",
        description = "Optional boolean: true (the default) adds the tag, false removes it."
    )
)]
#[derive(Debug)]
pub struct TagUdf {
    governance: Arc<Governance>,
    signature: Signature,
}

impl TagUdf {
    pub fn new(governance: &Arc<Governance>) -> Self {
        TagUdf {
            governance: governance.clone(),
            signature: Signature::one_of(
                vec![
                    datafusion::logical_expr::TypeSignature::Exact(vec![
                        DataType::Utf8,
                        DataType::Utf8,
                    ]),
                    datafusion::logical_expr::TypeSignature::Exact(vec![
                        DataType::Utf8,
                        DataType::Utf8,
                        DataType::Boolean,
                    ]),
                ],
                Volatility::Volatile,
            ),
        }
    }
}

impl PartialEq for TagUdf {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.governance, &other.governance)
    }
}

impl Eq for TagUdf {}

impl std::hash::Hash for TagUdf {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        NAME.hash(state);
    }
}

/// The relation and column `target` names.
pub fn column_of(
    function: &str,
    target: &str,
    default_schema: &str,
) -> Result<(RelName, String), SqlStateError> {
    let parts: Vec<String> = target.split('.').map(ident).collect();
    match parts.as_slice() {
        [t, c] => Ok((RelName::new(default_schema, t.as_str()), c.clone())),
        [s, t, c] => Ok((RelName::new(s.as_str(), t.as_str()), c.clone())),
        _ => Err(SqlStateError::bad_argument(format!(
            "{function}: column must be 'table.column' or 'schema.table.column', got '{target}'"
        ))),
    }
}

fn check_tag(tag: &str) -> Result<(), SqlStateError> {
    let ok = !tag.is_empty()
        && tag.len() <= 63
        && tag
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        return Ok(());
    }
    Err(SqlStateError::bad_argument(format!(
        "{NAME}: tag must be lower-case letters, digits, _ or -, at most 63 characters, got '{tag}'"
    )))
}

fn text(args: &ScalarFunctionArgs, i: usize, what: &str) -> Result<String, SqlStateError> {
    let value = crate::registry::functions::literal(NAME, &args.args, i)?;
    crate::registry::functions::text(value)
        .ok_or_else(|| SqlStateError::arg(NAME, what, "must be text", value))
}

impl TagUdf {
    fn run(&self, args: &ScalarFunctionArgs) -> Result<String, SqlStateError> {
        let target = text(args, 0, "column")?;
        let tag = text(args, 1, "tag")?;
        check_tag(&tag)?;
        let tagged = match args.args.get(2) {
            None => true,
            Some(_) => match crate::registry::functions::literal(NAME, &args.args, 2)? {
                ScalarValue::Boolean(Some(b)) => *b,
                other => {
                    return Err(SqlStateError::arg(
                        NAME,
                        "tagged",
                        "must be a boolean",
                        other,
                    ));
                }
            },
        };
        let config = &args.config_options;
        let (relation, column) = column_of(NAME, &target, &config.catalog.default_schema)?;
        let catalog = self
            .governance
            .catalog
            .upgrade()
            .ok_or_else(|| SqlStateError::internal("the catalog is gone"))?;
        let id = catalog
            .relation_id(&relation, &Block::default())
            .ok_or_else(|| {
                SqlStateError::new(
                    sqlstate::UNDEFINED_TABLE,
                    format!("relation \"{relation}\" does not exist"),
                )
            })?;
        let columns = catalog.relation_schema(&relation);
        if columns.is_some_and(|s| s.field_with_name(&column).is_err()) {
            return Err(SqlStateError::new(
                sqlstate::UNDEFINED_COLUMN,
                format!("column \"{column}\" of relation \"{relation}\" does not exist"),
            ));
        }
        let user = quarry_udfs::session_info::user(config);
        Checks {
            access: &self.governance.access,
            user: user.clone(),
        }
        .relation_owner(&catalog, &Block::default(), &relation)?;
        let full = format!("{}.{}.{column}", relation.schema, relation.name);
        self.governance.registry.store().with_conn(|conn| {
            if tagged {
                conn.execute(
                    "INSERT OR IGNORE INTO column_tags (relation_id, column_name, tag, tagged_by)
                     VALUES (?1, ?2, ?3, ?4)",
                    params![id, column, tag, user],
                )
            } else {
                conn.execute(
                    "DELETE FROM column_tags WHERE relation_id = ?1 AND column_name = ?2 AND tag = ?3",
                    params![id, column, tag],
                )
            }
        })?;
        Ok(if tagged {
            format!("tagged {full} {tag}")
        } else {
            format!("untagged {full} {tag}")
        })
    }
}

impl ScalarUDFImpl for TagUdf {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let message = self.run(&args).map_err(SqlStateError::into_df)?;
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(message))))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

/// The tags of stored columns, as `ml_column_tags` lists them.
#[derive(Debug)]
pub struct ColumnTags {
    governance: Weak<Governance>,
    catalog: Weak<Catalog>,
}

impl ColumnTags {
    pub fn new(governance: &Arc<Governance>) -> Self {
        ColumnTags {
            governance: Arc::downgrade(governance),
            catalog: governance.catalog.clone(),
        }
    }
}

pub const TABLE: &str = "ml_column_tags";

#[async_trait]
impl crate::catalog::live::LiveRows for ColumnTags {
    fn schema(&self) -> SchemaRef {
        let text = |n: &str| Field::new(n, DataType::Utf8, false);
        Arc::new(Schema::new(vec![
            text("schema_name"),
            text("table_name"),
            text("column_name"),
            text("tag"),
            text("tagged_by"),
            text("tagged_at"),
        ]))
    }

    async fn batch(&self, _state: &dyn datafusion::catalog::Session) -> DfResult<RecordBatch> {
        let rows: Vec<[String; 6]> = match (self.governance.upgrade(), self.catalog.upgrade()) {
            (Some(g), Some(_)) => g
                .registry
                .store()
                .with_conn(|conn| {
                    let mut stmt = conn.prepare(
                        "SELECT r.schema_name, r.name, t.column_name, t.tag, t.tagged_by, t.tagged_at
                         FROM column_tags t JOIN relations r ON r.id = t.relation_id
                         ORDER BY r.schema_name, r.name, t.column_name, t.tag",
                    )?;
                    stmt.query_map([], |r| {
                        Ok([r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?])
                    })?
                    .collect()
                })
                .map_err(SqlStateError::into_df)?,
            _ => Vec::new(),
        };
        let columns: Vec<ArrayRef> = (0..6)
            .map(|i| {
                Arc::new(StringArray::from_iter_values(
                    rows.iter().map(|r| r[i].as_str()),
                )) as ArrayRef
            })
            .collect();
        RecordBatch::try_new(self.schema(), columns)
            .map_err(|e| SqlStateError::internal(e).into_df())
    }
}

/// The features and label in `lineage` whose source column carries
/// `tag`: (used as, `schema.table.column`).
pub fn tagged_uses(
    store: &crate::catalog::store::Store,
    lineage: &[super::lineage::Use],
    tag: &str,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for u in lineage.iter().filter(|u| u.used_as != "read") {
        let Some((schema, table)) = u.table.split_once('.') else {
            continue;
        };
        let tagged = store
            .with_conn(|conn| {
                conn.query_row(
                    "SELECT count(*) FROM column_tags t JOIN relations r ON r.id = t.relation_id
                     WHERE r.schema_name = ?1 AND r.name = ?2 AND t.column_name = ?3 AND t.tag = ?4",
                    params![schema, table, u.column, tag],
                    |r| r.get::<_, i64>(0),
                )
            })
            .unwrap_or(0);
        if tagged > 0 {
            out.push((u.used_as.clone(), format!("{}.{}", u.table, u.column)));
        }
    }
    out
}

/// Warnings for a version whose features or label come from columns
/// tagged `pii` (`lineage` as recorded for it).
pub fn pii_warnings(
    store: &crate::catalog::store::Store,
    lineage: &[super::lineage::Use],
) -> Vec<String> {
    tagged_uses(store, lineage, PII)
        .into_iter()
        .map(|(used_as, column)| {
            format!("{used_as} comes from {column}, tagged pii: personal data is in this model")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_tags_are_checked() {
        let (r, c) = column_of(NAME, "Customers.Email", "public").expect("ok");
        assert_eq!(
            (r.schema.as_str(), r.name.as_str(), c.as_str()),
            ("public", "customers", "email")
        );
        let (r, c) = column_of(NAME, "crm.\"People\".email", "public").expect("ok");
        assert_eq!(
            (r.schema.as_str(), r.name.as_str(), c.as_str()),
            ("crm", "People", "email")
        );
        assert!(column_of(NAME, "email", "public").is_err());
        assert!(check_tag("pii").is_ok());
        assert!(check_tag("quasi_identifier").is_ok());
        assert!(check_tag("PII").is_err());
        assert!(check_tag("").is_err());
        assert!(check_tag("a b").is_err());
    }
}
