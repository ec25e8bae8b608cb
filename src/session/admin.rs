//! Finding and stopping statements with ordinary admin SQL, as in
//! PostgreSQL: the `pg_stat_activity` view, `pg_cancel_backend(pid)` and
//! `pg_terminate_backend(pid)`, and each session's `pg_backend_pid()`.
//!
//! Who may see and stop what follows PostgreSQL: a superuser sees every
//! session's statement and may stop any; another user sees and stops only
//! sessions of its own user (others show `<insufficient privilege>`, and
//! stopping them is 42501).

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use datafusion::arrow::array::{
    Array, ArrayRef, BooleanBuilder, Int32Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::Session as DfSession;
use datafusion::catalog::TableProvider;
use datafusion::common::Result;
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use datafusion::prelude::SessionContext;

use super::{Session, SessionRegistry};
use crate::catalog::live::{LiveRows, LiveTable};
use crate::catalog::store::Store;
use crate::error::{SqlStateError, sqlstate};

/// The system view of sessions, named as PostgreSQL names it.
pub const STAT_ACTIVITY: &str = "pg_stat_activity";

/// The database every session is connected to (`pg_database`'s only row).
const DATABASE: &str = "quarry";

/// The calling session's user, and whether it is a superuser.
fn caller(store: &Store, config: &ConfigOptions) -> (String, bool) {
    let user = quarry_udfs::session_info::user(config);
    let superuser = store
        .user(&user)
        .ok()
        .flatten()
        .is_some_and(|u| u.superuser);
    (user, superuser)
}

/// `pg_stat_activity`: one row per open session, read fresh at each scan.
#[derive(Debug)]
pub struct StatActivity {
    sessions: Arc<SessionRegistry>,
    store: Arc<Store>,
    schema: SchemaRef,
}

impl StatActivity {
    pub fn new(sessions: Arc<SessionRegistry>, store: Arc<Store>) -> Self {
        let time = |name: &str| {
            Field::new(
                name,
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            )
        };
        let int = |name: &str| Field::new(name, DataType::Int32, true);
        let text = |name: &str| Field::new(name, DataType::Utf8, true);
        StatActivity {
            sessions,
            store,
            schema: Arc::new(Schema::new(vec![
                int("datid"),
                text("datname"),
                int("pid"),
                int("leader_pid"),
                int("usesysid"),
                text("usename"),
                text("application_name"),
                text("client_addr"),
                text("client_hostname"),
                int("client_port"),
                time("backend_start"),
                time("xact_start"),
                time("query_start"),
                time("state_change"),
                text("wait_event_type"),
                text("wait_event"),
                text("state"),
                text("backend_xid"),
                text("backend_xmin"),
                Field::new("query_id", DataType::Int64, true),
                text("query"),
                text("backend_type"),
            ])),
        }
    }

    fn rows(&self, config: &ConfigOptions) -> Result<RecordBatch> {
        let (user, superuser) = caller(&self.store, config);
        let sessions = self.sessions.all();
        let n = sessions.len();
        let micros = |t: SystemTime| {
            t.duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        };
        let mut pid = Vec::with_capacity(n);
        let mut usename = Vec::with_capacity(n);
        let mut application = Vec::with_capacity(n);
        let mut addr = Vec::with_capacity(n);
        let mut port = Vec::with_capacity(n);
        let (mut backend_start, mut xact_start, mut query_start, mut state_change) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut state = Vec::with_capacity(n);
        let mut query = Vec::with_capacity(n);
        for (id, session) in &sessions {
            let activity = session.activity();
            let visible = superuser || session.user == user;
            pid.push(*id);
            usename.push(session.user.clone());
            application.push(session.var("application_name").unwrap_or_default());
            addr.push(session.peer.map(|p| p.ip().to_string()));
            port.push(session.peer.map(|p| i32::from(p.port())));
            backend_start.push(Some(micros(activity.backend_start)));
            query_start.push(activity.query_start.map(micros));
            xact_start.push(
                activity
                    .active
                    .then(|| activity.query_start.map(micros))
                    .flatten(),
            );
            state_change.push(Some(micros(activity.state_change)));
            if visible {
                let in_block = !matches!(*crate::sync::lock(&session.tx), super::TxBlock::None);
                state.push(Some(
                    match (activity.active, in_block) {
                        (true, _) => "active",
                        (false, true) => "idle in transaction",
                        (false, false) => "idle",
                    }
                    .to_string(),
                ));
                query.push(activity.query.to_string());
            } else {
                state.push(None);
                query.push("<insufficient privilege>".to_string());
            }
        }
        let nulls_i32 = || Arc::new(Int32Array::new_null(n)) as ArrayRef;
        let nulls_text = || Arc::new(StringArray::new_null(n)) as ArrayRef;
        let times = |v: Vec<Option<i64>>| {
            Arc::new(TimestampMicrosecondArray::from(v).with_timezone("UTC")) as ArrayRef
        };
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int32Array::from(vec![1; n])),
            Arc::new(StringArray::from(vec![DATABASE; n])),
            Arc::new(Int32Array::from(pid)),
            nulls_i32(),
            nulls_i32(),
            Arc::new(StringArray::from(usename)),
            Arc::new(StringArray::from(application)),
            Arc::new(StringArray::from(addr)),
            nulls_text(),
            Arc::new(Int32Array::from(port)),
            times(backend_start),
            times(xact_start),
            times(query_start),
            times(state_change),
            nulls_text(),
            nulls_text(),
            Arc::new(StringArray::from(state)),
            nulls_text(),
            nulls_text(),
            Arc::new(datafusion::arrow::array::PrimitiveArray::<Int64Type>::new_null(n)),
            Arc::new(StringArray::from(query)),
            Arc::new(StringArray::from(vec!["client backend"; n])),
        ];
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

#[async_trait]
impl LiveRows for StatActivity {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    async fn batch(&self, state: &dyn DfSession) -> Result<RecordBatch> {
        self.rows(state.config_options())
    }
}

/// `pg_cancel_backend(pid)` or `pg_terminate_backend(pid [, timeout])`.
#[derive(Debug)]
struct SignalBackend {
    terminate: bool,
    sessions: Arc<SessionRegistry>,
    store: Arc<Store>,
    signature: Signature,
}

impl PartialEq for SignalBackend {
    fn eq(&self, other: &Self) -> bool {
        self.terminate == other.terminate && Arc::ptr_eq(&self.sessions, &other.sessions)
    }
}

impl Eq for SignalBackend {}

impl std::hash::Hash for SignalBackend {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.terminate.hash(state);
    }
}

impl SignalBackend {
    fn name(&self) -> &'static str {
        if self.terminate {
            "pg_terminate_backend"
        } else {
            "pg_cancel_backend"
        }
    }

    /// Stops `pid`'s statement (and closes it when terminating): `false`
    /// when no session has that pid.
    fn signal(&self, pid: i32, user: &str, superuser: bool) -> Result<bool, SqlStateError> {
        let Some(target) = self.sessions.by_pid(pid) else {
            return Ok(false);
        };
        if !superuser && target.user != user {
            let (what, verb) = if self.terminate {
                ("process", "terminate")
            } else {
                ("query", "cancel")
            };
            return Err(SqlStateError::new(
                sqlstate::INSUFFICIENT_PRIVILEGE,
                format!("permission denied to {verb} {what}"),
            )
            .with_detail(format!(
                "Only superusers and the session's own user may {verb} the {what} of process {pid}."
            )));
        }
        if self.terminate {
            target.terminate();
        } else {
            target.cancel();
        }
        Ok(true)
    }
}

impl ScalarUDFImpl for SignalBackend {
    fn name(&self) -> &str {
        SignalBackend::name(self)
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (user, superuser) = caller(&self.store, &args.config_options);
        let pids = args.args[0].to_array(args.number_rows)?;
        let pids = datafusion::arrow::compute::cast(&pids, &DataType::Int32).map_err(|_| {
            SqlStateError::arg(self.name(), "pid", "must be an integer process id", "").into_df()
        })?;
        let pids = pids
            .as_any()
            .downcast_ref::<Int32Array>()
            .ok_or_else(|| SqlStateError::internal("pid is not an int4 array").into_df())?;
        let mut out = BooleanBuilder::with_capacity(pids.len());
        for i in 0..pids.len() {
            if pids.is_null(i) {
                out.append_null();
            } else {
                let done = self
                    .signal(pids.value(i), &user, superuser)
                    .map_err(SqlStateError::into_df)?;
                out.append_value(done);
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

/// Registers the view and the functions into the base context.
pub fn register(
    ctx: &SessionContext,
    sessions: &Arc<SessionRegistry>,
    store: &Arc<Store>,
) -> Arc<dyn TableProvider> {
    let integers = [DataType::Int32, DataType::Int64];
    for terminate in [false, true] {
        let mut shapes: Vec<TypeSignature> = integers
            .iter()
            .map(|t| TypeSignature::Exact(vec![t.clone()]))
            .collect();
        if terminate {
            // pg_terminate_backend(pid, timeout): the wait is not needed,
            // the connection closes as soon as its statement stops.
            for pid in &integers {
                for timeout in &integers {
                    shapes.push(TypeSignature::Exact(vec![pid.clone(), timeout.clone()]));
                }
            }
        }
        ctx.register_udf(ScalarUDF::from(SignalBackend {
            terminate,
            sessions: sessions.clone(),
            store: store.clone(),
            signature: Signature::one_of(shapes, Volatility::Volatile),
        }));
    }
    LiveTable::provider(StatActivity::new(sessions.clone(), store.clone()))
}

/// `pg_backend_pid()` of a session: the process id its client was given in
/// BackendKeyData, which `pg_stat_activity.pid` shows.
pub fn register_backend_pid(session: &Session, pid: i32) {
    session.ctx.register_udf(ScalarUDF::from(BackendPid {
        pid,
        signature: Signature::nullary(Volatility::Stable),
    }));
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct BackendPid {
    pid: i32,
    signature: Signature,
}

impl ScalarUDFImpl for BackendPid {
    fn name(&self) -> &str {
        "pg_backend_pid"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int32)
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Ok(ColumnarValue::Scalar(
            datafusion::scalar::ScalarValue::Int32(Some(self.pid)),
        ))
    }
}
