//! `pg_sleep(seconds)`: waits, as PostgreSQL's does; a cancel request or
//! `statement_timeout` ends the wait (57014). Scripts and tests use it to
//! let background work (the prediction log's writer) catch up.

use std::time::{Duration, Instant};

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use quarry_udfs::control::Control;

use crate::error::SqlStateError;

/// The longest single wait: longer sleeps are refused rather than tying
/// up a worker thread for hours.
const LONGEST: f64 = 3600.0;

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PgSleep {
    signature: Signature,
}

impl Default for PgSleep {
    fn default() -> Self {
        PgSleep {
            signature: Signature::exact(vec![DataType::Float64], Volatility::Volatile),
        }
    }
}

impl ScalarUDFImpl for PgSleep {
    fn name(&self) -> &str {
        "pg_sleep"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        // PostgreSQL's is void, which clients show as an empty value.
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let seconds = match &args.args[0] {
            ColumnarValue::Scalar(ScalarValue::Float64(Some(s))) => *s,
            ColumnarValue::Scalar(_) => 0.0,
            ColumnarValue::Array(_) => {
                return Err(
                    SqlStateError::bad_argument("pg_sleep: seconds must be a constant").into_df(),
                );
            }
        };
        if seconds.is_nan() || seconds > LONGEST {
            return Err(SqlStateError::arg(
                "pg_sleep",
                "seconds",
                format!("must be at most {LONGEST}"),
                seconds,
            )
            .into_df());
        }
        let stop = Control::of(&args.config_options).statement.stop();
        let until = Instant::now() + Duration::from_secs_f64(seconds.max(0.0));
        let wait = || -> Result<()> {
            while Instant::now() < until {
                stop.check().map_err(SqlStateError::into_df)?;
                std::thread::sleep((until - Instant::now()).min(Duration::from_millis(10)));
            }
            Ok(())
        };
        // Off the runtime's scheduling: other tasks of this worker move on.
        match tokio::runtime::Handle::try_current() {
            Ok(_) => tokio::task::block_in_place(wait)?,
            Err(_) => wait()?,
        }
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(
            Some(String::new()),
        )))
    }
}
