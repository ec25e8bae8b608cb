//! The statements the front end runs itself, without a DataFusion plan:
//! settings, transaction blocks, COPY, and DDL against the persistent
//! catalog.
//!
//! [`Command::of`] is the one place that says which statements these are.
//! Its variants are what `QueryHandler::command` runs, and what the rest of
//! the front end asks of a statement (is it a command, does it alter data,
//! does a failed transaction block accept it) are methods of the variant, so
//! the answers cannot drift apart. Every statement DataFusion would plan into
//! a session or transaction statement (`SET`, `RESET`, `BEGIN`, `COMMIT`,
//! `ROLLBACK`, `DEALLOCATE`) or into catalog DDL Quarry runs itself
//! (`CREATE SCHEMA`, `DROP`) is a command, so those plans never reach
//! `QueryHandler::run_plan` (see the test
//! `statements_datafusion_plans_into_session_statements_or_catalog_ddl_are_commands`).
//!
//! | statements                                                           | module |
//! |----------------------------------------------------------------------|--------|
//! | `SET`, `RESET`, `SHOW`, `DISCARD`                                    | `set`  |
//! | `BEGIN`, `COMMIT`, `ROLLBACK`                                        | `tx`   |
//! | `CREATE SCHEMA`, `DROP`, `ALTER TABLE`, `TRUNCATE`, `CREATE INDEX`   | `ddl`  |
//! | `COPY`                                                               | `copy` |
//!
//! `DEALLOCATE` and `ANALYZE` are accepted and do nothing, so clients and
//! tools that send them keep working; `COMMENT ON` stores descriptions of
//! tables, views and columns (`ddl`).

mod copy;
mod ddl;
mod set;
mod tx;

use std::sync::Arc;

use datafusion::sql::parser::{ResetStatement, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::{
    AlterTable, CloseCursor, CommentObject, FetchDirection, Ident, ObjectName, ObjectType, Reset,
    SchemaName, SequenceOptions, Set, Statement, TruncateTableTarget,
};
use pgwire::api::results::{Response, Tag};

use super::QueryHandler;
use super::connection::Client;
use crate::error::Result;
use crate::session::{QueryControl, Session};
pub(in crate::server::query) use copy::copy_booleans_spelled_out;
pub(in crate::server::query) use copy::{CopyStatement, copy_in};
pub(in crate::server::query) use ddl::{
    comment_literals_quoted, sequence_options_in_order, vacuum_without_options,
};
pub(in crate::server::query) use set::show_name;

/// A statement the front end runs itself, borrowed from the parsed statement.
#[derive(Clone, Copy, Debug)]
pub(in crate::server::query) enum Command<'s> {
    /// `SET ...`, `SET TIME ZONE`, `SET NAMES`, ...
    Set(&'s Set),
    /// `RESET name`, or `RESET ALL` (`None`).
    Reset(Option<&'s ObjectName>),
    /// `SHOW name` or `SHOW ALL`.
    Show(&'s [Ident]),
    /// `DISCARD ...`.
    Discard,
    /// `BEGIN`, `START TRANSACTION`, with their modes (`ISOLATION LEVEL`).
    Begin(&'s [datafusion::sql::sqlparser::ast::TransactionMode]),
    /// `COMMIT`, or `ROLLBACK` of the whole block.
    End {
        rollback: bool,
    },
    /// `ROLLBACK TO SAVEPOINT`.
    RollbackToSavepoint(&'s datafusion::sql::sqlparser::ast::Ident),
    Savepoint(&'s datafusion::sql::sqlparser::ast::Ident),
    ReleaseSavepoint(&'s datafusion::sql::sqlparser::ast::Ident),
    Deallocate,
    CreateSchema {
        name: &'s SchemaName,
        if_not_exists: bool,
    },
    Drop {
        object_type: ObjectType,
        if_exists: bool,
        cascade: bool,
        names: &'s [ObjectName],
    },
    AlterTable(&'s AlterTable),
    Truncate(&'s [TruncateTableTarget]),
    CreateIndex,
    Comment {
        object_type: CommentObject,
        object_name: &'s ObjectName,
        comment: Option<&'s str>,
        if_exists: bool,
    },
    Analyze,
    Vacuum(Option<&'s ObjectName>),
    Optimize(&'s ObjectName),
    Copy(CopyStatement<'s>),
    /// `FETCH`, or `MOVE` (`moving`).
    Fetch {
        name: &'s Ident,
        direction: &'s FetchDirection,
        moving: bool,
    },
    Close(&'s CloseCursor),
    CreateSequence {
        name: &'s ObjectName,
        if_not_exists: bool,
        options: &'s [SequenceOptions],
    },
}

impl<'s> Command<'s> {
    /// The command `stmt` is; `None` when DataFusion plans it.
    pub(in crate::server::query) fn of(stmt: &'s DfStatement) -> Option<Command<'s>> {
        let stmt = match stmt {
            DfStatement::Statement(s) => s.as_ref(),
            DfStatement::Reset(ResetStatement::Variable(name)) => {
                return Some(Command::Reset(Some(name)));
            }
            _ => return None,
        };
        Some(match stmt {
            Statement::Set(set) => Command::Set(set),
            Statement::Reset(reset) => Command::Reset(match &reset.reset {
                Reset::ALL => None,
                Reset::ConfigurationParameter(name) => Some(name),
            }),
            Statement::ShowVariable { variable } => Command::Show(variable),
            Statement::Discard { .. } => Command::Discard,
            Statement::StartTransaction { modes, .. } => Command::Begin(modes),
            Statement::Commit { .. } => Command::End { rollback: false },
            Statement::Rollback {
                savepoint: None, ..
            } => Command::End { rollback: true },
            Statement::Rollback {
                savepoint: Some(name),
                ..
            } => Command::RollbackToSavepoint(name),
            Statement::Savepoint { name } => Command::Savepoint(name),
            Statement::ReleaseSavepoint { name } => Command::ReleaseSavepoint(name),
            Statement::Deallocate { .. } => Command::Deallocate,
            Statement::CreateSchema {
                schema_name,
                if_not_exists,
                ..
            } => Command::CreateSchema {
                name: schema_name,
                if_not_exists: *if_not_exists,
            },
            Statement::Drop {
                object_type,
                if_exists,
                names,
                cascade,
                ..
            } => Command::Drop {
                object_type: *object_type,
                if_exists: *if_exists,
                cascade: *cascade,
                names,
            },
            Statement::AlterTable(alter) => Command::AlterTable(alter),
            Statement::Truncate(truncate) => Command::Truncate(&truncate.table_names),
            Statement::CreateIndex(_) => Command::CreateIndex,
            Statement::Comment {
                object_type,
                object_name,
                comment,
                if_exists,
            } => Command::Comment {
                object_type: *object_type,
                object_name,
                comment: comment.as_deref(),
                if_exists: *if_exists,
            },
            Statement::Analyze(_) => Command::Analyze,
            Statement::Vacuum(v) => Command::Vacuum(v.table_name.as_ref()),
            Statement::OptimizeTable { name, .. } => Command::Optimize(name),
            Statement::Fetch {
                name,
                direction,
                into,
                ..
            } => Command::Fetch {
                name,
                direction,
                moving: crate::server::query::cursor::is_move(into.as_ref()),
            },
            Statement::Close { cursor } => Command::Close(cursor),
            Statement::CreateSequence {
                name,
                if_not_exists,
                sequence_options,
                ..
            } => Command::CreateSequence {
                name,
                if_not_exists: *if_not_exists,
                options: sequence_options,
            },
            Statement::Copy {
                source,
                to,
                target,
                options,
                legacy_options,
                ..
            } => Command::Copy(CopyStatement {
                source,
                to: *to,
                target,
                options,
                legacy_options,
            }),
            _ => return None,
        })
    }

    /// Whether it changes tables, schemas or the catalog: plans made before
    /// it may be stale.
    pub(in crate::server::query) fn alters_data(&self) -> bool {
        matches!(
            self,
            Command::Copy(_)
                | Command::AlterTable(_)
                | Command::Truncate(_)
                | Command::Drop { .. }
                | Command::CreateSchema { .. }
                | Command::CreateIndex
                | Command::Comment { .. }
                | Command::CreateSequence { .. }
                | Command::Optimize(_)
        )
    }

    /// Whether it reads or writes data: the first such statement of a
    /// REPEATABLE READ block takes its snapshot. Settings, transaction
    /// control and `DEALLOCATE` do not, as in PostgreSQL.
    pub(in crate::server::query) fn reads_data(&self) -> bool {
        !matches!(
            self,
            Command::Set(_)
                | Command::Reset(_)
                | Command::Show(_)
                | Command::Discard
                | Command::Begin(_)
                | Command::End { .. }
                | Command::RollbackToSavepoint(_)
                | Command::Savepoint(_)
                | Command::ReleaseSavepoint(_)
                | Command::Deallocate
        )
    }

    /// Whether a failed transaction block accepts it: only what ends the
    /// block (or rolls back to a savepoint in it), as in PostgreSQL.
    pub(in crate::server::query) fn accepted_in_failed_transaction(&self) -> bool {
        matches!(self, Command::End { .. } | Command::RollbackToSavepoint(_))
    }
}

/// A savepoint's name as PostgreSQL folds it.
fn identifier(name: &datafusion::sql::sqlparser::ast::Ident) -> String {
    if name.quote_style.is_some() {
        name.value.clone()
    } else {
        name.value.to_lowercase()
    }
}

/// The reply of a command that reports only its tag.
fn done(tag: &str) -> Result<Response> {
    Ok(Response::Execution(Tag::new(tag)))
}

impl QueryHandler {
    /// Runs `command`. Notices and ParameterStatus messages are fed to
    /// `client` before the response.
    pub(super) async fn command<C: Client>(
        &self,
        client: &mut C,
        session: &Arc<Session>,
        command: Command<'_>,
        format: &pgwire::api::portal::Format,
        control: &QueryControl,
    ) -> Result<Response> {
        let catalog = &self.state.catalog;
        match command {
            Command::Set(statement) => set::set(client, session, statement).await,
            Command::Reset(name) => set::reset(client, session, name).await,
            Command::Show(variable) => set::show(session, variable),
            Command::Discard => set::discard(session),
            Command::Begin(modes) => tx::begin(client, session, modes).await,
            Command::End { rollback } => tx::end(client, session, rollback, catalog).await,
            Command::RollbackToSavepoint(name) => {
                session.block.roll_back_to(&identifier(name))?;
                session.roll_back_local(Some(&identifier(name))).await;
                // Plans made with relations the savepoint undid go too.
                session.relations_changed();
                catalog.store().advance();
                // A failed block is usable again (`query::recovering`).
                done("ROLLBACK")
            }
            Command::Savepoint(name) => {
                session.block.savepoint(&identifier(name))?;
                session.keep_local_point(Some(&identifier(name))).await;
                done("SAVEPOINT")
            }
            Command::ReleaseSavepoint(name) => {
                session.block.release(&identifier(name))?;
                session.release_local(Some(&identifier(name)));
                done("RELEASE")
            }
            Command::Deallocate => done("DEALLOCATE"),
            Command::CreateSchema {
                name,
                if_not_exists,
            } => ddl::create_schema(catalog, session, name, if_not_exists).await,
            Command::Drop {
                object_type,
                if_exists,
                cascade,
                names,
            } => ddl::drop(catalog, session, object_type, if_exists, cascade, names).await,
            Command::AlterTable(alter) => ddl::alter_table(client, catalog, session, alter).await,
            Command::Truncate(targets) => ddl::truncate(catalog, session, targets).await,
            Command::CreateIndex => ddl::create_index(client).await,
            Command::Comment {
                object_type,
                object_name,
                comment,
                if_exists,
            } => {
                ddl::comment(
                    client,
                    catalog,
                    session,
                    object_type,
                    object_name,
                    comment,
                    if_exists,
                )
                .await
            }
            Command::Analyze => done("ANALYZE"),
            Command::Vacuum(name) => ddl::vacuum(catalog, session, name).await,
            Command::Optimize(name) => ddl::optimize(client, catalog, session, name).await,
            Command::Copy(copy) => self.copy(client, session, copy, control).await,
            Command::Fetch {
                name,
                direction,
                moving,
            } => {
                super::cursor::fetch(client, session, name, direction, moving, format, control)
                    .await
            }
            Command::Close(cursor) => super::cursor::close(session, cursor),
            Command::CreateSequence {
                name,
                if_not_exists,
                options,
            } => ddl::create_sequence(client, catalog, session, name, if_not_exists, options).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use datafusion::logical_expr::{DdlStatement, LogicalPlan, Statement as PlanStatement};
    use datafusion::prelude::SessionContext;
    use datafusion::sql::parser::DFParserBuilder;

    use super::*;
    use crate::server::query::prepared::{COMPAT, parse_sql};

    /// The one statement of `sql`, parsed as the front end parses it.
    fn parsed(sql: &str) -> DfStatement {
        let mut statements =
            parse_sql(&COMPAT, sql).unwrap_or_else(|e| panic!("{sql}: {}", e.message));
        assert_eq!(statements.len(), 1, "{sql}");
        statements.remove(0)
    }

    /// `Command::of` for `sql`, as its variant's name and what execution
    /// asks of it: (variant, alters data, accepted in a failed block).
    fn classified(sql: &str) -> Option<(String, bool, bool)> {
        let stmt = parsed(sql);
        Command::of(&stmt).map(|c| {
            let debug = format!("{c:?}");
            let variant = debug
                .split(|ch: char| !ch.is_alphanumeric())
                .next()
                .unwrap_or_default()
                .to_string();
            (variant, c.alters_data(), c.accepted_in_failed_transaction())
        })
    }

    #[test]
    fn classifies_each_command_and_what_it_does() {
        let cases = [
            // statement, variant, alters data, accepted in a failed block
            ("SET search_path = public", "Set", false, false),
            ("SET TIME ZONE 'UTC'", "Set", false, false),
            (
                "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
                "Set",
                false,
                false,
            ),
            ("RESET search_path", "Reset", false, false),
            ("RESET ALL", "Reset", false, false),
            ("SHOW search_path", "Show", false, false),
            ("SHOW ALL", "Show", false, false),
            ("DISCARD ALL", "Discard", false, false),
            ("BEGIN", "Begin", false, false),
            (
                "START TRANSACTION ISOLATION LEVEL SERIALIZABLE",
                "Begin",
                false,
                false,
            ),
            ("COMMIT", "End", false, true),
            ("END", "End", false, true),
            ("ROLLBACK", "End", false, true),
            (
                "ROLLBACK TO SAVEPOINT s",
                "RollbackToSavepoint",
                false,
                true,
            ),
            ("SAVEPOINT s", "Savepoint", false, false),
            ("RELEASE SAVEPOINT s", "ReleaseSavepoint", false, false),
            ("DEALLOCATE p", "Deallocate", false, false),
            ("DEALLOCATE ALL", "Deallocate", false, false),
            ("CREATE SCHEMA s", "CreateSchema", true, false),
            ("DROP TABLE t", "Drop", true, false),
            ("DROP VIEW v", "Drop", true, false),
            ("DROP SCHEMA s CASCADE", "Drop", true, false),
            ("DROP INDEX IF EXISTS i", "Drop", true, false),
            ("ALTER TABLE t RENAME TO u", "AlterTable", true, false),
            ("TRUNCATE t", "Truncate", true, false),
            ("CREATE INDEX i ON t (a)", "CreateIndex", true, false),
            ("COMMENT ON TABLE t IS 'x'", "Comment", true, false),
            ("ANALYZE t", "Analyze", false, false),
            ("VACUUM", "Vacuum", false, false),
            ("COPY t FROM STDIN", "Copy", true, false),
            (
                "COPY t (a, b) TO STDOUT WITH (FORMAT csv)",
                "Copy",
                true,
                false,
            ),
            ("COPY t TO '/tmp/t.csv'", "Copy", true, false),
        ];
        for (sql, variant, alters, in_failed) in cases {
            assert_eq!(
                classified(sql),
                Some((variant.to_string(), alters, in_failed)),
                "{sql}"
            );
        }
    }

    #[test]
    fn sequence_options_are_put_in_the_order_sqlparser_reads() {
        assert_eq!(
            sequence_options_in_order("CREATE SEQUENCE s START WITH 10 INCREMENT BY 5").as_deref(),
            Some("CREATE SEQUENCE s INCREMENT BY 5 START WITH 10")
        );
        // As pg_dump writes it.
        let dumped = "CREATE SEQUENCE public.t_id_seq AS integer START WITH 1 INCREMENT BY 1 \
                      NO MINVALUE NO MAXVALUE CACHE 1;";
        let ordered = sequence_options_in_order(dumped).expect("a sequence");
        assert_eq!(
            ordered,
            "CREATE SEQUENCE public.t_id_seq AS integer INCREMENT BY 1 NO MINVALUE NO MAXVALUE \
             START WITH 1 CACHE 1;"
        );
        assert!(parsed(&ordered).to_string().contains("START WITH 1"));
        assert_eq!(sequence_options_in_order("SELECT 1"), None);
    }

    #[test]
    fn leaves_everything_else_to_datafusion() {
        for sql in [
            "SELECT 1",
            "SELECT * FROM t WHERE a = $1",
            "INSERT INTO t VALUES (1)",
            "UPDATE t SET a = 2",
            "DELETE FROM t",
            "CREATE TABLE t (a int)",
            "CREATE TABLE t AS SELECT 1 AS a",
            "CREATE VIEW v AS SELECT 1 AS a",
            "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION 'x.csv'",
            "CREATE DATABASE d",
            "COPY t TO 'out.parquet' STORED AS PARQUET",
            "EXPLAIN SELECT 1",
            "PREPARE p AS SELECT 1",
            "EXECUTE p",
            "SHOW TABLES",
        ] {
            assert_eq!(classified(sql), None, "{sql}");
        }
    }

    #[test]
    fn a_copy_from_stdin_is_told_from_other_copies() {
        for (sql, from_stdin) in [
            ("COPY t FROM STDIN", true),
            ("COPY t (a) FROM STDIN WITH (FORMAT csv)", true),
            ("COPY t FROM '/tmp/t.csv'", false),
            ("COPY t TO STDOUT", false),
        ] {
            let stmt = parsed(sql);
            let Some(Command::Copy(copy)) = Command::of(&stmt) else {
                panic!("{sql} is not a COPY command");
            };
            assert_eq!(copy.is_from_stdin(), from_stdin, "{sql}");
        }
    }

    /// `run_plan` has no arms for the plans DataFusion makes of session and
    /// transaction statements (SetVariable, ResetVariable, TransactionStart,
    /// TransactionEnd, Deallocate) or of the DDL the front end runs itself
    /// (CreateCatalogSchema, DropTable, DropView): DataFusion's planner makes
    /// them only from `SET`, `RESET`, `BEGIN`/`START TRANSACTION`, `COMMIT`,
    /// `ROLLBACK`, `DEALLOCATE`, `CREATE SCHEMA` and `DROP` (datafusion-sql
    /// `statement.rs`), and each of those is a command, so it is never
    /// planned. This plans each such statement with DataFusion, checks that
    /// it gives one of those plans, and that the front end takes it as a
    /// command; every such plan is met.
    #[tokio::test]
    async fn statements_datafusion_plans_into_session_statements_or_catalog_ddl_are_commands() {
        let state = SessionContext::new().state();
        let mut statements: Vec<(String, DfStatement)> = [
            "SET datafusion.execution.batch_size = 100",
            "SET TIME ZONE 'UTC'",
            "BEGIN",
            "START TRANSACTION READ ONLY",
            "COMMIT",
            "ROLLBACK",
            "DEALLOCATE p",
            "CREATE SCHEMA s",
            "DROP TABLE t",
            "DROP VIEW v",
        ]
        .into_iter()
        .map(|sql| (sql.to_string(), parsed(sql)))
        .collect();
        // PostgreSQL syntax reads RESET as sqlparser's Reset, which DataFusion
        // does not plan; DataFusion's own parser reads it as its Reset, which
        // it plans as ResetVariable. Either is a command.
        let reset = "RESET datafusion.execution.batch_size";
        let mut df_reset = DFParserBuilder::new(reset)
            .build()
            .and_then(|mut p| p.parse_statements())
            .expect("DataFusion parses RESET");
        let df_reset = df_reset.pop_front().expect("one statement");
        statements.push((reset.to_string(), df_reset));
        statements.push((reset.to_string(), parsed(reset)));

        let mut met = std::collections::BTreeSet::new();
        for (sql, stmt) in statements {
            assert!(Command::of(&stmt).is_some(), "{sql} must be a command");
            let Ok(plan) = state.statement_to_plan(stmt).await else {
                continue;
            };
            let kind = match plan {
                LogicalPlan::Statement(PlanStatement::SetVariable(_)) => "SetVariable",
                LogicalPlan::Statement(PlanStatement::ResetVariable(_)) => "ResetVariable",
                LogicalPlan::Statement(PlanStatement::TransactionStart(_)) => "TransactionStart",
                LogicalPlan::Statement(PlanStatement::TransactionEnd(_)) => "TransactionEnd",
                LogicalPlan::Statement(PlanStatement::Deallocate(_)) => "Deallocate",
                LogicalPlan::Ddl(DdlStatement::CreateCatalogSchema(_)) => "CreateCatalogSchema",
                LogicalPlan::Ddl(DdlStatement::DropTable(_)) => "DropTable",
                LogicalPlan::Ddl(DdlStatement::DropView(_)) => "DropView",
                other => panic!("{sql}: unexpected plan {other}"),
            };
            met.insert(kind);
        }
        assert_eq!(
            met.into_iter().collect::<Vec<_>>(),
            [
                "CreateCatalogSchema",
                "Deallocate",
                "DropTable",
                "DropView",
                "ResetVariable",
                "SetVariable",
                "TransactionEnd",
                "TransactionStart",
            ]
        );
    }
}
