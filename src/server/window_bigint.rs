//! `row_number()`, `rank()` and `dense_rank()` as `bigint` and `ntile()` as
//! `integer`, as PostgreSQL types them.
//!
//! DataFusion computes them as unsigned 64-bit integers, which have no
//! PostgreSQL type: clients saw `numeric` (psycopg returned `Decimal`,
//! pgJDBC's `getColumns` read its `attnum` column from one). Each call is
//! read as a cast to its PostgreSQL type; the column keeps the function's name (a
//! cast is named after what it casts). A count of rows never reaches 2^63.
//! (An analyzer rule cannot do this: DataFusion holds a plan's output types
//! fixed from planning on.)

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{CastKind, DataType, Expr, VisitorMut};

/// The window functions DataFusion types as unsigned counts, and the type
/// PostgreSQL gives each.
const COUNTING: &[(&str, DataType)] = &[
    ("row_number", DataType::BigInt(None)),
    ("rank", DataType::BigInt(None)),
    ("dense_rank", DataType::BigInt(None)),
    ("ntile", DataType::Integer(None)),
];

pub(super) struct WindowCountsAsBigint;

impl VisitorMut for WindowCountsAsBigint {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let Expr::Function(f) = expr else {
            return ControlFlow::Continue(());
        };
        let name = match f.name.0.as_slice() {
            [part] if f.over.is_some() => part.as_ident().map(|i| i.value.to_ascii_lowercase()),
            _ => None,
        };
        let typed = name.and_then(|n| COUNTING.iter().find(|(f, _)| *f == n));
        if let Some((_, data_type)) = typed {
            let call = std::mem::replace(
                expr,
                Expr::value(datafusion::sql::sqlparser::ast::Value::Null),
            );
            *expr = Expr::Cast {
                kind: CastKind::Cast,
                expr: Box::new(call),
                data_type: data_type.clone(),
                array: false,
                format: None,
            };
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::ast::VisitMut;

    use super::*;
    use crate::server::rewrite::sql_statement;

    #[test]
    fn counting_window_functions_are_cast_to_bigint() {
        let mut statement = sql_statement(
            "SELECT row_number() OVER (ORDER BY a), rank() OVER w, count(*) OVER (), row_number(a) FROM t",
        )
        .expect("parses");
        let _ = VisitMut::visit(&mut statement, &mut WindowCountsAsBigint);
        assert_eq!(
            statement.to_string(),
            "SELECT CAST(row_number() OVER (ORDER BY a) AS BIGINT), CAST(rank() OVER w AS BIGINT), \
             count(*) OVER (), row_number(a) FROM t"
        );
    }
}
