//! Errors that carry a SQLSTATE from a function to the client.
//!
//! A function in this crate reports a user mistake by returning
//! `DataFusionError::External(Box<SqlStateError>)`; the server unwraps it (through
//! any `Context`/`Shared` layers DataFusion adds) and sends the SQLSTATE, message and
//! hint as they are. Keeping the type here, not in the server, lets cluster workers
//! that register the same functions report the same codes.
//!
//! | code  | meaning                                  |
//! |-------|------------------------------------------|
//! | 22023 | bad argument value (planning)            |
//! | 22000 | bad data (execution)                     |
//! | 42704 | unknown model or object                  |
//! | 42501 | no privilege                             |
//! | 0A000 | not supported                            |
//! | XX000 | internal error: a bug in Quarry          |
//!
//! Messages follow one form, fixed by the constructors: lowercase, no final
//! period, the function and the argument as documented, what was expected,
//! and what was given (`ml_psi: bins must be between 2 and 1000, got 1`).
//!
//! | constructor | SQLSTATE | message |
//! |-------------|----------|---------|
//! | [`SqlStateError::arg`] | 22023 | `{function}: {argument} {expected}, got {got}` |
//! | [`SqlStateError::option`] | 22023 | `option {name} {expected}, got {got}` (`CREATE MODEL` options) |
//! | [`SqlStateError::data`] | 22000 | `{function}: {why}` |
//! | [`SqlStateError::internal`] | XX000 | `internal error: {what}` |
//!
//! A literal SQLSTATE appears only in [`sqlstate`].

use std::fmt;

use datafusion::error::DataFusionError;

/// PostgreSQL error codes used across Quarry (appendix A of the PostgreSQL manual).
pub mod sqlstate {
    pub const SYNTAX_ERROR: &str = "42601";
    pub const UNDEFINED_TABLE: &str = "42P01";
    pub const UNDEFINED_COLUMN: &str = "42703";
    pub const UNDEFINED_FUNCTION: &str = "42883";
    pub const UNDEFINED_OBJECT: &str = "42704";
    pub const DUPLICATE_TABLE: &str = "42P07";
    pub const DUPLICATE_SCHEMA: &str = "42P06";
    pub const DUPLICATE_COLUMN: &str = "42701";
    pub const AMBIGUOUS_COLUMN: &str = "42702";
    pub const INVALID_COLUMN_REFERENCE: &str = "42P10";
    pub const INVALID_SCHEMA_NAME: &str = "3F000";
    pub const DATATYPE_MISMATCH: &str = "42804";
    pub const WRONG_OBJECT_TYPE: &str = "42809";
    pub const SYNTAX_OR_ACCESS_RULE: &str = "42000";
    pub const INSUFFICIENT_PRIVILEGE: &str = "42501";
    pub const INVALID_PARAMETER_VALUE: &str = "22023";
    pub const DATA_EXCEPTION: &str = "22000";
    pub const DIVISION_BY_ZERO: &str = "22012";
    pub const DATETIME_FIELD_OVERFLOW: &str = "22008";
    pub const NUMERIC_VALUE_OUT_OF_RANGE: &str = "22003";
    pub const BAD_COPY_FILE_FORMAT: &str = "22P04";
    pub const INVALID_BINARY_REPRESENTATION: &str = "22P03";
    pub const INVALID_TEXT_REPRESENTATION: &str = "22P02";
    pub const NOT_NULL_VIOLATION: &str = "23502";
    pub const FEATURE_NOT_SUPPORTED: &str = "0A000";
    pub const QUERY_CANCELED: &str = "57014";
    pub const ADMIN_SHUTDOWN: &str = "57P01";
    pub const OUT_OF_MEMORY: &str = "53200";
    pub const TOO_MANY_CONNECTIONS: &str = "53300";
    pub const DISK_FULL: &str = "53100";
    pub const STATEMENT_TOO_COMPLEX: &str = "54001";
    pub const PROGRAM_LIMIT_EXCEEDED: &str = "54000";
    pub const IO_ERROR: &str = "58030";
    pub const INVALID_PASSWORD: &str = "28P01";
    pub const INVALID_AUTHORIZATION: &str = "28000";
    pub const PROTOCOL_VIOLATION: &str = "08P01";
    pub const IN_FAILED_TRANSACTION: &str = "25P02";
    pub const OBJECT_NOT_IN_PREREQUISITE_STATE: &str = "55000";
    pub const OBJECT_IN_USE: &str = "55006";
    pub const UNDEFINED_PARAMETER: &str = "42704";
    pub const CANT_CHANGE_RUNTIME_PARAM: &str = "55P02";
    pub const DEPENDENT_OBJECTS_STILL_EXIST: &str = "2BP01";
    pub const SERIALIZATION_FAILURE: &str = "40001";
    pub const CARDINALITY_VIOLATION: &str = "21000";
    pub const ARRAY_SUBSCRIPT_ERROR: &str = "2202E";
    pub const CHARACTER_NOT_IN_REPERTOIRE: &str = "22021";
    pub const NULL_VALUE_NOT_ALLOWED: &str = "22004";
    pub const INVALID_SQL_STATEMENT_NAME: &str = "26000";
    pub const INVALID_CURSOR_NAME: &str = "34000";
    pub const DUPLICATE_CURSOR: &str = "42P03";
    pub const INVALID_CURSOR_STATE: &str = "24000";
    pub const NAME_TOO_LONG: &str = "42622";
    pub const DUPLICATE_OBJECT: &str = "42710";
    pub const RESERVED_NAME: &str = "42939";
    pub const INVALID_GRANT_OPERATION: &str = "0LP01";
    pub const INVALID_GRANTOR: &str = "0L000";
    pub const ACTIVE_SQL_TRANSACTION: &str = "25001";
    pub const NO_ACTIVE_SQL_TRANSACTION: &str = "25P01";
    pub const INVALID_SAVEPOINT_SPECIFICATION: &str = "3B001";
    pub const INVALID_TRANSACTION_STATE: &str = "25000";
    /// Of notices, not errors: a warning, and a plain notice.
    pub const WARNING: &str = "01000";
    pub const SUCCESSFUL_COMPLETION: &str = "00000";
    pub const INTERNAL_ERROR: &str = "XX000";
    pub const DATA_CORRUPTED: &str = "XX001";
}

/// A user-facing error: SQLSTATE, message, and an optional hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlStateError {
    pub code: &'static str,
    pub message: String,
    pub hint: Option<String>,
    pub detail: Option<String>,
    /// Where in the statement's text the error is: (line, column), both
    /// from 1. The server turns it into PostgreSQL's POSITION, which psql
    /// shows as a caret under the statement.
    pub location: Option<(u64, u64)>,
}

impl SqlStateError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            hint: None,
            detail: None,
            location: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Marks where in the statement the error is (line and column, from 1);
    /// a zero line, as spans of rewritten SQL have, marks nothing.
    pub fn with_location(mut self, line: u64, column: u64) -> Self {
        if line > 0 && column > 0 {
            self.location = Some((line, column));
        }
        self
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// A bad argument value (22023):
    /// `{function}: {argument} {expected}, got {got}`.
    pub fn arg(
        function: &str,
        argument: &str,
        expected: impl fmt::Display,
        got: impl fmt::Display,
    ) -> Self {
        Self::bad_argument(format!("{function}: {argument} {expected}, got {got}"))
    }

    /// A bad `CREATE MODEL` option (22023): `option {name} {expected}, got {got}`.
    pub fn option(name: &str, expected: impl fmt::Display, got: impl fmt::Display) -> Self {
        Self::bad_argument(format!("option {name} {expected}, got {got}"))
    }

    /// Data a function cannot process (22000): `{function}: {why}`.
    pub fn data(function: &str, why: impl fmt::Display) -> Self {
        Self::bad_data(format!("{function}: {why}"))
    }

    /// A bug in Quarry, never the user's mistake (XX000): `internal error: {what}`.
    pub fn internal(what: impl fmt::Display) -> Self {
        Self::new(sqlstate::INTERNAL_ERROR, format!("internal error: {what}"))
    }

    /// A bad literal argument, found while planning (22023), in words the
    /// caller chose; prefer [`SqlStateError::arg`] where the message has its form.
    pub fn bad_argument(message: impl Into<String>) -> Self {
        Self::new(sqlstate::INVALID_PARAMETER_VALUE, message)
    }

    /// Data that cannot be processed, found while executing (22000).
    pub fn bad_data(message: impl Into<String>) -> Self {
        Self::new(sqlstate::DATA_EXCEPTION, message)
    }

    /// A feature Quarry does not offer (0A000).
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(sqlstate::FEATURE_NOT_SUPPORTED, message)
    }

    /// Wraps this error so it can travel through DataFusion.
    pub fn into_df(self) -> DataFusionError {
        DataFusionError::External(Box::new(self))
    }
}

impl fmt::Display for SqlStateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SqlStateError {}

impl From<SqlStateError> for DataFusionError {
    fn from(e: SqlStateError) -> Self {
        e.into_df()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_fix_the_message_form() {
        let e = SqlStateError::arg("ml_psi", "bins", "must be between 2 and 1000", 1);
        assert_eq!(
            (e.code, e.message.as_str()),
            ("22023", "ml_psi: bins must be between 2 and 1000, got 1")
        );
        let e = SqlStateError::option("l2", "must be at least 0", -1);
        assert_eq!(e.message, "option l2 must be at least 0, got -1");
        let e = SqlStateError::data("ml_validate", "rule is not boolean");
        assert_eq!(
            (e.code, e.message.as_str()),
            ("22000", "ml_validate: rule is not boolean")
        );
        let e = SqlStateError::internal("no plan");
        assert_eq!(
            (e.code, e.message.as_str()),
            ("XX000", "internal error: no plan")
        );
    }
}
