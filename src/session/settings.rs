//! The run-time parameters a session reads with `SHOW` and changes with
//! `SET`, `RESET` and `DISCARD`: PostgreSQL's that clients expect (with their
//! defaults and which are reported as ParameterStatus), DataFusion's own
//! (`datafusion.*`), and custom placeholders (`myapp.setting`).

use std::collections::BTreeMap;
use std::time::Duration;

use datafusion::error::Result as DfResult;

use super::Session;
use crate::catalog::staging::Isolation;
use crate::catalog::{CATALOG_NAME, DEFAULT_SCHEMA};
use crate::compat;
use crate::error::{Result, SqlStateError, sqlstate};
use crate::sync::lock;

/// PostgreSQL run-time parameters a session can read with `SHOW` and change
/// with `SET`. `report` marks those sent to the client as ParameterStatus.
struct Param {
    name: &'static str,
    default: &'static str,
    settable: bool,
    report: bool,
}

const PARAMS: &[Param] = &[
    Param {
        name: "application_name",
        default: "",
        settable: true,
        report: true,
    },
    Param {
        name: "bytea_output",
        default: "hex",
        settable: true,
        report: false,
    },
    Param {
        name: "client_encoding",
        default: "UTF8",
        settable: true,
        report: true,
    },
    Param {
        name: "client_min_messages",
        default: "notice",
        settable: true,
        report: false,
    },
    Param {
        name: "DateStyle",
        default: "ISO, MDY",
        settable: true,
        report: true,
    },
    Param {
        name: "default_transaction_isolation",
        default: "read committed",
        settable: true,
        report: false,
    },
    Param {
        name: "default_transaction_read_only",
        default: "off",
        settable: true,
        report: true,
    },
    Param {
        name: "extra_float_digits",
        default: "1",
        settable: true,
        report: false,
    },
    Param {
        name: "idle_in_transaction_session_timeout",
        default: "0",
        settable: true,
        report: false,
    },
    Param {
        name: "in_hot_standby",
        default: "off",
        settable: false,
        report: true,
    },
    Param {
        name: "integer_datetimes",
        default: "on",
        settable: false,
        report: true,
    },
    Param {
        name: "IntervalStyle",
        default: "postgres",
        settable: true,
        report: true,
    },
    Param {
        name: "is_superuser",
        default: "on",
        settable: false,
        report: true,
    },
    Param {
        name: "jit",
        default: "off",
        settable: true,
        report: false,
    },
    Param {
        name: "lock_timeout",
        default: "0",
        settable: true,
        report: false,
    },
    // Read-only, as PostgreSQL's: pgJDBC reads it from pg_settings before
    // getImportedKeys/getExportedKeys.
    Param {
        name: "max_index_keys",
        default: "32",
        settable: false,
        report: false,
    },
    Param {
        name: "max_identifier_length",
        default: "63",
        settable: false,
        report: false,
    },
    Param {
        name: "row_security",
        default: "on",
        settable: true,
        report: false,
    },
    Param {
        name: "search_path",
        default: "\"$user\", public",
        settable: true,
        report: true,
    },
    Param {
        name: "server_encoding",
        default: "UTF8",
        settable: false,
        report: true,
    },
    Param {
        name: "server_version",
        default: compat::SERVER_VERSION,
        settable: false,
        report: true,
    },
    Param {
        name: "server_version_num",
        default: compat::SERVER_VERSION_NUM,
        settable: false,
        report: false,
    },
    Param {
        name: "session_authorization",
        default: "",
        settable: false,
        report: true,
    },
    Param {
        name: "standard_conforming_strings",
        default: "on",
        settable: true,
        report: true,
    },
    Param {
        name: "statement_timeout",
        default: "0",
        settable: true,
        report: false,
    },
    Param {
        name: "synchronous_commit",
        default: "on",
        settable: true,
        report: false,
    },
    Param {
        name: "TimeZone",
        default: "UTC",
        settable: true,
        report: true,
    },
    Param {
        name: "transaction_isolation",
        default: "read committed",
        settable: true,
        report: false,
    },
    Param {
        name: "transaction_read_only",
        default: "off",
        settable: true,
        report: false,
    },
    Param {
        name: "work_mem",
        default: "4MB",
        settable: true,
        report: false,
    },
];

fn find_param(name: &str) -> Option<&'static Param> {
    let name = match name.to_ascii_lowercase().as_str() {
        "timezone" | "time zone" => "timezone".to_string(),
        other => other.to_string(),
    };
    PARAMS.iter().find(|p| p.name.eq_ignore_ascii_case(&name))
}

/// The values a session of `user` starts with.
pub(super) fn defaults(user: &str) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    for p in PARAMS {
        vars.insert(p.name.to_ascii_lowercase(), p.default.to_string());
    }
    vars.insert("session_authorization".into(), user.to_string());
    vars
}

/// `pg_settings` as a query: one row per parameter `SHOW` knows, its value
/// the session's (`current_setting`), its boot and reset value the
/// default, `user` context when `SET` may change it (`internal`
/// otherwise). Every value is a string here, as Quarry keeps them.
pub static PG_SETTINGS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let rows: Vec<String> = PARAMS
        .iter()
        .map(|p| {
            format!(
                "('{}', '{}', {})",
                p.name,
                p.default.replace('\'', "''"),
                p.settable
            )
        })
        .collect();
    format!(
        "SELECT p.name, current_setting(p.name) AS setting, CAST(NULL AS TEXT) AS unit, \
         'Quarry' AS category, '' AS short_desc, CAST(NULL AS TEXT) AS extra_desc, \
         CASE WHEN p.settable THEN 'user' ELSE 'internal' END AS context, \
         'string' AS vartype, 'default' AS source, CAST(NULL AS TEXT) AS min_val, \
         CAST(NULL AS TEXT) AS max_val, CAST(NULL AS TEXT[]) AS enumvals, p.boot_val, \
         p.boot_val AS reset_val, CAST(NULL AS TEXT) AS sourcefile, \
         CAST(NULL AS INT) AS sourceline, false AS pending_restart \
         FROM (VALUES {}) AS p(name, boot_val, settable)",
        rows.join(", ")
    )
});

impl Session {
    /// `default_transaction_isolation`: the level a `BEGIN` without one
    /// opens its block at.
    pub fn default_isolation(&self) -> Isolation {
        self.var("default_transaction_isolation")
            .and_then(|v| Isolation::parse(&v))
            .unwrap_or_default()
    }

    /// Shows `isolation` as `transaction_isolation` while a block is open,
    /// the default once it ends (`None`).
    pub fn isolation_now(&self, isolation: Option<Isolation>) {
        let isolation = isolation.unwrap_or_else(|| self.default_isolation());
        lock(&self.vars).insert("transaction_isolation".into(), isolation.name().into());
    }

    pub fn var(&self, name: &str) -> Option<String> {
        let key = find_param(name).map_or_else(
            || name.to_ascii_lowercase(),
            |p| p.name.to_ascii_lowercase(),
        );
        lock(&self.vars).get(&key).cloned()
    }

    /// `SHOW ALL`: (name, value) pairs.
    pub fn all_vars(&self) -> Vec<(String, String)> {
        let vars = lock(&self.vars);
        let mut out: Vec<(String, String)> = PARAMS
            .iter()
            .map(|p| {
                let v = vars
                    .get(&p.name.to_ascii_lowercase())
                    .cloned()
                    .unwrap_or_default();
                (p.name.to_string(), v)
            })
            .collect();
        for (k, v) in vars.iter() {
            if k.contains('.') {
                out.push((k.clone(), v.clone()));
            }
        }
        out
    }

    /// `SHOW name`: the displayed name and the value.
    pub fn show(&self, name: &str) -> Result<(String, String)> {
        let lower = name.to_ascii_lowercase();
        if lower.starts_with("datafusion.") {
            let state = self.ctx.state();
            let entry = state
                .config_options()
                .entries()
                .into_iter()
                .find(|e| e.key == lower)
                .ok_or_else(|| unknown_param(name))?;
            return Ok((lower, entry.value.unwrap_or_else(|| "NULL".into())));
        }
        if let Some(p) = find_param(&lower) {
            let value = lock(&self.vars)
                .get(&p.name.to_ascii_lowercase())
                .cloned()
                .unwrap_or_default();
            return Ok((p.name.to_ascii_lowercase(), value));
        }
        if lower.contains('.')
            && let Some(v) = lock(&self.vars).get(&lower)
        {
            return Ok((lower, v.clone()));
        }
        Err(unknown_param(name))
    }

    /// `SET name = value` (value already unquoted; `None` means DEFAULT).
    /// Returns the ParameterStatus to send, if the parameter is reported.
    pub fn set(&self, name: &str, value: Option<&str>) -> Result<Option<(String, String)>> {
        let lower = name.to_ascii_lowercase();
        if lower.starts_with("datafusion.") {
            return self.set_datafusion(&lower, value);
        }
        let Some(param) = find_param(&lower) else {
            if lower.contains('.') {
                // Custom placeholder variables (myapp.setting), as PostgreSQL allows.
                lock(&self.vars).insert(lower, value.unwrap_or("").to_string());
                return Ok(None);
            }
            return Err(unknown_param(name));
        };
        if !param.settable {
            return Err(SqlStateError::new(
                sqlstate::CANT_CHANGE_RUNTIME_PARAM,
                format!("parameter \"{}\" cannot be changed", param.name),
            ));
        }
        let value = value.unwrap_or(param.default).to_string();
        let value = self.apply(param, value)?;
        lock(&self.vars).insert(param.name.to_ascii_lowercase(), value.clone());
        Ok(param.report.then(|| (param.name.to_string(), value)))
    }

    /// Validates a value and applies its side effects; returns the value to store.
    fn apply(&self, param: &Param, value: String) -> Result<String> {
        match param.name {
            "search_path" => {
                let existing = self
                    .ctx
                    .catalog(CATALOG_NAME)
                    .map(|c| c.schema_names())
                    .unwrap_or_default();
                let schema = first_schema(&value, &self.user, |s| existing.iter().any(|e| e == s))
                    .unwrap_or_else(|| DEFAULT_SCHEMA.to_string());
                let mut state = self.ctx.state_ref().write().clone();
                state.config_mut().options_mut().catalog.default_schema = schema;
                *self.ctx.state_ref().write() = state;
                self.changed();
                Ok(value)
            }
            "TimeZone" => {
                let tz = if value.eq_ignore_ascii_case("local")
                    || value.eq_ignore_ascii_case("default")
                {
                    "UTC".to_string()
                } else {
                    value
                };
                if !compat::valid_time_zone(&tz) {
                    return Err(SqlStateError::bad_argument(format!(
                        "invalid value for parameter \"TimeZone\": \"{tz}\""
                    ))
                    .with_hint("use an IANA name such as 'Europe/Paris', 'UTC', or an offset such as '+02:00'"));
                }
                let df_tz = if tz.eq_ignore_ascii_case("utc") {
                    "+00:00".to_string()
                } else {
                    tz.clone()
                };
                let mut state = self.ctx.state_ref().write().clone();
                state.config_mut().options_mut().execution.time_zone = Some(df_tz);
                *self.ctx.state_ref().write() = state;
                self.changed();
                Ok(tz)
            }
            "client_encoding" => {
                let norm = value.to_ascii_uppercase().replace(['-', '_'], "");
                if norm == "UTF8" || norm == "UNICODE" {
                    Ok("UTF8".into())
                } else {
                    Err(SqlStateError::unsupported(format!(
                        "client_encoding {value:?} is not supported; Quarry speaks UTF8 only"
                    )))
                }
            }
            "standard_conforming_strings" => match value.to_ascii_lowercase().as_str() {
                "on" | "true" | "1" => Ok("on".into()),
                _ => Err(SqlStateError::unsupported(
                    "standard_conforming_strings must stay on",
                )),
            },
            "statement_timeout" => {
                let timeout = parse_duration_ms(&value).ok_or_else(|| {
                    SqlStateError::bad_argument(format!(
                        "invalid value for parameter \"statement_timeout\": \"{value}\""
                    ))
                    .with_hint("give milliseconds (5000) or a unit ('5s', '2min')")
                })?;
                *lock(&self.statement_timeout) =
                    (timeout > 0).then(|| Duration::from_millis(timeout));
                Ok(if timeout == 0 {
                    "0".into()
                } else {
                    format_ms(timeout)
                })
            }
            "transaction_isolation" | "default_transaction_isolation" => {
                let isolation = Isolation::parse(&value).ok_or_else(|| {
                    SqlStateError::bad_argument(format!(
                        "invalid value for parameter \"{}\": \"{value}\"",
                        param.name
                    ))
                    .with_hint("read committed, repeatable read or serializable")
                })?;
                if param.name == "default_transaction_isolation" {
                    if !self.block.is_open() {
                        lock(&self.vars)
                            .insert("transaction_isolation".into(), isolation.name().into());
                    }
                    return Ok(isolation.name().to_string());
                }
                // The open block's level (before its first statement);
                // outside a block there is none to change.
                Ok(match self.block.set_isolation(isolation)? {
                    true => isolation.name().to_string(),
                    false => self.default_isolation().name().to_string(),
                })
            }
            "extra_float_digits" => {
                let n: i32 = value.trim().parse().map_err(|_| {
                    SqlStateError::bad_argument(format!(
                        "invalid value for parameter \"extra_float_digits\": \"{value}\""
                    ))
                })?;
                if !(-15..=3).contains(&n) {
                    return Err(SqlStateError::bad_argument(format!(
                        "{n} is outside the valid range for parameter \"extra_float_digits\" (-15 .. 3)"
                    )));
                }
                Ok(n.to_string())
            }
            _ => Ok(value),
        }
    }

    fn set_datafusion(&self, key: &str, value: Option<&str>) -> Result<Option<(String, String)>> {
        if key.starts_with("datafusion.runtime.") {
            return Err(SqlStateError::new(
                sqlstate::CANT_CHANGE_RUNTIME_PARAM,
                format!("parameter \"{key}\" is server-wide; set it with the --memory-limit flag"),
            ));
        }
        let mut state = self.ctx.state_ref().write().clone();
        let result: DfResult<()> = match value {
            Some(v) => state.config_mut().options_mut().set(key, v),
            None => {
                let defaults = datafusion::config::ConfigOptions::new();
                match defaults.entries().into_iter().find(|e| e.key == key) {
                    Some(e) => state
                        .config_mut()
                        .options_mut()
                        .set(key, e.value.as_deref().unwrap_or("")),
                    None => Err(datafusion::error::DataFusionError::Configuration(format!(
                        "unknown parameter {key}"
                    ))),
                }
            }
        };
        result.map_err(|e| {
            let mut err = crate::error::classify(&e);
            if err.message.contains("not found") || err.message.contains("unknown") {
                err = unknown_param(key);
            }
            err
        })?;
        *self.ctx.state_ref().write() = state;
        self.changed();
        Ok(None)
    }

    /// `DISCARD ALL` / `RESET ALL`: back to the defaults.
    pub fn reset_all(&self) -> Result<()> {
        for p in PARAMS.iter().filter(|p| p.settable) {
            self.set(p.name, None)?;
        }
        lock(&self.vars).retain(|k, _| !k.contains('.'));
        self.changed();
        Ok(())
    }
}

fn unknown_param(name: &str) -> SqlStateError {
    SqlStateError::new(
        sqlstate::UNDEFINED_PARAMETER,
        format!("unrecognized configuration parameter \"{name}\""),
    )
    .with_hint("SHOW ALL lists the parameters")
}

/// The first existing schema named in a search_path value (`"$user"` is the
/// session's user name; missing schemas are skipped, as in PostgreSQL).
fn first_schema(path: &str, user: &str, exists: impl Fn(&str) -> bool) -> Option<String> {
    path.split(',')
        .map(|s| s.trim().trim_matches('"').trim_matches('\'').to_string())
        .filter(|s| !s.is_empty())
        .map(|s| if s == "$user" { user.to_string() } else { s })
        // pg_temp holds only temporary relations (listed while there are
        // some): never where new tables go, as in PostgreSQL.
        .find(|s| s != "pg_catalog" && s != crate::catalog::local::TEMP_SCHEMA && exists(s))
}

/// Parses PostgreSQL time values: `5000`, `'5s'`, `'100ms'`, `'2min'`, `'1h'`.
pub fn parse_duration_ms(text: &str) -> Option<u64> {
    let t = text.trim().trim_matches('\'').trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let num: f64 = num.parse().ok()?;
    let scale = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "ms" => 1.0,
        "us" => 0.001,
        "s" | "sec" | "secs" | "second" | "seconds" => 1000.0,
        "min" | "mins" | "minute" | "minutes" => 60_000.0,
        "h" | "hour" | "hours" => 3_600_000.0,
        "d" | "day" | "days" => 86_400_000.0,
        _ => return None,
    };
    let ms = num * scale;
    (ms.is_finite() && ms >= 0.0).then_some(ms.round() as u64)
}

fn format_ms(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_postgres_durations() {
        assert_eq!(parse_duration_ms("5000"), Some(5000));
        assert_eq!(parse_duration_ms("'5s'"), Some(5000));
        assert_eq!(parse_duration_ms("100ms"), Some(100));
        assert_eq!(parse_duration_ms("2min"), Some(120_000));
        assert_eq!(parse_duration_ms("soon"), None);
    }

    #[test]
    fn search_path_picks_first_real_schema() {
        let exists = |s: &str| s == "public" || s == "analytics";
        assert_eq!(
            first_schema("\"$user\", public", "quarry", exists).as_deref(),
            Some("public")
        );
        assert_eq!(
            first_schema("analytics, public", "quarry", exists).as_deref(),
            Some("analytics")
        );
        assert_eq!(
            first_schema("nope, public", "quarry", exists).as_deref(),
            Some("public")
        );
    }
}
