//! The one place where errors become SQLSTATE + message + hint.
//!
//! Every error a client sees goes through [`classify`]: DataFusion errors are
//! mapped by variant (and, where DataFusion has only a message, by its wording),
//! Quarry's own errors carry their code in [`SqlStateError`]. `XX000` is kept for
//! genuine bugs, so a client seeing it has found one.
//!
//! | error                                      | SQLSTATE |
//! |--------------------------------------------|----------|
//! | SQL that does not parse                    | 42601    |
//! | unknown table or view                      | 42P01    |
//! | unknown column                             | 42703    |
//! | unknown function / no matching signature   | 42883    |
//! | type mismatch                              | 42804    |
//! | bad argument or setting value              | 22023    |
//! | bad data (casts, parse errors, COPY rows)  | 22000    |
//! | division by zero                           | 22012    |
//! | not supported                              | 0A000    |
//! | cancelled or timed out                     | 57014    |
//! | memory limit reached                       | 53200    |
//! | I/O failure                                | 58030    |
//! | internal error (a bug)                     | XX000    |

use datafusion::arrow::error::ArrowError;
use datafusion::common::{Diagnostic, SchemaError};
use datafusion::error::DataFusionError;
use pgwire::error::{ErrorInfo, PgWireError};
pub use quarry_udfs::error::{SqlStateError, sqlstate};

/// Result type for server code.
pub type Result<T, E = SqlStateError> = std::result::Result<T, E>;

/// Maps any DataFusion error to the error the client sees.
pub fn classify(err: &DataFusionError) -> SqlStateError {
    use sqlstate::*;
    if let Some(e) = invalid_regex(err) {
        return e;
    }
    match err {
        DataFusionError::External(inner) => classify_external(inner.as_ref()),
        DataFusionError::Context(_, inner) => classify(inner),
        DataFusionError::Diagnostic(diagnostic, inner) => {
            with_diagnostic(classify(inner), diagnostic)
        }
        DataFusionError::Shared(inner) => classify(inner),
        DataFusionError::Collection(errs) => match errs.first() {
            Some(first) => classify(first),
            None => SqlStateError::internal("empty error collection"),
        },
        DataFusionError::SQL(e, _) => syntax_error(&e.to_string()),
        DataFusionError::SchemaError(e, _) => classify_schema(e),
        DataFusionError::Plan(msg) => classify_plan(msg),
        DataFusionError::NotImplemented(msg) => {
            // sqlparser reads any run of operator characters (`>>>`, `=~~`)
            // as a custom operator; PostgreSQL: no such operator, 42883.
            const CUSTOM: &str = "binary operator: Custom(\"";
            if let Some(at) = msg.find(CUSTOM)
                && let rest = &msg[at + CUSTOM.len()..]
                && let Some(end) = rest.find('"')
            {
                let op = &rest[..end];
                return SqlStateError::new(
                    UNDEFINED_FUNCTION,
                    format!("operator does not exist: {op}"),
                );
            }
            SqlStateError::unsupported(format!("not supported: {}", lower_first(msg)))
        }
        DataFusionError::Configuration(msg) => SqlStateError::bad_argument(lower_first(msg)),
        DataFusionError::ArrowError(e, _) => classify_arrow(e),
        DataFusionError::Execution(msg) => classify_execution(msg),
        DataFusionError::ResourcesExhausted(msg) => SqlStateError::new(
            OUT_OF_MEMORY,
            format!("out of memory: {}", lower_first(msg)),
        )
        .with_hint("raise --memory-limit, or reduce the data the query holds at once"),
        DataFusionError::IoError(e) => io_error("i/o error", e),
        DataFusionError::ObjectStore(e) => {
            SqlStateError::new(IO_ERROR, format!("storage error: {e}"))
        }
        DataFusionError::ParquetError(e) => {
            SqlStateError::new(DATA_EXCEPTION, format!("parquet error: {e}"))
        }
        DataFusionError::ExecutionJoin(e) => SqlStateError::internal(format!("task failed: {e}")),
        // Aggregates of a type they have no signature for (sqlsmith's
        // `avg(<interval>)`) arrive as internal errors; they are calls
        // matching no function, 42883.
        DataFusionError::Internal(msg) if msg.contains("failed to match any signature") => {
            no_matching_signature(msg)
                .unwrap_or_else(|| SqlStateError::new(UNDEFINED_FUNCTION, first_line(msg)))
        }
        DataFusionError::Internal(msg) => SqlStateError::internal(msg),
        other => SqlStateError::internal(other),
    }
}

/// A pattern the `regex` crate could not compile, wherever the error came
/// from (arrow's kernels, DataFusion's functions, an internal error): as
/// PostgreSQL, `2201B` with what is wrong (`unclosed group`).
fn invalid_regex(err: &DataFusionError) -> Option<SqlStateError> {
    let text = err.to_string();
    if !text.contains("regex parse error") {
        return None;
    }
    let what = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .map(|l| l.trim_end_matches('.'))
        .unwrap_or("the pattern does not parse");
    Some(SqlStateError::new(
        "2201B",
        format!("invalid regular expression: {what}"),
    ))
}

/// What DataFusion's planner says about where an error is and what to do:
/// the span becomes the error's location (POSITION on the wire) unless the
/// error has one, the first help its hint.
fn with_diagnostic(mut e: SqlStateError, d: &Diagnostic) -> SqlStateError {
    if e.location.is_none()
        && let Some(span) = d.span
    {
        e = e.with_location(span.start.line, span.start.column);
    }
    // DataFusion's help is specific ("did you mean ..."); it wins over a
    // hint chosen from the message's wording.
    if let Some(help) = d.helps.first() {
        e.hint = Some(lower_first(&help.message));
    }
    e
}

/// A parser error (sqlparser's text, which ends with where it stopped:
/// `... at Line: 1, Column: 8`) as 42601 with that location.
pub fn syntax_error(parser_message: &str) -> SqlStateError {
    let text = parser_message
        .strip_prefix("sql parser error: ")
        .unwrap_or(parser_message);
    let e = SqlStateError::new(sqlstate::SYNTAX_ERROR, format!("syntax error: {text}"));
    let number = |s: &str| -> Option<u64> {
        let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    };
    let location = text.rsplit_once(" at Line: ").and_then(|(_, at)| {
        let (line, column) = at.split_once(", Column: ")?;
        Some((number(line)?, number(column)?))
    });
    match location {
        Some((line, column)) => e.with_location(line, column),
        None => e,
    }
}

/// PostgreSQL's POSITION of a (line, column) location in `sql`: the index of
/// its character, from 1. `None` when `sql` has no such place.
fn position(sql: &str, (line, column): (u64, u64)) -> Option<usize> {
    let line = usize::try_from(line).ok()?.checked_sub(1)?;
    let column = usize::try_from(column).ok()?.checked_sub(1)?;
    let mut before = 0;
    for (i, text) in sql.split('\n').enumerate() {
        if i == line {
            return (column <= text.chars().count()).then_some(before + column + 1);
        }
        before += text.chars().count() + 1;
    }
    None
}

fn classify_external(inner: &(dyn std::error::Error + Send + Sync + 'static)) -> SqlStateError {
    if let Some(e) = inner.downcast_ref::<SqlStateError>() {
        return e.clone();
    }
    if let Some(e) = inner.downcast_ref::<DataFusionError>() {
        return classify(e);
    }
    if let Some(e) = inner.downcast_ref::<ArrowError>() {
        return classify_arrow(e);
    }
    if let Some(e) = inner.downcast_ref::<std::io::Error>() {
        return io_error("i/o error", e);
    }
    SqlStateError::internal(inner)
}

fn classify_schema(e: &SchemaError) -> SqlStateError {
    use sqlstate::*;
    match e {
        SchemaError::FieldNotFound {
            field,
            valid_fields,
        } => {
            let mut err = SqlStateError::new(
                UNDEFINED_COLUMN,
                format!("column \"{}\" does not exist", field.name),
            );
            if !valid_fields.is_empty() {
                let names: Vec<String> = valid_fields
                    .iter()
                    .take(20)
                    .map(|c| c.name.clone())
                    .collect();
                err = err.with_hint(format!("available columns: {}", names.join(", ")));
            }
            err
        }
        SchemaError::AmbiguousReference { field } => SqlStateError::new(
            AMBIGUOUS_COLUMN,
            format!("column reference \"{}\" is ambiguous", field.name),
        )
        .with_hint("qualify the column with its table name or alias"),
        SchemaError::DuplicateQualifiedField { .. }
        | SchemaError::DuplicateUnqualifiedField { .. } => {
            SqlStateError::new(DUPLICATE_COLUMN, lower_first(&e.to_string()))
                .with_hint("give each output column a distinct name with AS")
        }
    }
}

fn classify_plan(msg: &str) -> SqlStateError {
    use sqlstate::*;
    let lower = msg.to_ascii_lowercase();
    if lower.contains("step cannot be zero") {
        // generate_series / range with step 0.
        return SqlStateError::new(INVALID_PARAMETER_VALUE, "step size cannot equal zero");
    }
    // `GROUP BY 2` / `ORDER BY 2` past the select list (Tableau's
    // connect-time probe reads this refusal): PostgreSQL's 42P10.
    if let Some(rest) = msg.strip_prefix("Cannot find column with position ")
        && let Some(position) = rest.split_whitespace().next()
    {
        return SqlStateError::new(
            INVALID_COLUMN_REFERENCE,
            format!("position {position} is not in select list"),
        );
    }
    if let Some(name) = table_not_found(msg) {
        return SqlStateError::new(
            UNDEFINED_TABLE,
            format!("relation \"{name}\" does not exist"),
        );
    }
    if let Some(e) = no_matching_signature(msg) {
        return e;
    }
    if lower.contains("invalid function")
        || lower.contains("unknown function")
        || lower.contains("there is no function")
        || lower.contains("no function matches")
        || lower.contains("function") && lower.contains("not found")
    {
        return SqlStateError::new(UNDEFINED_FUNCTION, first_line(msg))
            .with_hint("SELECT routine_name FROM information_schema.routines lists the functions");
    }
    if lower.contains("failed to coerce arguments")
        || lower.contains("does not support zero arguments")
        || lower.contains("function '") && lower.contains("expects")
    {
        return SqlStateError::new(UNDEFINED_FUNCTION, first_line(msg));
    }
    if lower.contains("cannot infer common")
        || lower.contains("cannot coerce")
        || lower.contains("coercion")
        || lower.contains("type mismatch")
        || lower.contains("incompatible")
        || lower.contains("cannot be cast")
        || lower.contains("cannot cast")
        || lower.contains("unsupported cast")
        || lower.contains("expected type")
        || lower.contains("inserting query schema mismatch")
        || lower.contains("inserting query must have the same schema")
    {
        return SqlStateError::new(DATATYPE_MISMATCH, first_line(msg));
    }
    if lower.contains("already exists") {
        return SqlStateError::new(DUPLICATE_TABLE, first_line(msg));
    }
    if lower.contains("schema") && lower.contains("not found")
        || lower.contains("schema") && lower.contains("does not exist")
    {
        return SqlStateError::new(INVALID_SCHEMA_NAME, first_line(msg));
    }
    if lower.contains("unsupported") || lower.contains("not supported") {
        return SqlStateError::unsupported(first_line(msg));
    }
    SqlStateError::new(SYNTAX_OR_ACCESS_RULE, first_line(msg))
}

fn classify_execution(msg: &str) -> SqlStateError {
    let lower = msg.to_ascii_lowercase();
    if lower.contains("divide by zero") || lower.contains("division by zero") {
        return SqlStateError::new(sqlstate::DIVISION_BY_ZERO, "division by zero");
    }
    if lower.contains("non-nullable")
        || lower.contains("invalid batch column at") && lower.contains("null")
    {
        return SqlStateError::new(sqlstate::NOT_NULL_VIOLATION, first_line(msg));
    }
    if let Some(name) = table_not_found(msg) {
        return SqlStateError::new(
            sqlstate::UNDEFINED_TABLE,
            format!("relation \"{name}\" does not exist"),
        );
    }
    SqlStateError::bad_data(first_line(msg))
}

/// Text that does not convert to `type_name`, as PostgreSQL reports it: a
/// number too large for an integer type is `22003 value "..." is out of
/// range for type ...`, anything else `22P02 invalid input syntax`. Shared
/// by casts and `COPY FROM`.
pub fn bad_input(type_name: &str, text: &str, integer: bool) -> SqlStateError {
    if integer && text.trim().parse::<f64>().is_ok() {
        return SqlStateError::new(
            sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
            format!("value \"{text}\" is out of range for type {type_name}"),
        );
    }
    SqlStateError::new(
        sqlstate::INVALID_TEXT_REPRESENTATION,
        format!("invalid input syntax for type {type_name}: \"{text}\""),
    )
}

/// A call that matches none of a function's signatures, as PostgreSQL
/// reports it: `42883 function ml_deploy(bigint) does not exist`, with how
/// the function is called as the hint (`crate::usage`). DataFusion's text:
/// "failed to coerce arguments to satisfy a call to 'ml_deploy' function:
/// ... No function matches the given name and argument types
/// 'ml_deploy(Int64)'. ...", or "Function 'f' expects N arguments but
/// received M", or "'f' does not support zero arguments".
fn no_matching_signature(msg: &str) -> Option<SqlStateError> {
    let quoted = |after: &str| -> Option<&str> {
        let rest = &msg[msg.find(after)? + after.len()..];
        Some(&rest[..rest.find('\'')?])
    };
    let lower = msg.to_ascii_lowercase();
    let name = if lower.contains("failed to coerce arguments") {
        quoted("a call to '")?
    } else if msg.contains("does not support zero arguments") {
        quoted("'")?
    } else if msg.contains("expects") && msg.contains("arguments but received") {
        quoted("unction '")?
    } else if msg.contains("failed to match any signature") {
        // DataFusion's wording for a builtin (`date_trunc(1, 2)`) or an
        // aggregate (`avg(<interval>)`), sometimes as an "Internal error".
        quoted("unction '")?
    } else {
        return None;
    };
    let types = quoted("argument types '")
        .and_then(|call| call.strip_prefix(name))
        .and_then(|call| call.strip_prefix('('))
        .and_then(|call| call.strip_suffix(')'))
        .map(crate::usage::pg_argument_types);
    let message = match types {
        Some(types) => format!("function {name}({types}) does not exist"),
        None => format!("function {name} was called with the wrong arguments"),
    };
    let hint = match crate::usage::of(name) {
        Some(usage) => format!("it is called as {usage}"),
        None => "no function matches the given name and argument types; you might need to add explicit type casts".to_string(),
    };
    Some(SqlStateError::new(sqlstate::UNDEFINED_FUNCTION, message).with_hint(hint))
}

/// PostgreSQL's name for an Arrow integer type (`Int32` → `integer`).
pub fn pg_integer_name(arrow: &str) -> Option<&'static str> {
    Some(match arrow.trim() {
        "Int8" | "Int16" | "UInt8" => "smallint",
        "Int32" | "UInt16" => "integer",
        "Int64" | "UInt32" | "UInt64" => "bigint",
        _ => return None,
    })
}

/// A failed cast, as PostgreSQL reports it: a number too large for an
/// integer type is `22003 <type> out of range`, text that is not a number
/// `22P02 invalid input syntax`; anything else stays `22000`.
fn classify_cast(msg: &str) -> SqlStateError {
    // Arrow: "Can't cast value 99999999999 to type Int32".
    if let Some(rest) = msg.strip_prefix("Can't cast value ")
        && let Some((_, to)) = rest.split_once(" to type ")
        && let Some(name) = pg_integer_name(to)
    {
        return SqlStateError::new(
            sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
            format!("{name} out of range"),
        );
    }
    // Arrow, from a decimal: "value of 9223372036854775808 is out of range Int64".
    if let Some((_, to)) = msg.rsplit_once(" is out of range ")
        && let Some(name) = pg_integer_name(to)
    {
        return SqlStateError::new(
            sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
            format!("{name} out of range"),
        );
    }
    // Arrow: "Cannot cast string '99999999999' to value of Int32 type".
    if let Some(rest) = msg.strip_prefix("Cannot cast string '")
        && let Some((text, to)) = rest.rsplit_once("' to value of ")
        && let Some(name) = pg_integer_name(to.trim_end_matches(" type"))
    {
        return bad_input(name, text, true);
    }
    SqlStateError::bad_data(lower_first(msg))
}

fn classify_arrow(e: &ArrowError) -> SqlStateError {
    match e {
        ArrowError::DivideByZero => {
            SqlStateError::new(sqlstate::DIVISION_BY_ZERO, "division by zero")
        }
        ArrowError::ExternalError(inner) => classify_external(inner.as_ref()),
        ArrowError::CastError(msg) => classify_cast(msg),
        ArrowError::ParseError(msg) => SqlStateError::bad_data(lower_first(msg)),
        ArrowError::ArithmeticOverflow(msg) => SqlStateError::new(
            sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
            format!("numeric value out of range: {msg}"),
        ),
        ArrowError::MemoryError(msg) => {
            SqlStateError::new(sqlstate::OUT_OF_MEMORY, format!("out of memory: {msg}"))
        }
        ArrowError::InvalidArgumentError(msg) if msg.contains("non-nullable") => {
            SqlStateError::new(
                sqlstate::NOT_NULL_VIOLATION,
                format!("null value violates not-null constraint: {msg}"),
            )
        }
        ArrowError::IoError(msg, _) => {
            SqlStateError::new(sqlstate::IO_ERROR, format!("i/o error: {msg}"))
        }
        other => SqlStateError::bad_data(lower_first(&other.to_string())),
    }
}

/// Extracts the name from DataFusion's "table 'x' not found" wording.
fn table_not_found(msg: &str) -> Option<String> {
    let lower = msg.to_ascii_lowercase();
    let start = lower.find("table '")? + "table '".len();
    let rest = &msg[start..];
    let end = rest.find('\'')?;
    if !lower[start + end..].starts_with("' not found") {
        return None;
    }
    let full = &rest[..end];
    // DataFusion reports the resolved name (quarry.public.t); show what the user typed.
    let short = full
        .strip_prefix("quarry.public.")
        .or_else(|| full.strip_prefix("quarry."))
        .unwrap_or(full);
    Some(short.to_string())
}

fn first_line(msg: &str) -> String {
    lower_first(msg.lines().next().unwrap_or(msg).trim())
}

fn lower_first(msg: &str) -> String {
    let mut chars = msg.chars();
    match chars.next() {
        // Keep acronyms such as "SQL" or "NULL" as they are.
        Some(c) if c.is_uppercase() && !chars.next().is_some_and(char::is_uppercase) => {
            c.to_lowercase().collect::<String>() + &msg[c.len_utf8()..]
        }
        _ => msg.to_string(),
    }
}

/// The ErrorResponse fields of `e`.
pub fn error_info(e: SqlStateError) -> ErrorInfo {
    error_info_in(e, None)
}

/// The ErrorResponse fields of `e`, raised by the statement text `sql`: its
/// location becomes POSITION.
pub fn error_info_in(e: SqlStateError, sql: Option<&str>) -> ErrorInfo {
    crate::serving::metrics::QUERIES.failed(e.code);
    let position = sql.zip(e.location).and_then(|(sql, at)| position(sql, at));
    let mut info = ErrorInfo::new("ERROR".to_owned(), e.code.to_owned(), e.message);
    info.hint = e.hint;
    info.detail = e.detail;
    info.position = position.map(|p| p.to_string());
    info
}

/// Builds the wire error for `e`.
pub fn to_pgwire(e: SqlStateError) -> PgWireError {
    PgWireError::UserError(Box::new(error_info(e)))
}

/// Builds the wire error for `e`, raised by the statement text `sql`.
pub fn to_pgwire_in(e: SqlStateError, sql: &str) -> PgWireError {
    PgWireError::UserError(Box::new(error_info_in(e, Some(sql))))
}

/// A wire-level failure while answering; rare (the client went away). A
/// cancel or shutdown met while streaming keeps its code; anything else
/// pgwire reports is ours or the socket's.
pub fn from_pgwire(e: PgWireError) -> SqlStateError {
    match e {
        PgWireError::UserError(info) => {
            let code = [sqlstate::QUERY_CANCELED, sqlstate::ADMIN_SHUTDOWN]
                .into_iter()
                .find(|code| *code == info.code)
                .unwrap_or(sqlstate::INTERNAL_ERROR);
            SqlStateError::new(code, info.message)
        }
        other => SqlStateError::new(sqlstate::IO_ERROR, other.to_string()),
    }
}

/// Converts a DataFusion error straight to the wire error.
pub fn df_to_pgwire(e: &DataFusionError) -> PgWireError {
    to_pgwire(classify(e))
}

/// Shorthand for the common "wrap a DataFusion error" case.
/// An i/o failure while `context`: `53100 disk full` when the device is
/// full (however deeply the writer wrapped the OS error, its text says so),
/// else `58030`.
pub fn io_error(context: &str, e: impl std::fmt::Display) -> SqlStateError {
    let text = e.to_string();
    if text.contains("No space left on device") || text.contains("os error 28") {
        return SqlStateError::new(
            sqlstate::DISK_FULL,
            format!("could not write: {context}: {text}"),
        )
        .with_hint("free space on the disk of the data directory; nothing was committed");
    }
    SqlStateError::new(sqlstate::IO_ERROR, format!("{context}: {text}"))
}

pub trait IntoSqlError<T> {
    fn sql_err(self) -> Result<T>;
}

impl<T> IntoSqlError<T> for std::result::Result<T, DataFusionError> {
    fn sql_err(self) -> Result<T> {
        self.map_err(|e| classify(&e))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_full_disk_is_53100_however_it_is_wrapped() {
        let full = std::io::Error::from_raw_os_error(28);
        let e = io_error("write parquet", &full);
        assert_eq!(e.code, sqlstate::DISK_FULL);
        assert!(
            e.message.starts_with("could not write: write parquet: "),
            "{}",
            e.message
        );
        let wrapped = format!("External: {full}");
        assert_eq!(
            io_error("finish parquet file", wrapped).code,
            sqlstate::DISK_FULL
        );
        let other = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        assert_eq!(io_error("create data file", other).code, sqlstate::IO_ERROR);
    }

    use super::*;

    #[test]
    fn a_builtin_matching_no_signature_is_42883_in_words_a_user_reads() {
        let e = classify(&DataFusionError::Plan(
            "Internal error: Function 'date_trunc' failed to match any signature, errors: \
             Error during planning: Function 'date_trunc' requires String, but received Int64"
                .into(),
        ));
        assert_eq!(e.code, sqlstate::UNDEFINED_FUNCTION);
        assert_eq!(
            e.message,
            "function date_trunc was called with the wrong arguments"
        );
        assert!(!e.message.contains("nternal"), "{}", e.message);
    }

    #[test]
    fn an_aggregate_matching_no_signature_is_42883_not_internal() {
        let e = classify(&DataFusionError::Internal(
            "Function 'avg' failed to match any signature, errors: Error during planning".into(),
        ));
        assert_eq!(e.code, sqlstate::UNDEFINED_FUNCTION);
    }

    #[test]
    fn a_call_matching_no_signature_names_the_types_and_the_usage() {
        let e = classify_plan(
            "Failed to coerce arguments to satisfy a call to 'ml_deploy' function: coercion from Int64 to the signature OneOf(Exact(Utf8, Int64), Exact(Utf8, Int64, Utf8)) failed. No function matches the given name and argument types 'ml_deploy(Int64)'. You might need to add explicit type casts.",
        );
        assert_eq!(e.code, sqlstate::UNDEFINED_FUNCTION);
        assert_eq!(e.message, "function ml_deploy(bigint) does not exist");
        let e = classify_plan("Function 'abs' expects 1 arguments but received 2");
        assert_eq!(e.code, sqlstate::UNDEFINED_FUNCTION);
        assert_eq!(
            e.message,
            "function abs was called with the wrong arguments"
        );
    }

    #[test]
    fn unknown_table_is_42p01_with_user_name() {
        let e = classify(&DataFusionError::Plan(
            "table 'quarry.public.nope' not found".into(),
        ));
        assert_eq!(e.code, "42P01");
        assert_eq!(e.message, "relation \"nope\" does not exist");
    }

    #[test]
    fn user_errors_survive_context_layers() {
        let inner = SqlStateError::bad_argument("ml_x: bins must be positive").into_df();
        let wrapped = DataFusionError::Context("while planning".into(), Box::new(inner));
        let e = classify(&DataFusionError::Shared(std::sync::Arc::new(wrapped)));
        assert_eq!(e.code, "22023");
        assert_eq!(e.message, "ml_x: bins must be positive");
    }

    #[test]
    fn regex_errors_are_2201b_wherever_they_come_from() {
        let text = "regex parse error:\n    (\n    ^\nerror: unclosed group";
        for err in [
            DataFusionError::Internal(text.into()),
            DataFusionError::Execution(format!("Regular expression did not compile: {text}")),
        ] {
            let e = classify(&err);
            assert_eq!(e.code, "2201B", "{err}");
            assert_eq!(e.message, "invalid regular expression: unclosed group");
        }
    }

    #[test]
    fn internal_errors_are_xx000() {
        let e = classify(&DataFusionError::Internal("oops".into()));
        assert_eq!(e.code, "XX000");
    }

    #[test]
    fn lowercases_sentences_but_not_acronyms() {
        assert_eq!(lower_first("Cannot cast"), "cannot cast");
        assert_eq!(lower_first("SQL error"), "SQL error");
    }
}
