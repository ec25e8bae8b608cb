//! `SET`, `RESET`, `SHOW` and `DISCARD`: the session's parameters (see
//! `session::settings`), with the ParameterStatus messages PostgreSQL sends
//! for reported ones and the connection's format options kept in step with
//! the settings the row encoder reads.

use datafusion::sql::sqlparser::ast::{Expr as SqlExpr, Ident, ObjectName, Set, Value};
use pgwire::api::results::Response;
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::startup::ParameterStatus;

use super::done;
use crate::error::{Result, SqlStateError, from_pgwire, sqlstate};
use crate::server::query::connection::{Client, feed, notice, options_of};
use crate::server::stream::text_rows;
use crate::session::Session;

/// A name as PostgreSQL folds it.
fn fold(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}

/// `SET ...` in its forms.
pub(super) async fn set<C: Client>(
    client: &mut C,
    session: &Session,
    set: &Set,
) -> Result<Response> {
    match set {
        Set::SingleAssignment {
            variable, values, ..
        } => {
            let name = variable.to_string();
            set_var(client, session, &name, set_value_text(values).as_deref()).await?;
        }
        Set::MultipleAssignments { assignments } => {
            for a in assignments {
                let name = a.name.to_string();
                let value = set_value_text(std::slice::from_ref(&a.value));
                set_var(client, session, &name, value.as_deref()).await?;
            }
        }
        Set::SetTimeZone { value, .. } => {
            let value = set_value_text(std::slice::from_ref(value));
            set_var(client, session, "TimeZone", value.as_deref()).await?;
        }
        Set::SetNames { charset_name, .. } => {
            set_var(
                client,
                session,
                "client_encoding",
                Some(&charset_name.value),
            )
            .await?;
        }
        Set::SetNamesDefault {} => {
            set_var(client, session, "client_encoding", None).await?;
        }
        Set::SetTransaction {
            modes,
            session: characteristics,
            ..
        } => {
            for mode in modes {
                let Some(isolation) = super::tx::isolation_of(mode)? else {
                    continue;
                };
                if *characteristics {
                    // SET SESSION CHARACTERISTICS AS TRANSACTION ...
                    set_var(
                        client,
                        session,
                        "default_transaction_isolation",
                        Some(isolation.name()),
                    )
                    .await?;
                } else if session.block.set_isolation(isolation)? {
                    session.isolation_now(Some(isolation));
                } else {
                    feed(
                        client,
                        notice(
                            "WARNING",
                            sqlstate::NO_ACTIVE_SQL_TRANSACTION,
                            "SET TRANSACTION can only be used in transaction blocks",
                        ),
                    )
                    .await?;
                }
            }
        }
        Set::SetRole { role_name, .. } => {
            let role = role_name.as_ref().map(fold);
            session.set_role(role.as_deref(), false)?;
        }
        Set::SetSessionAuthorization(param) => {
            use datafusion::sql::sqlparser::ast::SetSessionAuthorizationParamKind;
            let role = match &param.kind {
                SetSessionAuthorizationParamKind::Default => None,
                SetSessionAuthorizationParamKind::User(name) => Some(fold(name)),
            };
            session.set_role(role.as_deref(), true)?;
        }
        other => {
            return Err(SqlStateError::unsupported(format!(
                "{other} is not supported"
            )));
        }
    }
    done("SET")
}

/// `RESET name`, or `RESET ALL` when `name` is `None`.
pub(super) async fn reset<C: Client>(
    client: &mut C,
    session: &Session,
    name: Option<&ObjectName>,
) -> Result<Response> {
    match name {
        None => session.reset_all()?,
        Some(name)
            if matches!(
                name.to_string().to_ascii_lowercase().as_str(),
                "role" | "session_authorization"
            ) =>
        {
            session.set_role(None, false)?
        }
        Some(name) => set_var(client, session, &name.to_string(), None).await?,
    }
    done("RESET")
}

/// `SHOW name`, or `SHOW ALL`.
pub(super) fn show(session: &Session, variable: &[Ident]) -> Result<Response> {
    let lower = show_name(variable);
    if lower == "all" {
        let rows = session
            .all_vars()
            .into_iter()
            .map(|(k, v)| vec![Some(k), Some(v)])
            .collect();
        return Ok(Response::Query(
            text_rows(&["name", "setting"], rows).map_err(from_pgwire)?,
        ));
    }
    let (column, value) = session.show(&lower)?;
    Ok(Response::Query(
        text_rows(&[&column], vec![vec![Some(value)]]).map_err(from_pgwire)?,
    ))
}

/// `DISCARD ALL` (and its partial forms): back to the defaults.
pub(super) fn discard(session: &Session) -> Result<Response> {
    session.set_role(None, false)?;
    session.reset_all()?;
    done("DISCARD ALL")
}

/// Sets one parameter (`None`: back to its default), sends its
/// ParameterStatus when PostgreSQL reports it, and rebuilds the connection's
/// format options when the row encoder reads it.
async fn set_var<C: Client>(
    client: &mut C,
    session: &Session,
    name: &str,
    value: Option<&str>,
) -> Result<()> {
    let name = name.trim_matches('"');
    let report = session.set(name, value)?;
    // Settings the row encoder reads from the connection metadata.
    let lower = match name.to_ascii_lowercase().as_str() {
        "time zone" => "timezone".to_string(),
        other => other.to_string(),
    };
    if matches!(
        lower.as_str(),
        "datestyle" | "intervalstyle" | "bytea_output" | "extra_float_digits" | "timezone"
    ) && let Some(v) = session.var(&lower)
    {
        client.metadata_mut().insert(lower.clone(), v);
        let options = options_of(client.metadata());
        client.session_extensions().insert(options);
    }
    if let Some((k, v)) = report {
        feed(
            client,
            PgWireBackendMessage::ParameterStatus(ParameterStatus::new(k, v)),
        )
        .await?;
    }
    Ok(())
}
/// The text of the value(s) a `SET` gives; `None` for `DEFAULT`.
fn set_value_text(values: &[SqlExpr]) -> Option<String> {
    let parts: Vec<String> = values
        .iter()
        .map(|v| match v {
            SqlExpr::Value(v) => match &v.value {
                Value::SingleQuotedString(s)
                | Value::DoubleQuotedString(s)
                | Value::EscapedStringLiteral(s) => s.clone(),
                Value::Number(n, _) => n.to_string(),
                Value::Boolean(b) => {
                    if *b {
                        "on".into()
                    } else {
                        "off".into()
                    }
                }
                other => other.to_string(),
            },
            SqlExpr::Identifier(i) => i.value.clone(),
            SqlExpr::UnaryOp { op, expr } => format!("{op}{expr}"),
            other => other.to_string(),
        })
        .collect();
    let text = parts.join(", ");
    if text.eq_ignore_ascii_case("default") {
        None
    } else {
        Some(text)
    }
}

/// The parameter a `SHOW` names: multi-word forms map to their parameter,
/// dotted names (`datafusion.execution.batch_size`) are joined back.
pub(in crate::server::query) fn show_name(variable: &[Ident]) -> String {
    let words: Vec<String> = variable
        .iter()
        .map(|i| i.value.to_ascii_lowercase())
        .collect();
    match words.join(" ").as_str() {
        "transaction isolation level" => "transaction_isolation".into(),
        "time zone" => "timezone".into(),
        "session authorization" => "session_authorization".into(),
        _ => words.join("."),
    }
}
