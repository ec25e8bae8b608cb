//! Extended-protocol parameters: the types a prepared statement advertises and
//! the decoding of the values a client binds.
//!
//! A parameter whose type DataFusion cannot infer is advertised as `text`, as
//! PostgreSQL does for an unresolved `$n`, so typed clients (tokio-postgres, JDBC)
//! can still bind it.

use std::collections::HashMap;

use arrow_pg::datatypes::df::deserialize_parameters_with_server_types;
use arrow_pg::datatypes::into_pg_type;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, ExprSchemable, LogicalPlan};
use pgwire::api::Type;
use pgwire::api::portal::Portal;
use pgwire::error::PgWireResult;

use crate::error::{SqlStateError, sqlstate, to_pgwire};

/// Inferred Arrow type of each placeholder, in `$1, $2, ...` order.
pub(crate) fn inferred(plan: &LogicalPlan) -> Result<Vec<(usize, Option<DataType>)>> {
    let mut types: HashMap<String, Option<DataType>> = plan.get_parameter_types()?;
    // `$1::int` gives DataFusion no type for $1 itself; use the cast's
    // target. `x = ANY($1)` (planned as `array_has($1, x)`) neither: $1 is
    // an array of x's type, as PostgreSQL infers it.
    if types.values().any(Option::is_none) {
        plan.apply(|node| {
            let inputs = node.inputs();
            for expr in node.expressions() {
                expr.apply(|e| {
                    let typed = match e {
                        Expr::Cast(cast) => match cast.expr.as_ref() {
                            Expr::Placeholder(ph) => Some((&ph.id, cast.field.data_type().clone())),
                            _ => None,
                        },
                        Expr::ScalarFunction(f) if f.name() == "array_has" => {
                            match f.args.as_slice() {
                                [Expr::Placeholder(ph), needle] => inputs
                                    .iter()
                                    .find_map(|input| needle.get_type(input.schema()).ok())
                                    .map(|t| (&ph.id, DataType::new_list(t, true))),
                                _ => None,
                            }
                        }
                        _ => None,
                    };
                    if let Some((id, t)) = typed
                        && let Some(slot) = types.get_mut(id)
                        && slot.is_none()
                    {
                        *slot = Some(t);
                    }
                    Ok(TreeNodeRecursion::Continue)
                })?;
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
    }
    let mut ordered: Vec<(usize, Option<DataType>)> = types
        .into_iter()
        .filter_map(|(id, t)| {
            id.trim_start_matches('$')
                .parse::<usize>()
                .ok()
                .map(|n| (n, t))
        })
        .collect();
    ordered.sort_by_key(|(n, _)| *n);
    // `$1` and `$3` without `$2` still means three parameters.
    let count = ordered.last().map_or(0, |(n, _)| *n);
    let mut dense: Vec<(usize, Option<DataType>)> = (1..=count).map(|n| (n, None)).collect();
    for (n, t) in ordered {
        if let Some(slot) = dense.get_mut(n - 1) {
            slot.1 = t;
        }
    }
    Ok(dense)
}

/// The wire type of each parameter, from its inferred type, or `oid` and
/// `oid[]` where the statement casts it so (see [`oid_placeholders`]).
pub fn wire_types(inferred: &[(usize, Option<DataType>)], oids: &[(usize, Type)]) -> Vec<Type> {
    inferred
        .iter()
        .map(|(n, t)| {
            if let Some((_, ty)) = oids.iter().find(|(m, _)| m == n) {
                return ty.clone();
            }
            t.as_ref()
                .and_then(|t| into_pg_type(t).ok())
                .unwrap_or(Type::TEXT)
        })
        .collect()
}

/// The parameters `statement` casts to `oid` or `oid[]` (`$1::oid[]`, as
/// asyncpg's type introspection binds its list of oids), with that type.
/// Oids plan as `int4`, but a client that binds the type it is told
/// (asyncpg) decodes `oid[]` itself and must look `int4[]` up first.
pub fn oid_placeholders(statement: &datafusion::sql::parser::Statement) -> Vec<(usize, Type)> {
    use datafusion::sql::sqlparser::ast::{
        ArrayElemTypeDef, DataType as SqlType, Expr as SqlExpr, Value, Visit, Visitor,
    };
    use std::ops::ControlFlow;

    fn is_oid(t: &SqlType) -> bool {
        matches!(t, SqlType::Custom(name, modifiers)
            if modifiers.is_empty()
                && name.0.last().and_then(|p| p.as_ident())
                    .is_some_and(|i| i.value.eq_ignore_ascii_case("oid")))
    }
    struct Casts(Vec<(usize, Type)>);
    impl Visitor for Casts {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &SqlExpr) -> ControlFlow<()> {
            if let SqlExpr::Cast {
                expr: inner,
                data_type,
                ..
            } = expr
                && let SqlExpr::Value(v) = inner.as_ref()
                && let Value::Placeholder(p) = &v.value
                && let Ok(n) = p.trim_start_matches('$').parse::<usize>()
            {
                let ty = match data_type {
                    t if is_oid(t) => Some(Type::OID),
                    SqlType::Array(
                        ArrayElemTypeDef::SquareBracket(t, _) | ArrayElemTypeDef::AngleBracket(t),
                    ) if is_oid(t) => Some(Type::OID_ARRAY),
                    _ => None,
                };
                if let Some(ty) = ty
                    && !self.0.iter().any(|(m, _)| *m == n)
                {
                    self.0.push((n, ty));
                }
            }
            ControlFlow::Continue(())
        }
    }
    let datafusion::sql::parser::Statement::Statement(statement) = statement else {
        return Vec::new();
    };
    let mut casts = Casts(Vec::new());
    let _ = statement.visit(&mut casts);
    casts.0
}

/// The type a value bound as `ty` is decoded as: `oid[]` as `int4[]`,
/// which arrow-pg decodes (the element type in a binary array's header
/// is not checked, and oids are kept as `int4`).
fn decodable(ty: &Type) -> Type {
    if *ty == Type::OID_ARRAY {
        Type::INT4_ARRAY
    } else {
        ty.clone()
    }
}

/// How one statement's bound values are decoded: worked out at its first
/// execution and kept (see `query::prepared::Derived`).
#[derive(Debug)]
pub struct Decoding {
    /// The types the client declared at Parse, which this was worked out for.
    declared: Vec<Option<Type>>,
    /// The type the plan expects for each parameter.
    expected: Vec<Option<DataType>>,
    /// The type each parameter is advertised as.
    wire: Vec<Type>,
    /// The Arrow type to decode each value as; `None` where the client
    /// declared a type.
    decode_as: Vec<Option<DataType>>,
    /// `wire`, each as arrow-pg decodes it ([`decodable`]).
    decoded_wire: Vec<Type>,
    /// The client's declarations as arrow-pg decodes them, where one
    /// differs (a client that declared `oid[]` itself).
    redeclared: Option<Vec<Option<Type>>>,
}

impl Decoding {
    pub fn new(
        inferred: &[(usize, Option<DataType>)],
        oids: &[(usize, Type)],
        declared: &[Option<Type>],
    ) -> Self {
        let expected: Vec<Option<DataType>> = inferred.iter().map(|(_, t)| t.clone()).collect();
        // A value whose type the client declared is decoded as that type and
        // cast afterwards, as PostgreSQL does (`$1::text` bound to an int4 is
        // its text); arrow-pg's own coercion only converts between numbers.
        let decode_as = expected
            .iter()
            .enumerate()
            .map(|(i, t)| match declared.get(i) {
                Some(Some(_)) => None,
                _ => t.clone(),
            })
            .collect();
        let wire = wire_types(inferred, oids);
        let redeclared = declared
            .iter()
            .flatten()
            .any(|t| decodable(t) != *t)
            .then(|| declared.iter().map(|t| t.as_ref().map(decodable)).collect());
        Decoding {
            declared: declared.to_vec(),
            decoded_wire: wire.iter().map(decodable).collect(),
            wire,
            expected,
            decode_as,
            redeclared,
        }
    }

    /// Whether this was worked out for these declared types.
    pub fn fits(&self, declared: &[Option<Type>]) -> bool {
        self.declared == declared
    }
}

/// Decodes the values bound to `portal` as `decoding` says and casts them to
/// the types the plan expects.
pub fn decode<S: Clone>(portal: &Portal<S>, decoding: &Decoding) -> PgWireResult<ParamValues> {
    if portal.parameter_len() != decoding.expected.len() {
        return Err(to_pgwire(SqlStateError::new(
            sqlstate::PROTOCOL_VIOLATION,
            format!(
                "bind message supplies {} parameters, but prepared statement requires {}",
                portal.parameter_len(),
                decoding.expected.len()
            ),
        )));
    }
    if decoding.expected.is_empty() {
        return Ok(ParamValues::List(Vec::new()));
    }
    let wire: Vec<Option<&Type>> = decoding.decoded_wire.iter().map(Some).collect();
    let decode_as: Vec<Option<&DataType>> = decoding.decode_as.iter().map(Option::as_ref).collect();
    let values = if let Some(redeclared) = &decoding.redeclared {
        // A client that declared `oid[]` itself: the same portal with the
        // declarations arrow-pg decodes.
        let mut declared_as = Portal::new_cursor(
            portal.name.clone(),
            std::sync::Arc::new(pgwire::api::stmt::StoredStatement::new(
                portal.statement.id.clone(),
                portal.statement.statement.clone(),
                redeclared.clone(),
            )),
        );
        declared_as.parameter_format = portal.parameter_format.clone();
        declared_as.parameters = portal.parameters.clone();
        deserialize_parameters_with_server_types(&declared_as, &decode_as, &wire)?
    } else {
        deserialize_parameters_with_server_types(portal, &decode_as, &wire)?
    };
    let ParamValues::List(list) = values else {
        return Ok(values);
    };
    let mut out = Vec::with_capacity(list.len());
    for (i, (value, expected)) in list.into_iter().zip(&decoding.expected).enumerate() {
        let (scalar, metadata) = value.into_inner();
        let scalar = match expected {
            Some(t) if !scalar.is_null() && scalar.data_type() != *t => match int_as(&scalar, t) {
                Some(converted) => Ok(converted),
                None => scalar.cast_to(t),
            }
            .map_err(|_| {
                to_pgwire(SqlStateError::bad_data(format!(
                    "parameter ${}: value {scalar} cannot be converted to {}",
                    i + 1,
                    decoding.wire[i].name()
                )))
            })?,
            Some(t) if scalar.is_null() => ScalarValue::try_from(t).unwrap_or(scalar),
            _ => scalar,
        };
        out.push(datafusion::common::metadata::ScalarAndMetadata::new(
            scalar, metadata,
        ));
    }
    Ok(ParamValues::List(out))
}

/// An integer bound for a parameter of another integer or float type (psycopg
/// binds a small Python int as int2), converted as arrow's cast would, or
/// None when it does not fit or is another conversion. `ScalarValue::cast_to`
/// goes through a one-value array and arrow's cast kernel: three quarters of
/// the decoding of a `SELECT $1::int`.
fn int_as(value: &ScalarValue, target: &DataType) -> Option<ScalarValue> {
    let v = match value {
        ScalarValue::Int16(Some(v)) => i64::from(*v),
        ScalarValue::Int32(Some(v)) => i64::from(*v),
        ScalarValue::Int64(Some(v)) => *v,
        _ => return None,
    };
    Some(match target {
        DataType::Int16 => ScalarValue::Int16(Some(i16::try_from(v).ok()?)),
        DataType::Int32 => ScalarValue::Int32(Some(i32::try_from(v).ok()?)),
        DataType::Int64 => ScalarValue::Int64(Some(v)),
        DataType::Float32 => ScalarValue::Float32(Some(v as f32)),
        DataType::Float64 => ScalarValue::Float64(Some(v as f64)),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_convert_as_arrow_casts_them() {
        let values = [
            ScalarValue::Int16(Some(-7)),
            ScalarValue::Int16(Some(i16::MAX)),
            ScalarValue::Int32(Some(1)),
            ScalarValue::Int32(Some(i32::MIN)),
            ScalarValue::Int32(Some(70_000)),
            ScalarValue::Int64(Some(i64::MAX)),
            ScalarValue::Int64(Some(-3_000_000_000)),
            ScalarValue::Int64(Some((1 << 53) + 1)),
        ];
        let targets = [
            DataType::Int16,
            DataType::Int32,
            DataType::Int64,
            DataType::Float32,
            DataType::Float64,
        ];
        let mut converted = 0;
        for value in &values {
            for target in &targets {
                let cast = value.cast_to(target).ok();
                assert_eq!(int_as(value, target), cast, "{value:?} as {target}");
                converted += usize::from(cast.is_some());
            }
        }
        // Some do not fit (70000 as int2, i64::MAX as int4...).
        assert!(converted > 30 && converted < values.len() * targets.len());
        // Everything else is left to arrow.
        assert_eq!(
            int_as(&ScalarValue::Utf8(Some("1".into())), &DataType::Int32),
            None
        );
        assert_eq!(int_as(&ScalarValue::Int32(Some(1)), &DataType::Utf8), None);
        assert_eq!(int_as(&ScalarValue::Int32(None), &DataType::Int64), None);
    }
}
