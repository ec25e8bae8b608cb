//! Rewrites of catalog queries that client libraries send and DataFusion cannot
//! plan as written. Applied after datafusion-pg-catalog's own rewrites.
//!
//! | pattern (only over `pg_catalog` / `information_schema` tables) | rewrite |
//! |---|---|
//! | scalar subquery returning one non-aggregated column, e.g. SQLAlchemy's `(SELECT json_build_object(...) FROM pg_sequence WHERE seqrelid = a.attrelid)` | the column wrapped in `max(...)`: DataFusion only decorrelates aggregated scalar subqueries; over catalog tables the subquery has at most one row, so the answer is the same |
//!
//! | scalar subquery over `pg_sequence`, `pg_attrdef` or `pg_collation` (SQLAlchemy's identity, default and collation columns) | `NULL::text`: Quarry relations have no sequences, column defaults or non-default collations, so these are NULL for every Quarry column; DataFusion cannot plan them inside the `CASE` they come in |
//!
//! User queries are not rewritten otherwise, with exceptions that give
//! names and meanings as PostgreSQL gives them: bare columns in a struct
//! literal (`NameStructFields`), casts of a column in a select list
//! (`NameCastColumns`), the column of a one-column function in `FROM` named
//! by its alias (`NameFunctionColumns`: `generate_series(1, 3) g` has a
//! column `g`), and `LIKE ... ESCAPE` with any character (`LikeEscapes`). A subquery over user tables keeps its meaning and,
//! if DataFusion cannot plan it, its error.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments, Ident,
    ObjectName, Query, SelectItem, SetExpr, Statement, TableFactor, TableWithJoins, VisitorMut,
};

const AGGREGATES: &[&str] = &[
    "count",
    "sum",
    "min",
    "max",
    "avg",
    "array_agg",
    "string_agg",
    "bool_and",
    "bool_or",
    "every",
    "first_value",
    "last_value",
    "json_agg",
    "jsonb_agg",
];

pub fn is_catalog_table(name: &ObjectName) -> bool {
    let parts: Vec<String> = name
        .0
        .iter()
        .filter_map(|p| p.as_ident())
        .map(|i| i.value.to_ascii_lowercase())
        .collect();
    match parts.as_slice() {
        [table] => table.starts_with("pg_"),
        [.., schema, _] => schema == "pg_catalog" || schema == "information_schema",
        [] => false,
    }
}

fn reads_only_catalog(query: &Query) -> bool {
    let SetExpr::Select(select) = query.body.as_ref() else {
        return false;
    };
    !select.from.is_empty()
        && select.from.iter().all(|t| {
            std::iter::once(&t.relation)
                .chain(t.joins.iter().map(|j| &j.relation))
                .all(|f| matches!(f, TableFactor::Table { name, .. } if is_catalog_table(name)))
        })
}

/// Catalog tables with no rows about Quarry's own relations.
const EMPTY_FOR_QUARRY: &[&str] = &["pg_sequence", "pg_attrdef", "pg_collation"];

fn reads_empty_catalog(query: &Query) -> bool {
    let SetExpr::Select(select) = query.body.as_ref() else {
        return false;
    };
    select.from.iter().any(|t| {
        std::iter::once(&t.relation)
            .chain(t.joins.iter().map(|j| &j.relation))
            .any(|f| match f {
                TableFactor::Table { name, .. } => {
                    name.0.last().and_then(|p| p.as_ident()).is_some_and(|i| {
                        EMPTY_FOR_QUARRY.contains(&i.value.to_ascii_lowercase().as_str())
                    })
                }
                _ => false,
            })
    })
}

fn null_text() -> Expr {
    Expr::Cast {
        kind: datafusion::sql::sqlparser::ast::CastKind::DoubleColon,
        expr: Box::new(Expr::value(datafusion::sql::sqlparser::ast::Value::Null)),
        data_type: datafusion::sql::sqlparser::ast::DataType::Text,
        array: false,
        format: None,
    }
}

pub(super) fn is_aggregate(expr: &Expr) -> bool {
    match expr {
        Expr::Function(f) => f
            .name
            .0
            .last()
            .and_then(|p| p.as_ident())
            .is_some_and(|i| AGGREGATES.contains(&i.value.to_ascii_lowercase().as_str())),
        Expr::Nested(inner) | Expr::Cast { expr: inner, .. } => is_aggregate(inner),
        _ => false,
    }
}

fn wrap_in_max(expr: Expr) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new("max")]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(expr))],
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

/// In a struct literal that names some fields (`struct(age, fee * 12 AS
/// yearly_fee)`), a bare column keeps its column name, as a column does in a
/// select list; DataFusion would call it `c0`. Feature matching by name
/// (SPEC §3.4) relies on it.
struct NameStructFields;

impl VisitorMut for NameStructFields {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let Expr::Struct { values, fields } = expr else {
            return ControlFlow::Continue(());
        };
        if !fields.is_empty() || !values.iter().any(|v| matches!(v, Expr::Named { .. })) {
            return ControlFlow::Continue(());
        }
        for value in values.iter_mut() {
            let Some(name) = column_name(value) else {
                continue;
            };
            let inner = std::mem::replace(
                value,
                Expr::Value(datafusion::sql::sqlparser::ast::Value::Null.into()),
            );
            *value = Expr::Named {
                expr: Box::new(inner),
                name,
            };
        }
        ControlFlow::Continue(())
    }
}

/// An unnamed select item that casts a column (`id::text`, `CAST(t.x AS
/// REAL)`) is named after the column, as PostgreSQL names it. DataFusion
/// names it `t.id`, which clashes with the column itself: `SELECT id::text
/// FROM t ORDER BY id` failed ("projections require unique expression
/// names", apache/datafusion#13558), and `CREATE TABLE ... AS SELECT
/// id::text` made a column called `t.id`. With the name, `ORDER BY id`
/// sorts by the cast value, as in PostgreSQL. A name another item of the
/// list already has (an alias, a column, or another such cast) is left
/// alone: DataFusion would find it ambiguous. Beside an `ORDER BY` that
/// qualifies the column (`ORDER BY t.id`) the name is hidden
/// (`colnames::HIDDEN_NAME`), and the result column still called `id`.
struct NameCastColumns;

impl VisitorMut for NameCastColumns {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        // `ORDER BY b.id` beside an item named `id` is ambiguous to
        // DataFusion (the sort column is added to the projection), so names
        // that ORDER BY qualifies are left alone.
        let mut qualified = std::collections::HashSet::new();
        if let Some(order_by) = &query.order_by {
            let _ = datafusion::sql::sqlparser::ast::visit_expressions(order_by, |e| {
                if let Expr::CompoundIdentifier(parts) = e
                    && let Some(last) = parts.last()
                {
                    qualified.insert(last.value.to_lowercase());
                }
                ControlFlow::<()>::Continue(())
            });
        }
        name_cast_columns(query.body.as_mut(), &qualified);
        ControlFlow::Continue(())
    }
}

fn name_cast_columns(body: &mut SetExpr, qualified: &std::collections::HashSet<String>) {
    match body {
        SetExpr::Select(select) => {
            let mut names = std::collections::HashMap::<String, usize>::new();
            for item in &select.projection {
                let name = match item {
                    SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.to_lowercase()),
                    // A column of the same name makes the name ambiguous in
                    // DataFusion: `SELECT id::text, id ... ORDER BY 2`.
                    SelectItem::UnnamedExpr(expr) => column_name(expr)
                        .or_else(|| cast_column(expr))
                        .map(|ident| ident.value.to_lowercase()),
                    _ => None,
                };
                if let Some(name) = name {
                    *names.entry(name).or_default() += 1;
                }
            }
            for item in select.projection.iter_mut() {
                let SelectItem::UnnamedExpr(expr) = item else {
                    continue;
                };
                let Some(alias) = cast_column(expr) else {
                    continue;
                };
                let name = alias.value.to_lowercase();
                if names.get(&name) != Some(&1) {
                    continue;
                }
                // Beside `ORDER BY t.id` the cast takes a name of its own
                // (DataFusion adds the sort column `id` to the projection);
                // the result column is still called `id`.
                let alias = match qualified.contains(&name) {
                    true => Ident::new(format!(
                        "{}{}",
                        crate::compat::colnames::HIDDEN_NAME,
                        alias.value
                    )),
                    false => alias,
                };
                let expr = std::mem::replace(
                    expr,
                    Expr::value(datafusion::sql::sqlparser::ast::Value::Null),
                );
                *item = SelectItem::ExprWithAlias { expr, alias };
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            name_cast_columns(left, qualified);
            name_cast_columns(right, qualified);
        }
        _ => {}
    }
}

/// PostgreSQL's name for an unnamed special register in a select list
/// (`current_user`, `session_user`, `user`, `current_catalog`,
/// `current_schema`): the register's own name.
fn special_register(expr: &Expr) -> Option<String> {
    let name = match expr {
        Expr::Function(f) if matches!(f.args, FunctionArguments::None) => {
            let [part] = f.name.0.as_slice() else {
                return None;
            };
            part.as_ident()?
        }
        Expr::Identifier(ident) => ident,
        _ => return None,
    };
    if name.quote_style.is_some() {
        return None;
    }
    let lower = name.value.to_lowercase();
    matches!(
        lower.as_str(),
        "current_user"
            | "session_user"
            | "user"
            | "current_role"
            | "current_catalog"
            | "current_schema"
    )
    .then_some(lower)
}

/// Each select list's register names, in visit order (see
/// [`name_special_registers`]).
#[derive(Default)]
struct RegisterNames {
    lists: Vec<Vec<Option<String>>>,
}

fn select_lists<'a>(body: &'a SetExpr, out: &mut Vec<&'a Vec<SelectItem>>) {
    match body {
        SetExpr::Select(select) => out.push(&select.projection),
        SetExpr::SetOperation { left, right, .. } => {
            select_lists(left, out);
            select_lists(right, out);
        }
        _ => {}
    }
}

pub(super) fn select_lists_mut<'a>(body: &'a mut SetExpr, out: &mut Vec<&'a mut Vec<SelectItem>>) {
    match body {
        SetExpr::Select(select) => out.push(&mut select.projection),
        SetExpr::SetOperation { left, right, .. } => {
            select_lists_mut(left, out);
            select_lists_mut(right, out);
        }
        _ => {}
    }
}

impl datafusion::sql::sqlparser::ast::Visitor for RegisterNames {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        let mut lists = Vec::new();
        select_lists(&query.body, &mut lists);
        for list in lists {
            self.lists.push(
                list.iter()
                    .map(|item| match item {
                        SelectItem::UnnamedExpr(expr) => special_register(expr),
                        _ => None,
                    })
                    .collect(),
            );
        }
        ControlFlow::Continue(())
    }
}

struct ApplyRegisterNames {
    lists: std::vec::IntoIter<Vec<Option<String>>>,
}

impl VisitorMut for ApplyRegisterNames {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        let mut lists = Vec::new();
        select_lists_mut(query.body.as_mut(), &mut lists);
        for list in lists {
            let Some(names) = self.lists.next() else {
                return ControlFlow::Break(());
            };
            if names.len() != list.len() {
                continue;
            }
            let mut taken = std::collections::HashMap::<&str, usize>::new();
            for item in list.iter() {
                if let SelectItem::ExprWithAlias { alias, .. } = item {
                    *taken.entry(alias.value.as_str()).or_default() += 1;
                }
            }
            for name in names.iter().flatten() {
                *taken.entry(name.as_str()).or_default() += 1;
            }
            let unique: Vec<bool> = names
                .iter()
                .map(|n| n.as_deref().is_some_and(|n| taken.get(n) == Some(&1)))
                .collect();
            for ((item, name), unique) in list.iter_mut().zip(names).zip(unique) {
                if let (SelectItem::UnnamedExpr(expr), Some(name), true) = (&*item, name, unique) {
                    *item = SelectItem::ExprWithAlias {
                        expr: expr.clone(),
                        alias: Ident::new(name),
                    };
                }
            }
        }
        ControlFlow::Continue(())
    }
}

/// Names unnamed special registers in select lists as PostgreSQL does
/// (`SELECT current_user` is a column called `current_user`). The
/// compatibility parser renames `current_user` to `session_user` and
/// `current_catalog` to `current_database()`, after which the spellings
/// cannot be told apart (its tokens carry no positions), and `SELECT
/// current_user, session_user` had two items named `session_user()` that
/// DataFusion refused. So the names are read from `original`, the statement
/// as sqlparser alone parsed it, and set on the same select lists of
/// `rewritten`; nothing is named when the rewrite changed the lists.
pub fn name_special_registers(original: &Statement, rewritten: &mut Statement) {
    let mut names = RegisterNames::default();
    let _ = datafusion::sql::sqlparser::ast::Visit::visit(original, &mut names);
    if names.lists.iter().all(|l| l.iter().all(Option::is_none)) {
        return;
    }
    let mut count = RegisterNames::default();
    let _ = datafusion::sql::sqlparser::ast::Visit::visit(&*rewritten, &mut count);
    let shape = |lists: &[Vec<Option<String>>]| lists.iter().map(Vec::len).collect::<Vec<_>>();
    if shape(&names.lists) != shape(&count.lists) {
        return;
    }
    let _ = datafusion::sql::sqlparser::ast::VisitMut::visit(
        rewritten,
        &mut ApplyRegisterNames {
            lists: names.lists.into_iter(),
        },
    );
}

/// Whether `sql` may name a special register that
/// [`name_special_registers`] names (a cheap test before a second parse).
pub fn mentions_special_register(sql: &str) -> bool {
    const WORDS: [&[u8]; 5] = [
        b"current_user",
        b"session_user",
        b"current_catalog",
        b"current_schema",
        b"current_role",
    ];
    sql.as_bytes()
        .windows(12)
        .any(|w| WORDS.iter().any(|word| w.eq_ignore_ascii_case(&word[..12])))
}

/// The name of a bare column (`id`, `t.id`): its last identifier.
fn column_name(expr: &Expr) -> Option<Ident> {
    match expr {
        Expr::Identifier(ident) => Some(ident.clone()),
        Expr::CompoundIdentifier(parts) => parts.last().cloned(),
        _ => None,
    }
}

/// The unnamed arguments of `expr` when it is a call of the function
/// `name` (however qualified, in any case), or None.
fn call_arguments<'a>(expr: &'a Expr, name: &str) -> Option<Vec<&'a Expr>> {
    let Expr::Function(f) = expr else {
        return None;
    };
    let named = f
        .name
        .0
        .last()
        .and_then(|p| p.as_ident())
        .is_some_and(|i| i.value.eq_ignore_ascii_case(name));
    let FunctionArguments::List(list) = &f.args else {
        return None;
    };
    if !named {
        return None;
    }
    list.args
        .iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
            _ => None,
        })
        .collect()
}

/// `array` as SQL text of an array: a vector column (`VECTOR_COLUMNS`,
/// space-separated text here) read as its `bigint[]`, anything else as
/// itself.
fn vector_as_array(array: &Expr) -> String {
    let vector = column_name(array)
        .is_some_and(|c| VECTOR_COLUMNS.contains(&c.value.to_ascii_lowercase().as_str()));
    match vector {
        true => format!("CAST(string_to_array(nullif({array}, ''), ' ') AS BIGINT[])"),
        false => array.to_string(),
    }
}

/// The column a cast (or casts, in parentheses or not) is of.
fn cast_column(expr: &Expr) -> Option<Ident> {
    fn column(expr: &Expr) -> Option<Ident> {
        match expr {
            Expr::Nested(inner) | Expr::Cast { expr: inner, .. } => column(inner),
            _ => column_name(expr),
        }
    }
    match expr {
        Expr::Cast { expr, .. } => column(expr),
        Expr::Nested(inner) => cast_column(inner),
        _ => None,
    }
}

struct AggregateCatalogSubqueries;

impl VisitorMut for AggregateCatalogSubqueries {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let Expr::Subquery(query) = expr else {
            return ControlFlow::Continue(());
        };
        if !reads_only_catalog(query) {
            return ControlFlow::Continue(());
        }
        if reads_empty_catalog(query) {
            *expr = null_text();
            return ControlFlow::Continue(());
        }
        let SetExpr::Select(select) = query.body.as_mut() else {
            return ControlFlow::Continue(());
        };
        if select.projection.len() != 1 || !select.group_by_is_empty() {
            return ControlFlow::Continue(());
        }
        let item = &mut select.projection[0];
        let inner = match item {
            SelectItem::UnnamedExpr(e) => e,
            SelectItem::ExprWithAlias { expr, .. } => expr,
            _ => return ControlFlow::Continue(()),
        };
        if !is_aggregate(inner) {
            let taken = std::mem::replace(
                inner,
                Expr::value(datafusion::sql::sqlparser::ast::Value::Null),
            );
            *inner = wrap_in_max(taken);
        }
        // Aggregated, it has one row; the compatibility parser's `LIMIT 1`
        // stamp would only keep DataFusion from decorrelating it.
        if is_limit_one(query.limit_clause.as_ref()) {
            query.limit_clause = None;
        }
        ControlFlow::Continue(())
    }
}

fn is_limit_one(limit: Option<&datafusion::sql::sqlparser::ast::LimitClause>) -> bool {
    use datafusion::sql::sqlparser::ast::{LimitClause, Value};
    matches!(
        limit,
        Some(LimitClause::LimitOffset { limit: Some(Expr::Value(v)), offset: None, limit_by })
            if limit_by.is_empty() && matches!(&v.value, Value::Number(n, _) if n == "1")
    )
}

pub(super) trait GroupByExt {
    fn group_by_is_empty(&self) -> bool;
}

impl GroupByExt for datafusion::sql::sqlparser::ast::Select {
    fn group_by_is_empty(&self) -> bool {
        match &self.group_by {
            datafusion::sql::sqlparser::ast::GroupByExpr::Expressions(e, _) => e.is_empty(),
            datafusion::sql::sqlparser::ast::GroupByExpr::All(_) => false,
        }
    }
}

/// `information_schema.tables` with PostgreSQL's columns: DataFusion's has
/// the first four only, and tools read `is_insertable_into` (sqlsmith's
/// schema query does). Read from DataFusion's, the rest derived or NULL as
/// PostgreSQL gives them for plain tables and views.
const TABLES_WITH_ALL_COLUMNS: &str = "SELECT table_catalog, table_schema, table_name, \
     CASE WHEN table_schema = 'pg_temp' AND table_type = 'BASE TABLE' THEN 'LOCAL TEMPORARY' \
     ELSE table_type END AS table_type, \
     CAST(NULL AS TEXT) AS self_referencing_column_name, CAST(NULL AS TEXT) AS reference_generation, \
     CAST(NULL AS TEXT) AS user_defined_type_catalog, CAST(NULL AS TEXT) AS user_defined_type_schema, \
     CAST(NULL AS TEXT) AS user_defined_type_name, \
     CASE WHEN table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema') \
     THEN 'YES' ELSE 'NO' END AS is_insertable_into, 'NO' AS is_typed, CAST(NULL AS TEXT) AS commit_action \
     FROM information_schema.tables";

/// `information_schema.columns` as PostgreSQL's: positions from 1, types
/// by PostgreSQL's names (DataFusion's gives Arrow's, `Int32`, `Utf8`;
/// `compat::column_type` names them as `pg_typeof` and the wire do),
/// with the precision, radix and scale PostgreSQL gives each type, and
/// `udt_name`. dbt reads `data_type` and these to compare and widen
/// columns; Grafana and others list columns with them.
const COLUMNS_AS_POSTGRES: &str = "SELECT table_catalog, table_schema, table_name, column_name, \
     ordinal_position, column_default, is_nullable, data_type, character_maximum_length, \
     character_octet_length, \
     CASE data_type WHEN 'smallint' THEN 16 WHEN 'integer' THEN 32 WHEN 'bigint' THEN 64 \
     WHEN 'real' THEN 24 WHEN 'double precision' THEN 53 WHEN 'numeric' THEN numeric_precision \
     END AS numeric_precision, \
     CASE WHEN data_type IN ('smallint', 'integer', 'bigint', 'real', 'double precision') THEN 2 \
     WHEN data_type = 'numeric' THEN 10 END AS numeric_precision_radix, \
     CASE WHEN data_type IN ('smallint', 'integer', 'bigint') THEN 0 \
     WHEN data_type = 'numeric' THEN numeric_scale END AS numeric_scale, \
     CASE WHEN data_type = 'date' THEN 0 \
     WHEN data_type LIKE 'time%' OR data_type = 'interval' THEN 6 END AS datetime_precision, \
     interval_type, CAST(NULL AS INT) AS interval_precision, \
     CAST(NULL AS TEXT) AS character_set_catalog, CAST(NULL AS TEXT) AS character_set_schema, \
     CAST(NULL AS TEXT) AS character_set_name, CAST(NULL AS TEXT) AS collation_catalog, \
     CAST(NULL AS TEXT) AS collation_schema, CAST(NULL AS TEXT) AS collation_name, \
     CAST(NULL AS TEXT) AS domain_catalog, CAST(NULL AS TEXT) AS domain_schema, \
     CAST(NULL AS TEXT) AS domain_name, \
     table_catalog AS udt_catalog, 'pg_catalog' AS udt_schema, udt_name, \
     CAST(NULL AS TEXT) AS scope_catalog, CAST(NULL AS TEXT) AS scope_schema, \
     CAST(NULL AS TEXT) AS scope_name, CAST(NULL AS INT) AS maximum_cardinality, \
     CAST(ordinal_position AS TEXT) AS dtd_identifier, 'NO' AS is_self_referencing, \
     'NO' AS is_identity, CAST(NULL AS TEXT) AS identity_generation, \
     CAST(NULL AS TEXT) AS identity_start, CAST(NULL AS TEXT) AS identity_increment, \
     CAST(NULL AS TEXT) AS identity_maximum, CAST(NULL AS TEXT) AS identity_minimum, \
     'NO' AS identity_cycle, 'NEVER' AS is_generated, \
     CAST(NULL AS TEXT) AS generation_expression, 'YES' AS is_updatable \
     FROM (SELECT table_catalog, table_schema, table_name, column_name, \
     CAST(ordinal_position + 1 AS INT) AS ordinal_position, column_default, is_nullable, \
     character_maximum_length, character_octet_length, numeric_precision, numeric_scale, \
     interval_type, quarry_column_type(data_type, 'data_type') AS data_type, \
     quarry_column_type(data_type, 'udt_name') AS udt_name \
     FROM information_schema.columns) c";

/// `pg_class` with PostgreSQL's `relacl` and `reloptions` (NULL: Quarry
/// keeps neither), which datafusion-pg-catalog's lacks (SQLAlchemy's index
/// reflection reads `reloptions`), and a relation of kind `i` for the
/// index behind each declared primary key (`<table>_pkey`, the `pg_index`
/// row's `indexrelid`), which pgJDBC's `getPrimaryKeys` joins to; a table
/// with a key `relhasindex` (psql's `\d` lists indexes only then).
static CLASSES_WITH_OPTIONS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT c.oid, c.relname, c.relnamespace, c.reltype, c.reloftype, c.relowner, \
         c.relam, c.relfilenode, c.reltablespace, c.relpages, c.reltuples, c.relallvisible, \
         c.reltoastrelid, c.relhasindex OR keyed.keyed_oid IS NOT NULL AS relhasindex, \
         c.relisshared, c.relpersistence, \
         CASE WHEN mv.mv_name IS NOT NULL THEN 'm' ELSE c.relkind END AS relkind, \
         c.relnatts, c.relchecks, c.relhasrules, \
         c.relhastriggers, c.relhassubclass, c.relrowsecurity, c.relforcerowsecurity, \
         c.relispopulated, c.relreplident, c.relispartition, c.relrewrite, c.relfrozenxid, \
         c.relminmxid, c.relpartbound, CAST(NULL AS TEXT[]) AS relacl, \
         CAST(NULL AS TEXT[]) AS reloptions FROM pg_catalog.pg_class c \
         LEFT JOIN (SELECT DISTINCT c.oid AS keyed_oid FROM {KEYED_TABLES}) keyed \
         ON keyed.keyed_oid = c.oid \
         LEFT JOIN (SELECT n.oid AS mv_namespace, m.view_name AS mv_name \
         FROM public.quarry_matviews m JOIN pg_catalog.pg_namespace n \
         ON n.nspname = m.schema_name) mv \
         ON mv.mv_namespace = c.relnamespace AND mv.mv_name = c.relname \
         UNION ALL SELECT CAST(c.oid + 1100000000 AS INT) AS oid, \
         k.relation_name || '_pkey' AS relname, c.relnamespace, CAST(0 AS INT) AS reltype, \
         c.reloftype, c.relowner, CAST(403 AS INT) AS relam, \
         CAST(c.oid + 1100000000 AS INT) AS relfilenode, c.reltablespace, c.relpages, \
         c.reltuples, c.relallvisible, CAST(0 AS INT) AS reltoastrelid, false AS relhasindex, \
         c.relisshared, c.relpersistence, 'i' AS relkind, CAST(k.ncolumns AS SMALLINT) AS relnatts, \
         c.relchecks, c.relhasrules, c.relhastriggers, c.relhassubclass, c.relrowsecurity, \
         c.relforcerowsecurity, c.relispopulated, c.relreplident, c.relispartition, c.relrewrite, \
         c.relfrozenxid, c.relminmxid, c.relpartbound, CAST(NULL AS TEXT[]) AS relacl, \
         CAST(NULL AS TEXT[]) AS reloptions FROM {KEYED_TABLES}"
    )
});

/// `pg_tables` as PostgreSQL's: tables only (datafusion-pg-catalog lists
/// views and system views too), and its column `hasindexes` so spelled.
const TABLES_WITHOUT_VIEWS: &str = "SELECT t.schemaname, t.tablename, t.tableowner, t.tablespace, \
     t.hasindex AS hasindexes, t.hasrules, t.hastriggers, t.rowsecurity \
     FROM pg_catalog.pg_tables t LEFT JOIN information_schema.tables v \
     ON v.table_schema = t.schemaname AND v.table_name = t.tablename AND v.table_type = 'VIEW' \
     LEFT JOIN public.quarry_matviews m \
     ON m.schema_name = t.schemaname AND m.view_name = t.tablename \
     WHERE v.table_name IS NULL AND m.view_name IS NULL";

/// `pg_matviews`: the materialized views (`quarry_matviews`), which
/// `pg_tables` leaves out, as PostgreSQL's do (dbt-postgres lists them
/// there).
const MATERIALIZED_VIEWS: &str = "SELECT m.schema_name AS schemaname, m.view_name AS matviewname, \
     CAST(NULL AS TEXT) AS matviewowner, CAST(NULL AS TEXT) AS tablespace, \
     false AS hasindexes, true AS ispopulated, m.definition \
     FROM public.quarry_matviews m";

/// `pg_views` with the views (datafusion-pg-catalog's is empty): Quarry's
/// views and its read-only system tables, as PostgreSQL lists its own
/// system views there; the definition is the query, as PostgreSQL's is.
const VIEWS: &str = "SELECT v.table_schema AS schemaname, v.table_name AS viewname, \
     CAST(NULL AS TEXT) AS viewowner, \
     regexp_replace(v.definition, '(?is)^\\s*CREATE\\s+(OR\\s+REPLACE\\s+)?(TEMP(ORARY)?\\s+)?VIEW\\s+.+?\\s+AS\\s+', '') \
     AS definition FROM information_schema.views v \
     JOIN information_schema.tables t ON t.table_schema = v.table_schema \
     AND t.table_name = v.table_name AND t.table_type = 'VIEW'";

/// `pg_catalog.pg_cursors`: the system table of the same name.
const CURSORS: &str = "SELECT * FROM public.pg_cursors";

/// `pg_catalog.pg_roles` and `pg_auth_members`: the system tables of the
/// same names (`access::catalogs`); `pg_authid` and `pg_user` are made
/// from `pg_roles`.
const ROLES: &str = "SELECT * FROM public.pg_roles";
const AUTH_MEMBERS: &str = "SELECT * FROM public.pg_auth_members";
const AUTHID: &str = "SELECT oid, rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, \
     rolcanlogin, rolreplication, rolbypassrls, rolconnlimit, rolpassword, rolvaliduntil \
     FROM public.pg_roles";
const USERS: &str = "SELECT rolname AS usename, oid AS usesysid, rolcreatedb AS usecreatedb, \
     rolsuper AS usesuper, rolreplication AS userepl, rolbypassrls AS usebypassrls, \
     rolpassword AS passwd, rolvaliduntil AS valuntil, rolconfig AS useconfig \
     FROM public.pg_roles WHERE rolcanlogin";

/// `pg_catalog.pg_stat_activity`: the system table of the same name.
const STAT_ACTIVITY: &str = "SELECT * FROM public.pg_stat_activity";

/// `pg_description` with what `COMMENT ON` stored (`quarry_comments`,
/// given the oids datafusion-pg-catalog gives the relations in `pg_class`,
/// and `pg_class`'s own oid there, which is what `'pg_class'::regclass`
/// answers), then its own rows (descriptions of built-in functions and
/// types).
const DESCRIPTIONS: &str = "SELECT c.oid AS objoid, k.class_oid AS classoid, \
     q.objsubid, q.description FROM public.quarry_comments q \
     JOIN pg_catalog.pg_namespace n ON n.nspname = q.schema_name \
     JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = q.relation_name \
     CROSS JOIN (SELECT kc.oid AS class_oid FROM pg_catalog.pg_class kc \
     JOIN pg_catalog.pg_namespace kn ON kn.oid = kc.relnamespace \
     WHERE kc.relname = 'pg_class' AND kn.nspname = 'pg_catalog') k \
     UNION ALL SELECT f.oid AS objoid, k.class_oid AS classoid, CAST(0 AS INT) AS objsubid, \
     f.description FROM public.quarry_functions f \
     CROSS JOIN (SELECT kc.oid AS class_oid FROM pg_catalog.pg_class kc \
     JOIN pg_catalog.pg_namespace kn ON kn.oid = kc.relnamespace \
     WHERE kc.relname = 'pg_proc' AND kn.nspname = 'pg_catalog') k \
     UNION ALL SELECT objoid, classoid, objsubid, description FROM pg_catalog.pg_description";

/// The tables with a declared primary key (`quarry_keys`) and their
/// oids, for the key's `pg_constraint` and `pg_index` rows. The key's
/// constraint and index take oids derived from the table's, above those
/// of every relation.
const KEYED_TABLES: &str = "public.quarry_keys k \
     JOIN pg_catalog.pg_namespace n ON n.nspname = k.schema_name \
     JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = k.relation_name";

/// `pg_constraint` with a primary key constraint (`p`, named
/// `<table>_pkey` as PostgreSQL names it) for each table that declares
/// one; `conkey` and `confkey` as PostgreSQL's `smallint[]`
/// (datafusion-pg-catalog keeps them as text, which pgJDBC's
/// `getImportedKeys` cannot subscript).
static CONSTRAINTS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT oid, conname, connamespace, contype, condeferrable, condeferred, convalidated, \
         conrelid, contypid, conindid, conparentid, confrelid, confupdtype, confdeltype, \
         confmatchtype, conislocal, coninhcount, connoinherit, \
         CAST(string_to_array(btrim(conkey, '[]'), ', ') AS SMALLINT[]) AS conkey, \
         CAST(string_to_array(btrim(confkey, '[]'), ', ') AS SMALLINT[]) AS confkey, conpfeqop, \
         conppeqop, conffeqop, confdelsetcols, conexclop, conbin FROM pg_catalog.pg_constraint \
         UNION ALL SELECT CAST(c.oid + 1000000000 AS INT) AS oid, \
         k.relation_name || '_pkey' AS conname, n.oid AS connamespace, \
         'p', false, false, true, c.oid AS conrelid, CAST(0 AS INT), \
         CAST(c.oid + 1100000000 AS INT) AS conindid, \
         CAST(0 AS INT), CAST(0 AS INT), ' ', ' ', ' ', true, CAST(0 AS SMALLINT), true, \
         CAST(string_to_array(k.columns, ' ') AS SMALLINT[]), CAST(NULL AS SMALLINT[]), \
         CAST(NULL AS TEXT), CAST(NULL AS TEXT), CAST(NULL AS TEXT), CAST(NULL AS TEXT), \
         CAST(NULL AS TEXT), CAST(NULL AS TEXT) FROM {KEYED_TABLES}"
    )
});

/// `pg_index` with the unique index behind each declared primary key (its
/// `indkey` the key's columns, described as PostgreSQL's `int2vector`:
/// `compat::int2vector`), as PostgreSQL makes one for a key;
/// `indoption` an array (pgJDBC's `getIndexInfo` subscripts it; an
/// `int2vector` counts from 0, so `indoption[0]`, its first, is NULL here
/// and read as ascending, which is what every key here is).
static INDEXES: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT indexrelid, indrelid, indnatts, indnkeyatts, indisunique, indnullsnotdistinct, \
         indisprimary, indisexclusion, indimmediate, indisclustered, indisvalid, indcheckxmin, \
         indisready, indislive, indisreplident, quarry_int2vector(indkey) AS indkey, \
         indcollation, indclass, \
         CAST(string_to_array(nullif(indoption, ''), ' ') AS SMALLINT[]) AS indoption, \
         indexprs, indpred FROM pg_catalog.pg_index \
         UNION ALL SELECT CAST(c.oid + 1100000000 AS INT) AS indexrelid, c.oid AS indrelid, \
         CAST(k.ncolumns AS SMALLINT), \
         CAST(k.ncolumns AS SMALLINT), true, false, true, false, true, false, true, false, \
         true, true, false, quarry_int2vector(k.columns), CAST(NULL AS TEXT), \
         CAST(NULL AS TEXT), \
         CAST(NULL AS SMALLINT[]), CAST(NULL AS TEXT), CAST(NULL AS TEXT) FROM {KEYED_TABLES}"
    )
});

/// The key columns of each table that declares a primary key: the table's
/// oid, names, and each column's number in the table (`e['x']`) and in the
/// key (`e['n']`).
static KEY_COLUMNS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT c.oid AS table_oid, k.schema_name, k.relation_name, \
         unnest(quarry_expandarray(CAST(string_to_array(k.columns, ' ') AS BIGINT[]))) AS e \
         FROM {KEYED_TABLES}"
    )
});

/// `pg_attribute` with the columns of the index behind each declared
/// primary key (the table's key columns, numbered from 1 in key order), as
/// PostgreSQL lists an index's columns; psqlODBC's `SQLPrimaryKeys` reads
/// them. `attacl` is a (NULL) text array as PostgreSQL's `aclitem[]`
/// (psql's `\dp` joins it with `array_to_string`).
static ATTRIBUTES: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT attrelid, attname, atttypid, attstattarget, attlen, attnum, attndims, \
         attcacheoff, atttypmod, attbyval, attalign, attstorage, attcompression, attnotnull, \
         atthasdef, atthasmissing, attidentity, attgenerated, attisdropped, attislocal, \
         attinhcount, attcollation, CAST(NULL AS TEXT[]) AS attacl, attoptions, attfdwoptions, \
         attmissingval FROM pg_catalog.pg_attribute \
         UNION ALL SELECT CAST(kc.table_oid + 1100000000 AS INT) AS attrelid, a.attname, \
         a.atttypid, a.attstattarget, a.attlen, CAST(kc.e['n'] AS SMALLINT) AS attnum, \
         a.attndims, a.attcacheoff, a.atttypmod, a.attbyval, a.attalign, a.attstorage, \
         a.attcompression, a.attnotnull, false AS atthasdef, a.atthasmissing, a.attidentity, \
         a.attgenerated, a.attisdropped, a.attislocal, a.attinhcount, a.attcollation, \
         CAST(NULL AS TEXT[]) AS attacl, a.attoptions, a.attfdwoptions, a.attmissingval \
         FROM ({}) kc \
         JOIN pg_catalog.pg_attribute a ON a.attrelid = kc.table_oid AND a.attnum = kc.e['x']",
        KEY_COLUMNS.as_str()
    )
});

/// `information_schema.table_constraints`: the primary key each table
/// declares (`quarry_keys`), named as PostgreSQL names it. PostgreSQL also
/// lists each `NOT NULL` as a `CHECK` constraint here; those are not listed
/// (Metabase and SQLAlchemy read the primary keys).
const TABLE_CONSTRAINTS: &str = "SELECT current_database() AS constraint_catalog, \
     k.schema_name AS constraint_schema, k.relation_name || '_pkey' AS constraint_name, \
     current_database() AS table_catalog, k.schema_name AS table_schema, \
     k.relation_name AS table_name, 'PRIMARY KEY' AS constraint_type, 'NO' AS is_deferrable, \
     'NO' AS initially_deferred, 'YES' AS enforced, CAST(NULL AS TEXT) AS nulls_distinct \
     FROM public.quarry_keys k";

/// `information_schema.key_column_usage`: the columns of each declared
/// primary key, in key order.
static KEY_COLUMN_USAGE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT current_database() AS constraint_catalog, kc.schema_name AS constraint_schema, \
         kc.relation_name || '_pkey' AS constraint_name, current_database() AS table_catalog, \
         kc.schema_name AS table_schema, kc.relation_name AS table_name, \
         a.attname AS column_name, CAST(kc.e['n'] AS INT) AS ordinal_position, \
         CAST(NULL AS INT) AS position_in_unique_constraint \
         FROM ({}) kc \
         JOIN pg_catalog.pg_attribute a ON a.attrelid = kc.table_oid AND a.attnum = kc.e['x']",
        KEY_COLUMNS.as_str()
    )
});

/// What `pg_get_indexdef(oid, n, pretty)` answers for the index behind each
/// declared primary key (the only indexes Quarry has): by index oid and
/// column number, the column's name.
static INDEX_COLUMNS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT CAST(kc.table_oid + 1100000000 AS INT) AS quarry_oid, \
         CAST(kc.e['n'] AS BIGINT) AS quarry_n, quote_ident(a.attname) AS quarry_value \
         FROM ({}) kc \
         JOIN pg_catalog.pg_attribute a ON a.attrelid = kc.table_oid AND a.attnum = kc.e['x']",
        KEY_COLUMNS.as_str()
    )
});

/// What `pg_get_indexdef(oid)` answers for those indexes: PostgreSQL's
/// `CREATE UNIQUE INDEX t_pkey ON s.t USING btree (...)`, and as its pretty
/// form (`pg_get_indexdef(oid, 0, true)`, psql's `\d`) names the table:
/// without the schema when it is the current one.
static INDEX_DEFINITIONS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT CAST(d.table_oid + 1100000000 AS INT) AS quarry_oid, \
         'CREATE UNIQUE INDEX ' || quote_ident(d.relation_name || '_pkey') || ' ON ' || \
         quote_ident(d.schema_name) || '.' || quote_ident(d.relation_name) || \
         ' USING btree (' || d.names || ')' AS quarry_value, \
         'CREATE UNIQUE INDEX ' || quote_ident(d.relation_name || '_pkey') || ' ON ' || \
         CASE WHEN d.schema_name = current_schema() THEN quote_ident(d.relation_name) \
         ELSE quote_ident(d.schema_name) || '.' || quote_ident(d.relation_name) END || \
         ' USING btree (' || d.names || ')' AS quarry_pretty \
         FROM (SELECT kc.table_oid, kc.schema_name, kc.relation_name, \
         string_agg(quote_ident(a.attname), ', ' ORDER BY kc.e['n']) AS names \
         FROM ({}) kc \
         JOIN pg_catalog.pg_attribute a ON a.attrelid = kc.table_oid AND a.attnum = kc.e['x'] \
         GROUP BY kc.table_oid, kc.schema_name, kc.relation_name) d",
        KEY_COLUMNS.as_str()
    )
});

/// `pg_proc` with Quarry's own functions (`quarry_functions`) after
/// PostgreSQL's: in `public`, of unknown argument and result types (the
/// names of their arguments are in `pg_get_function_arguments`); `proacl`
/// as PostgreSQL's array type, NULL (no privileges are kept).
const PROCEDURES: &str = "SELECT oid, proname, pronamespace, proowner, prolang, procost, prorows, \
     provariadic, prosupport, prokind, prosecdef, proleakproof, proisstrict, proretset, \
     provolatile, proparallel, pronargs, pronargdefaults, prorettype, proargtypes, \
     proallargtypes, proargmodes, proargnames, proargdefaults, protrftypes, prosrc, probin, \
     prosqlbody, proconfig, CAST(NULL AS TEXT[]) AS proacl FROM pg_catalog.pg_proc \
     UNION ALL SELECT f.oid, f.proname, n.oid, CAST(10 AS INT), CAST(12 AS INT), \
     CAST(1 AS REAL), CAST(0 AS REAL), CAST(0 AS INT), CAST('-' AS TEXT), f.prokind, false, \
     false, false, f.proretset, CAST('s' AS TEXT), CAST('s' AS TEXT), \
     CAST(f.pronargs AS SMALLINT), CAST(0 AS SMALLINT), \
     CAST(CASE WHEN f.proretset THEN 2249 ELSE 2283 END AS INT), CAST('' AS TEXT), \
     CAST(NULL AS TEXT), CAST(NULL AS TEXT), CAST(NULL AS TEXT), CAST(NULL AS TEXT), \
     CAST(NULL AS TEXT), f.proname AS prosrc, CAST(NULL AS TEXT), CAST(NULL AS TEXT), \
     CAST(NULL AS TEXT), CAST(NULL AS TEXT[]) FROM public.quarry_functions f \
     CROSS JOIN (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = 'public') n";

/// `pg_namespace` with `information_schema` (oid 13283, as in PostgreSQL
/// 16): datafusion-pg-catalog lists the catalog's schemas only, while its
/// `pg_proc` places eleven functions in that namespace, so a lookup of their
/// schema found nothing (sqlsmith stops on that NULL).
const NAMESPACES_WITH_INFORMATION_SCHEMA: &str = "SELECT oid, nspname, nspowner, \
     CAST(NULL AS TEXT[]) AS nspacl, options FROM pg_catalog.pg_namespace \
     UNION ALL SELECT CAST(13283 AS INT), 'information_schema', CAST(10 AS INT), \
     CAST(NULL AS TEXT[]), CAST(NULL AS TEXT)";

/// Catalog columns PostgreSQL types as `oidvector`/`int2vector` (arrays
/// that `unnest` takes) and datafusion-pg-catalog keeps as space-separated
/// text.
const VECTOR_COLUMNS: &[&str] = &["proargtypes", "indkey", "indclass", "indcollation"];

/// Shapes of catalog relations and columns that differ from PostgreSQL's:
/// [`TABLES_WITH_ALL_COLUMNS`], and `unnest(proargtypes)` over the text
/// form of a vector column.
struct CatalogShapes;

impl VisitorMut for CatalogShapes {
    type Break = ();

    fn post_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        if let Some(empty) = unnest_of_empty_options(factor) {
            *factor = empty;
            return ControlFlow::Continue(());
        }
        let TableFactor::Table {
            name,
            alias,
            args: None,
            ..
        } = factor
        else {
            return ControlFlow::Continue(());
        };
        let parts: Vec<String> = name
            .0
            .iter()
            .filter_map(|p| p.as_ident())
            .map(|i| i.value.to_ascii_lowercase())
            .collect();
        let replaced = match parts.as_slice() {
            [.., schema, table] if schema == "information_schema" => match table.as_str() {
                "tables" => Some(TABLES_WITH_ALL_COLUMNS),
                "columns" => Some(COLUMNS_AS_POSTGRES),
                "table_constraints" => Some(TABLE_CONSTRAINTS),
                "key_column_usage" => Some(KEY_COLUMN_USAGE.as_str()),
                _ => None,
            },
            [.., schema, table] if schema == "pg_catalog" => catalog_replacement(table),
            [table] => catalog_replacement(table),
            _ => None,
        };
        let (Some(replacement), Some(default_alias)) = (replaced, parts.last()) else {
            return ControlFlow::Continue(());
        };
        let Ok(Statement::Query(subquery)) = sql_statement(replacement) else {
            return ControlFlow::Continue(());
        };
        let alias = alias
            .take()
            .unwrap_or(datafusion::sql::sqlparser::ast::TableAlias {
                explicit: true,
                name: Ident::new(default_alias),
                columns: vec![],
                at: None,
            });
        *factor = TableFactor::Derived {
            lateral: false,
            subquery,
            alias: Some(alias),
            sample: None,
        };
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        // Descriptions are looked up where DataFusion plans a correlated
        // subquery: in the select list and `WHERE`, outside aggregates.
        // Elsewhere (a join's `ON`, `GROUP BY`, an aggregate's argument)
        // the function stays, and answers NULL as before.
        look_up_descriptions(query.body.as_mut());
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Some(replaced) = domain_base(expr)
            .or_else(|| oid_aggregate(expr))
            .or_else(|| type_name(expr))
            .or_else(|| expanded_array(expr))
        {
            *expr = replaced;
            return ControlFlow::Continue(());
        }
        field_selection(expr);
        vector_subscript(expr);
        vector_any(expr);
        name_as_text(expr);
        if let Expr::BinaryOp { left, op, right } = expr
            && *op == datafusion::sql::sqlparser::ast::BinaryOperator::Eq
        {
            procedure_by_name(left, right);
            procedure_by_name(right, left);
            named_procedure(left, right);
            named_procedure(right, left);
            return ControlFlow::Continue(());
        }
        if let Some(replaced) = subscripts_as_series(expr).or_else(|| vector_unnest(expr)) {
            *expr = replaced;
        }
        ControlFlow::Continue(())
    }
}

/// `CASE WHEN t.typtype = 'd' THEN (WITH RECURSIVE ... ) END`, a domain's
/// base type found by following `typbasetype` down (asyncpg's type
/// introspection), as `CASE WHEN t.typtype = 'd' THEN t.typbasetype END`.
/// DataFusion cannot plan a recursive query correlated with the outer row;
/// the domains in Quarry's catalog (information_schema's) are each over a
/// base type, so one step is the whole walk.
fn domain_base(expr: &Expr) -> Option<Expr> {
    let Expr::Case {
        operand: None,
        conditions,
        else_result,
        ..
    } = expr
    else {
        return None;
    };
    let [when] = conditions.as_slice() else {
        return None;
    };
    let otherwise_null = match else_result.as_deref() {
        None => true,
        Some(Expr::Value(v)) => {
            matches!(v.value, datafusion::sql::sqlparser::ast::Value::Null)
        }
        Some(_) => false,
    };
    let Expr::Subquery(query) = &when.result else {
        return None;
    };
    let recursive = query.with.as_ref().is_some_and(|w| w.recursive);
    let Expr::BinaryOp { left, op, right } = &when.condition else {
        return None;
    };
    let Expr::CompoundIdentifier(parts) = left.as_ref() else {
        return None;
    };
    let domain = matches!(
        right.as_ref(),
        Expr::Value(v) if matches!(
            &v.value,
            datafusion::sql::sqlparser::ast::Value::SingleQuotedString(d) if d == "d"
        )
    );
    let [qualifier, column] = parts.as_slice() else {
        return None;
    };
    if !(otherwise_null
        && recursive
        && domain
        && *op == datafusion::sql::sqlparser::ast::BinaryOperator::Eq
        && column.value.eq_ignore_ascii_case("typtype"))
    {
        return None;
    }
    sql_expr(&format!(
        "CASE WHEN {qualifier}.typtype = 'd' THEN {qualifier}.typbasetype END"
    ))
    .ok()
}

/// `c::regtype::text` (a type's name, as asyncpg's introspection reads
/// it) as `format_type(c, NULL)`, which names types as `regtype` writes
/// them, and `-` for 0 as `regtype` does. The cast alone keeps the number.
fn type_name(expr: &Expr) -> Option<Expr> {
    use datafusion::sql::sqlparser::ast::DataType as SqlType;
    let Expr::Cast {
        expr: inner,
        data_type: SqlType::Text,
        ..
    } = expr
    else {
        return None;
    };
    let mut inner = inner.as_ref();
    while let Expr::Nested(e) = inner {
        inner = e;
    }
    let Expr::Cast {
        expr: oid,
        data_type: SqlType::Custom(name, _),
        ..
    } = inner
    else {
        return None;
    };
    let regtype = name
        .0
        .last()
        .and_then(|p| p.as_ident())
        .is_some_and(|i| i.value.eq_ignore_ascii_case("regtype"));
    // A column or a constant: it is written twice.
    let simple = column_name(oid).is_some() || matches!(oid.as_ref(), Expr::Value(_));
    if !(regtype && simple) {
        return None;
    }
    sql_expr(&format!(
        "CASE WHEN {oid} = 0 THEN '-' ELSE format_type({oid}, NULL) END"
    ))
    .ok()
}

/// `information_schema._pg_expandarray(a)`, PostgreSQL's set-returning
/// function of `(x, n)` rows (each element and its position), as
/// `unnest(quarry_expandarray(a))`; over a vector column (`indkey`), its
/// text read as the array. pgJDBC's `getPrimaryKeys` numbers key columns
/// with it.
fn expanded_array(expr: &Expr) -> Option<Expr> {
    let [array] = call_arguments(expr, "_pg_expandarray")?[..] else {
        return None;
    };
    let array = vector_as_array(array);
    sql_expr(&format!("unnest(quarry_expandarray({array}))")).ok()
}

/// `x = ANY(v)` over a vector column, its text read as the array
/// (dbt-postgres's index listing: `a.attnum = ANY(ix.indkey)`), which the
/// compatibility parser has made `array_contains(v, x)` by now.
fn vector_any(expr: &mut Expr) {
    let array = match expr {
        Expr::AnyOp { right, .. } => right.as_mut(),
        Expr::Function(f)
            if f.name.0.last().and_then(|p| p.as_ident()).is_some_and(|i| {
                i.value.eq_ignore_ascii_case("array_contains")
                    || i.value.eq_ignore_ascii_case("array_has")
            }) =>
        {
            let FunctionArguments::List(list) = &mut f.args else {
                return;
            };
            match list.args.first_mut() {
                Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(array))) => array,
                _ => return,
            }
        }
        _ => return,
    };
    let vector = column_name(array)
        .is_some_and(|c| VECTOR_COLUMNS.contains(&c.value.to_ascii_lowercase().as_str()));
    if !vector {
        return;
    }
    if let Ok(read) = sql_expr(&vector_as_array(array)) {
        *array = read;
    }
}

/// `unnest(v)` over a vector column, its text read as the array.
fn vector_unnest(expr: &Expr) -> Option<Expr> {
    let [array] = call_arguments(expr, "unnest")?[..] else {
        return None;
    };
    column_name(array)
        .filter(|c| VECTOR_COLUMNS.contains(&c.value.to_ascii_lowercase().as_str()))?;
    sql_expr(&format!("unnest({})", vector_as_array(array))).ok()
}

/// `(e).field`, PostgreSQL's selection of a composite's field, as
/// `(e)['field']`, which DataFusion plans (it refuses a dot after a
/// parenthesized expression).
fn field_selection(expr: &mut Expr) {
    use datafusion::sql::sqlparser::ast::{AccessExpr, Subscript, Value};
    let Expr::CompoundFieldAccess { root, access_chain } = expr else {
        return;
    };
    if !matches!(root.as_ref(), Expr::Nested(_)) {
        return;
    }
    for access in access_chain {
        if let AccessExpr::Dot(Expr::Identifier(field)) = access {
            *access = AccessExpr::Subscript(Subscript::Index {
                index: Expr::value(Value::SingleQuotedString(field.value.clone())),
            });
        }
    }
}

/// `i.indkey[n]` over a vector column (`int2vector`/`oidvector` in
/// PostgreSQL, whose subscripts count from 0; space-separated text here)
/// as the element of its array, counted from 1: psqlODBC's
/// `SQLPrimaryKeys` reads `i.indkey[ia.attnum - 1]`.
fn vector_subscript(expr: &mut Expr) {
    use datafusion::sql::sqlparser::ast::{AccessExpr, Subscript};
    let Expr::CompoundFieldAccess { root, access_chain } = expr else {
        return;
    };
    // `i.indkey[n]` parses as `i` then `.indkey` then `[n]`; `indkey[n]`
    // as `indkey` then `[n]`.
    let dots = access_chain
        .iter()
        .take_while(|a| matches!(a, AccessExpr::Dot(Expr::Identifier(_))))
        .count();
    let Some(AccessExpr::Subscript(Subscript::Index { index })) = access_chain.get(dots) else {
        return;
    };
    let mut parts = match root.as_ref() {
        Expr::Identifier(i) => vec![i.clone()],
        Expr::CompoundIdentifier(p) => p.clone(),
        _ => return,
    };
    for access in &access_chain[..dots] {
        if let AccessExpr::Dot(Expr::Identifier(i)) = access {
            parts.push(i.clone());
        }
    }
    let column = Expr::CompoundIdentifier(parts);
    let vector = column_name(&column)
        .is_some_and(|c| VECTOR_COLUMNS.contains(&c.value.to_ascii_lowercase().as_str()));
    if !vector {
        return;
    }
    let (Ok(array), Ok(from_one)) = (
        sql_expr(&format!("({})", vector_as_array(&column))),
        sql_expr(&format!("({index}) + 1")),
    ) else {
        return;
    };
    let rest: Vec<AccessExpr> =
        std::iter::once(AccessExpr::Subscript(Subscript::Index { index: from_one }))
            .chain(access_chain.drain(dots + 1..))
            .collect();
    *expr = Expr::CompoundFieldAccess {
        root: Box::new(array),
        access_chain: rest,
    };
}

/// `CAST(x AS name)` (`'quarry'::name`, psqlODBC's `SQLForeignKeys`) as a
/// cast to text: PostgreSQL's `name` is an identifier's text, which
/// DataFusion does not know.
fn name_as_text(expr: &mut Expr) {
    use datafusion::sql::sqlparser::ast::DataType as SqlType;
    let Expr::Cast { data_type, .. } = expr else {
        return;
    };
    let is_name = matches!(data_type, SqlType::Custom(name, modifiers)
        if modifiers.is_empty()
            && name.0.last().and_then(|p| p.as_ident())
                .is_some_and(|i| i.value.eq_ignore_ascii_case("name")));
    if is_name {
        *data_type = SqlType::Text;
    }
}

/// Catalog columns holding oids (`pg.oid_alias = oid`).
const OID_COLUMNS: &[&str] = &[
    "oid",
    "atttypid",
    "typelem",
    "typbasetype",
    "typrelid",
    "reltype",
    "rngsubtype",
];

/// `array_agg(a.atttypid ...)` as `quarry_oids(array_agg(...))`: an array of
/// catalog oids is `oid[]` in PostgreSQL, which clients decode without
/// looking it up (see [`crate::compat::oid_array`]).
fn oid_aggregate(expr: &Expr) -> Option<Expr> {
    let column = *call_arguments(expr, "array_agg")?.first()?;
    column_name(column).filter(|c| OID_COLUMNS.contains(&c.value.to_ascii_lowercase().as_str()))?;
    sql_expr(&format!("quarry_oids({expr})")).ok()
}

/// `generate_subscripts(a, d)` (SQLAlchemy's key and index reflection
/// numbers `unnest(indkey)` with it) as `unnest(generate_series(1,
/// array_length(a, d)))`, which DataFusion has; over a vector column, its
/// text read as the array.
fn subscripts_as_series(expr: &Expr) -> Option<Expr> {
    let [array, dimension] = call_arguments(expr, "generate_subscripts")?[..] else {
        return None;
    };
    let array = vector_as_array(array);
    sql_expr(&format!(
        "unnest(generate_series(1, CAST(array_length({array}, {dimension}) AS BIGINT)))"
    ))
    .ok()
}

/// Catalog columns PostgreSQL types as `regproc`: a function's oid, shown
/// as its name. datafusion-pg-catalog keeps the name.
const REGPROC_COLUMNS: &[&str] = &[
    "typinput",
    "typoutput",
    "typreceive",
    "typsend",
    "typmodin",
    "typmodout",
    "typanalyze",
    "aggfnoid",
    "aggtransfn",
    "aggfinalfn",
    "oprcode",
];

/// `p.oid = t.typreceive` (Npgsql's type query joins `pg_proc` so) as
/// `p.proname = t.typreceive`: the `regproc` column holds the name here,
/// so the function is found by it (the functions these columns name have
/// one oid per name).
fn procedure_by_name(oid: &mut Expr, regproc: &Expr) {
    let is_regproc = column_name(regproc)
        .is_some_and(|c| REGPROC_COLUMNS.contains(&c.value.to_ascii_lowercase().as_str()));
    if !is_regproc {
        return;
    }
    match oid {
        Expr::CompoundIdentifier(parts)
            if parts
                .last()
                .is_some_and(|p| p.value.eq_ignore_ascii_case("oid")) =>
        {
            if let Some(last) = parts.last_mut() {
                *last = Ident::new("proname");
            }
        }
        _ => {}
    }
}

/// `typinput = 'pg_catalog.array_in'::regproc` (pgJDBC's type lookup)
/// compares a `regproc` column, which holds function names here, with the
/// oid datafusion-pg-catalog looks the cast up as (`(SELECT oid FROM
/// pg_catalog.pg_proc WHERE proname = 'pg_catalog.array_in')`): it is
/// compared with the function's bare name instead.
fn named_procedure(lookup: &mut Expr, regproc: &Expr) {
    let is_regproc = column_name(regproc)
        .is_some_and(|c| REGPROC_COLUMNS.contains(&c.value.to_ascii_lowercase().as_str()));
    let Expr::Subquery(query) = lookup else {
        return;
    };
    let SetExpr::Select(select) = query.body.as_ref() else {
        return;
    };
    // `pg_proc` itself, or as this rewrite replaced it (a derived table of
    // that name: the table is replaced before the comparison is seen).
    let from_pg_proc = match select.from.as_slice() {
        [TableWithJoins { relation, joins }] if joins.is_empty() => match relation {
            TableFactor::Table { name, .. } => name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .is_some_and(|i| i.value.eq_ignore_ascii_case("pg_proc")),
            TableFactor::Derived {
                alias: Some(alias), ..
            } => alias.name.value.eq_ignore_ascii_case("pg_proc"),
            _ => false,
        },
        _ => false,
    };
    let Some(Expr::BinaryOp { left, right, .. }) = &select.selection else {
        return;
    };
    let by_name = column_name(left).is_some_and(|c| c.value.eq_ignore_ascii_case("proname"));
    let Expr::Value(value) = right.as_ref() else {
        return;
    };
    let datafusion::sql::sqlparser::ast::Value::SingleQuotedString(name) = &value.value else {
        return;
    };
    if is_regproc && from_pg_proc && by_name {
        let bare = name.rsplit('.').next().unwrap_or(name);
        *lookup = Expr::value(datafusion::sql::sqlparser::ast::Value::SingleQuotedString(
            bare.to_string(),
        ));
    }
}

/// `unnest(c.reloptions) x` (or `relacl`) in `FROM`, as psql's `\d+`
/// reads a table's options: those columns are NULL for every relation here
/// (`CLASSES_WITH_OPTIONS`), so the function has no rows, and DataFusion
/// cannot plan it over a column of the outer query. An empty relation
/// with the alias's column stands in.
fn unnest_of_empty_options(factor: &TableFactor) -> Option<TableFactor> {
    let (args, alias) = match factor {
        TableFactor::Table {
            name,
            args: Some(args),
            alias,
            ..
        } if name
            .0
            .last()
            .and_then(|p| p.as_ident())
            .is_some_and(|i| i.value.eq_ignore_ascii_case("unnest")) =>
        {
            (
                args.args
                    .iter()
                    .filter_map(|a| match a {
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
                        _ => None,
                    })
                    .collect::<Vec<_>>(),
                alias,
            )
        }
        TableFactor::UNNEST {
            array_exprs, alias, ..
        } => (array_exprs.clone(), alias),
        _ => return None,
    };
    let [column] = args.as_slice() else {
        return None;
    };
    let empty_column = column_name(column).is_some_and(|c| {
        matches!(
            c.value.to_ascii_lowercase().as_str(),
            "reloptions" | "relacl"
        )
    });
    if !empty_column {
        return None;
    }
    let alias = alias.clone()?;
    let column = alias
        .columns
        .first()
        .map(|c| c.name.clone())
        .unwrap_or_else(|| alias.name.clone());
    let Ok(Statement::Query(subquery)) = sql_statement(&format!(
        "SELECT CAST(NULL AS TEXT) AS {column} WHERE false"
    )) else {
        return None;
    };
    Some(TableFactor::Derived {
        lateral: false,
        subquery,
        alias: Some(datafusion::sql::sqlparser::ast::TableAlias {
            columns: vec![],
            ..alias
        }),
        sample: None,
    })
}

/// The query that stands for `pg_catalog.<table>` (or a bare `<table>`),
/// where Quarry's answer differs from datafusion-pg-catalog's.
/// `pg_type` with `typacl` a (NULL) text array, as PostgreSQL's
/// `aclitem[]`: psql's `\\dT+` joins it with `array_to_string`.
const TYPES: &str = "SELECT \
     oid, typname, typnamespace, typowner, typlen, typbyval, typtype, typcategory, \
     typispreferred, typisdefined, typdelim, typrelid, typsubscript, typelem, typarray, \
     typinput, typoutput, typreceive, typsend, typmodin, typmodout, typanalyze, typalign, \
     typstorage, typnotnull, typbasetype, typtypmod, typndims, typcollation, typdefaultbin, \
     typdefault, CAST(NULL AS TEXT[]) AS typacl \
     FROM pg_catalog.pg_type";

/// `pg_default_acl` and `pg_db_role_setting`, empty (no default
/// privileges or per-role settings are kept), with their arrays typed as
/// PostgreSQL's: psql's `\ddp` and `\drds` join them with
/// `array_to_string`.
const DEFAULT_ACLS: &str = "SELECT CAST(NULL AS INT) AS oid, CAST(NULL AS INT) AS defaclrole, \
     CAST(NULL AS INT) AS defaclnamespace, CAST(NULL AS TEXT) AS defaclobjtype, \
     CAST(NULL AS TEXT[]) AS defaclacl WHERE false";
const ROLE_SETTINGS: &str = "SELECT CAST(NULL AS INT) AS setdatabase, \
     CAST(NULL AS INT) AS setrole, CAST(NULL AS TEXT[]) AS setconfig WHERE false";

/// `pg_policy`, empty (Quarry has no row-level security), with
/// PostgreSQL's types: psql's `\dp` tests `oid = ANY (polroles)`.
const POLICIES: &str = "SELECT CAST(NULL AS INT) AS oid, CAST(NULL AS TEXT) AS polname, \
     CAST(NULL AS INT) AS polrelid, CAST(NULL AS TEXT) AS polcmd, \
     CAST(NULL AS BOOLEAN) AS polpermissive, CAST(NULL AS INT[]) AS polroles, \
     CAST(NULL AS TEXT) AS polqual, CAST(NULL AS TEXT) AS polwithcheck WHERE false";

fn catalog_replacement(table: &str) -> Option<&'static str> {
    Some(match table {
        "pg_namespace" => NAMESPACES_WITH_INFORMATION_SCHEMA,
        "pg_constraint" => CONSTRAINTS.as_str(),
        "pg_index" => INDEXES.as_str(),
        "pg_attribute" => ATTRIBUTES.as_str(),
        "pg_settings" => crate::session::settings::PG_SETTINGS.as_str(),
        "pg_proc" => PROCEDURES,
        "pg_class" => CLASSES_WITH_OPTIONS.as_str(),
        "pg_tables" => TABLES_WITHOUT_VIEWS,
        "pg_matviews" => MATERIALIZED_VIEWS,
        "pg_views" => VIEWS,
        "pg_description" => DESCRIPTIONS,
        "pg_policy" => POLICIES,
        "pg_type" => TYPES,
        "pg_default_acl" => DEFAULT_ACLS,
        "pg_db_role_setting" => ROLE_SETTINGS,
        // The session's cursors (`session::cursors`).
        "pg_cursors" => CURSORS,
        // Quarry's own view of its sessions (`session::admin`).
        "pg_stat_activity" => STAT_ACTIVITY,
        // Its roles (`access::catalogs`).
        "pg_roles" => ROLES,
        "pg_authid" => AUTHID,
        "pg_user" => USERS,
        "pg_auth_members" => AUTH_MEMBERS,
        _ => return None,
    })
}

/// The unnamed select item at `position` (0-based) under an internal
/// alias of its own (`colnames::duplicate_alias`) that the result shows as
/// `name`, PostgreSQL's name for it: for items a rewrite changed, or that
/// DataFusion would name alike.
pub(super) fn named_as_postgres(item: &mut SelectItem, position: usize, name: &str) {
    let SelectItem::UnnamedExpr(expr) = item else {
        return;
    };
    let expr = std::mem::replace(
        expr,
        Expr::value(datafusion::sql::sqlparser::ast::Value::Null),
    );
    *item = SelectItem::ExprWithAlias {
        expr,
        alias: Ident::with_quote(
            '"',
            crate::compat::colnames::duplicate_alias(position + 1, name),
        ),
    };
}

/// Description calls in the select lists and `WHERE` clauses of `body`,
/// and of each branch of a set operation, as lookups.
fn look_up_descriptions(body: &mut SetExpr) {
    match body {
        SetExpr::Select(select) => {
            let mut calls = DescriptionCalls { blocked: 0 };
            for (i, item) in select.projection.iter_mut().enumerate() {
                match item {
                    SelectItem::ExprWithAlias { expr, .. } => {
                        let _ = datafusion::sql::sqlparser::ast::VisitMut::visit(expr, &mut calls);
                    }
                    SelectItem::UnnamedExpr(expr) => {
                        let before = expr.to_string();
                        let name = crate::compat::colnames::expr_name(expr);
                        let _ = datafusion::sql::sqlparser::ast::VisitMut::visit(expr, &mut calls);
                        if expr.to_string() != before {
                            // DataFusion names every lookup `(<subquery>)`:
                            // the item keeps PostgreSQL's name, and two
                            // lookups in one list are not alike.
                            named_as_postgres(item, i, &name);
                        }
                    }
                    _ => {}
                }
            }
            if let Some(selection) = &mut select.selection {
                let _ = datafusion::sql::sqlparser::ast::VisitMut::visit(selection, &mut calls);
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            look_up_descriptions(left);
            look_up_descriptions(right);
        }
        _ => {}
    }
}

/// Replaces description calls (`description_lookup`) that are not inside
/// an aggregate or a subquery of the expression it visits.
struct DescriptionCalls {
    blocked: usize,
}

impl DescriptionCalls {
    fn blocks(expr: &Expr) -> bool {
        is_aggregate(expr)
            || matches!(
                expr,
                Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. }
            )
    }
}

impl VisitorMut for DescriptionCalls {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if Self::blocks(expr) {
            self.blocked += 1;
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if Self::blocks(expr) {
            self.blocked -= 1;
        } else if self.blocked == 0
            && let Some(lookup) = description_lookup(expr)
        {
            *expr = lookup;
        }
        ControlFlow::Continue(())
    }
}

/// A description call whose object is a relation's name cast to
/// `regclass` (`col_description(format('%I.%I', s, t)::regclass::oid, n)`,
/// Metabase's field sync) as a lookup by that name: a name that is not a
/// constant cannot be turned into an oid when the query is planned. The
/// name is qualified with the current schema when it is not, as
/// `regclass` resolves it. (The comparison is with a column of the inner
/// query: DataFusion decorrelates an equality only between such a column
/// and the outer expression.)
fn description_by_name(function: &str, args: &[&Expr]) -> Option<String> {
    let (object, subid) = match (function, args) {
        ("obj_description", [object] | [object, _]) => (*object, "0".to_string()),
        ("col_description", [object, column]) => (*object, column.to_string()),
        _ => return None,
    };
    let name = relation_name_cast(object)?;
    Some(format!(
        "(SELECT max(q.description) AS {function} FROM (SELECT \
         quote_ident(schema_name) || '.' || quote_ident(relation_name) AS qualified, \
         objsubid, description FROM public.quarry_comments) q \
         WHERE q.qualified = regexp_replace({name}, '^([^.]*)$', \
         quote_ident(current_schema()) || '.\\1') AND q.objsubid = {subid})"
    ))
}

/// `x` of `x::regclass` (or `CAST(x AS regclass)`, either also cast to
/// `oid`) when `x` is not a constant: a relation's name computed per row.
fn relation_name_cast(expr: &Expr) -> Option<&Expr> {
    let mut expr = expr;
    loop {
        match expr {
            Expr::Nested(inner) => expr = inner,
            Expr::Cast {
                expr: inner,
                data_type,
                ..
            } if data_type.to_string().eq_ignore_ascii_case("oid") => expr = inner,
            Expr::Cast {
                expr: inner,
                data_type: datafusion::sql::sqlparser::ast::DataType::Regclass,
                ..
            } if !matches!(inner.as_ref(), Expr::Value(_)) => return Some(inner),
            _ => return None,
        }
    }
}

/// `obj_description(oid [, 'pg_class'])` and `col_description(oid, n)` as
/// the lookups in `pg_description` they are (datafusion-pg-catalog answers
/// NULL): a description of a relation, or of its column `n`.
fn description_lookup(expr: &Expr) -> Option<Expr> {
    let Expr::Function(f) = expr else {
        return None;
    };
    let name = f.name.0.last()?.as_ident()?.value.to_ascii_lowercase();
    let FunctionArguments::List(list) = &f.args else {
        return None;
    };
    let args: Vec<&Expr> = list
        .args
        .iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
            _ => None,
        })
        .collect::<Option<_>>()?;
    if let Some(size) = size_lookup(&name, &args)
        .or_else(|| view_lookup(&name, &args))
        .or_else(|| index_lookup(&name, &args))
        .or_else(|| function_lookup(&name, &args))
    {
        return sql_expr(&size).ok();
    }
    if let Some(lookup) = description_by_name(&name, &args) {
        return sql_expr(&lookup).ok();
    }
    let (object, subid) = match (name.as_str(), args.as_slice()) {
        ("obj_description", [object]) => (object.to_string(), "0".to_string()),
        // The catalog named is that of relations: the only objects Quarry
        // keeps descriptions of (SQLAlchemy binds its name as a parameter).
        ("obj_description", [object, _catalog]) => (object.to_string(), "0".to_string()),
        ("col_description", [object, column]) => (object.to_string(), column.to_string()),
        _ => return None,
    };
    let text = format!(
        "(SELECT max(d.description) AS {name} FROM ({DESCRIPTIONS}) d \
         WHERE d.objoid = {object} AND d.objsubid = {subid})"
    );
    sql_expr(&text).ok()
}

/// `pg_table_size(oid)`, `pg_relation_size(oid [, fork])` and
/// `pg_total_relation_size(oid)` as the lookup in `quarry_relation_sizes`
/// they are (0 for a view, as PostgreSQL answers; Quarry keeps no indexes
/// or TOAST, so the three agree, and `pg_indexes_size` is 0).
fn size_lookup(name: &str, args: &[&Expr]) -> Option<String> {
    match (name, args) {
        ("pg_indexes_size", [_]) => Some("CAST(0 AS BIGINT)".into()),
        // The one database: all its relations (psql's `\l+`).
        ("pg_database_size", [_]) => Some(format!(
            "(SELECT CAST(coalesce(sum(s.bytes), 0) AS BIGINT) AS {name} \
             FROM public.quarry_relation_sizes s)"
        )),
        // The server's encoding (psql's `\dO`): UTF8 is 6 and SQL_ASCII 0,
        // as in PostgreSQL; any other name -1 (PostgreSQL numbers others
        // Quarry does not use).
        ("pg_char_to_encoding", [encoding]) => Some(format!(
            "CASE upper(CAST({encoding} AS TEXT)) WHEN 'UTF8' THEN 6 WHEN 'UTF-8' THEN 6 \
             WHEN 'SQL_ASCII' THEN 0 ELSE -1 END"
        )),
        ("pg_table_size" | "pg_total_relation_size" | "pg_relation_size", [object])
        | ("pg_relation_size", [object, _]) => Some(format!(
            "(SELECT coalesce(max(quarry_sizes.quarry_bytes), 0) AS {name} \
             FROM (SELECT c.oid AS quarry_oid, s.bytes AS quarry_bytes \
             FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             LEFT JOIN public.quarry_relation_sizes s \
             ON s.schema_name = n.nspname AND s.relation_name = c.relname) quarry_sizes \
             WHERE quarry_sizes.quarry_oid = {object})"
        )),
        _ => None,
    }
}

/// `pg_get_function_arguments(oid)` (and `_identity_arguments`),
/// `pg_get_function_result(oid)` and `pg_get_functiondef(oid)` (psql's
/// `\sf`, as PostgreSQL shows a built-in function: `LANGUAGE internal`)
/// as lookups in `quarry_functions`: NULL for PostgreSQL's own functions,
/// whose signatures are not kept.
fn function_lookup(name: &str, args: &[&Expr]) -> Option<String> {
    let column = match name {
        "pg_get_function_arguments" | "pg_get_function_identity_arguments" => "arguments",
        "pg_get_function_result" => "result",
        "pg_get_functiondef" => {
            "'CREATE OR REPLACE FUNCTION public.' || proname || '(' || arguments || E')\n' \
             || ' RETURNS ' || coalesce(result, 'anyelement') || E'\n' \
             || E' LANGUAGE internal\n' || 'AS $function$' || proname || E'$function$\n'"
        }
        _ => return None,
    };
    let [object] = args else {
        return None;
    };
    Some(format!(
        "(SELECT max(quarry_functions.quarry_value) AS {name} \
         FROM (SELECT oid AS quarry_oid, {column} AS quarry_value \
         FROM public.quarry_functions) quarry_functions \
         WHERE quarry_functions.quarry_oid = {object})"
    ))
}

/// `pg_get_indexdef(oid [, column, pretty])` as the lookup of the index's
/// definition ([`INDEX_DEFINITIONS`], for no column or a constant 0), or
/// of its `column`'s name ([`INDEX_COLUMNS`]); NULL for what is not an
/// index, as PostgreSQL answers. pgJDBC's `getIndexInfo`, Metabase's
/// index sync and psql's `\d` read it.
fn index_lookup(name: &str, args: &[&Expr]) -> Option<String> {
    let constant = |e: &Expr, text: &str| matches!(e, Expr::Value(v) if v.value.to_string().eq_ignore_ascii_case(text));
    let (object, definition) = match (name, args) {
        ("pg_get_indexdef", [object]) => (object, Some("quarry_value")),
        ("pg_get_indexdef", [object, column, pretty]) if constant(column, "0") => {
            let form = match constant(pretty, "true") {
                true => "quarry_pretty",
                false => "quarry_value",
            };
            (object, Some(form))
        }
        ("pg_get_indexdef", [object, column, _]) => {
            return Some(format!(
                "(SELECT max(quarry_indexes.quarry_value) AS {name} \
                 FROM ({}) quarry_indexes \
                 WHERE quarry_indexes.quarry_oid = {object} \
                 AND quarry_indexes.quarry_n = CAST({column} AS BIGINT))",
                INDEX_COLUMNS.as_str()
            ));
        }
        _ => return None,
    };
    let form = definition?;
    Some(format!(
        "(SELECT max(quarry_indexes.{form}) AS {name} \
         FROM ({}) quarry_indexes WHERE quarry_indexes.quarry_oid = {object})",
        INDEX_DEFINITIONS.as_str()
    ))
}

/// `pg_get_viewdef(oid [, pretty])` as the lookup of the view's query in
/// `pg_views` it is (NULL for what is not a view, as PostgreSQL answers
/// for an oid that names no view).
fn view_lookup(name: &str, args: &[&Expr]) -> Option<String> {
    match (name, args) {
        ("pg_get_viewdef", [object] | [object, _]) => Some(format!(
            "(SELECT max(quarry_views.quarry_definition) AS {name} \
             FROM (SELECT c.oid AS quarry_oid, v.definition AS quarry_definition \
             FROM ({VIEWS} UNION ALL SELECT schemaname, matviewname, matviewowner, definition \
             FROM ({MATERIALIZED_VIEWS}) m) v \
             JOIN pg_catalog.pg_namespace n ON n.nspname = v.schemaname \
             JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid \
             AND c.relname = v.viewname) quarry_views \
             WHERE quarry_views.quarry_oid = {object})"
        )),
        _ => None,
    }
}

/// Functions in `FROM` that return one column, which PostgreSQL names by
/// the function's alias when no column alias is given (DataFusion calls it
/// `value`).
const ONE_COLUMN_FUNCTIONS: &[&str] = &["generate_series", "range", "unnest"];

/// `FROM generate_series(1, 3) g` → `FROM generate_series(1, 3) g(g)`.
struct NameFunctionColumns;

impl VisitorMut for NameFunctionColumns {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table {
            name,
            args: Some(_),
            alias: Some(alias),
            ..
        } = factor
            && alias.columns.is_empty()
            && name.0.last().and_then(|p| p.as_ident()).is_some_and(|i| {
                ONE_COLUMN_FUNCTIONS.contains(&i.value.to_ascii_lowercase().as_str())
            })
        {
            alias.columns = vec![datafusion::sql::sqlparser::ast::TableAliasColumnDef {
                name: alias.name.clone(),
                data_type: None,
            }];
        }
        ControlFlow::Continue(())
    }
}

/// Scalar functions PostgreSQL lets a query use as a one-row relation
/// (`FROM string_to_array(...) s`, in Grafana's table list), which
/// DataFusion looks up as table functions.
const SCALARS_IN_FROM: &[&str] = &[
    "string_to_array",
    "regexp_split_to_array",
    "current_schemas",
];

/// `FROM f(args) [AS] a` of a scalar function → `FROM (SELECT f(args) AS
/// a) AS a`: one row, one column named by the alias (or the function), as
/// PostgreSQL reads a scalar function in `FROM`.
struct ScalarFunctionsInFrom;

impl VisitorMut for ScalarFunctionsInFrom {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        let TableFactor::Table {
            name,
            args: Some(args),
            alias,
            ..
        } = factor
        else {
            return ControlFlow::Continue(());
        };
        let Some(function) = name
            .0
            .last()
            .and_then(|p| p.as_ident())
            .map(|i| i.value.to_ascii_lowercase())
            .filter(|f| SCALARS_IN_FROM.contains(&f.as_str()))
        else {
            return ControlFlow::Continue(());
        };
        let column = match alias {
            Some(a) if !a.columns.is_empty() => a.columns[0].name.clone(),
            Some(a) => a.name.clone(),
            None => Ident::new(function.clone()),
        };
        let text = format!(
            "SELECT {function}({}) AS {column}",
            args.args
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
        let Ok(Statement::Query(subquery)) = sql_statement(&text) else {
            return ControlFlow::Continue(());
        };
        let alias = alias
            .clone()
            .unwrap_or(datafusion::sql::sqlparser::ast::TableAlias {
                explicit: true,
                name: Ident::new(function),
                columns: vec![],
                at: None,
            });
        *factor = TableFactor::Derived {
            lateral: false,
            subquery,
            alias: Some(datafusion::sql::sqlparser::ast::TableAlias {
                columns: vec![],
                ..alias
            }),
            sample: None,
        };
        ControlFlow::Continue(())
    }
}

/// `LIKE 'a#_b' ESCAPE '#'` → `LIKE 'a\_b'`: DataFusion takes only the
/// backslash as the escape character. (An empty `ESCAPE ''`, PostgreSQL's
/// "no escape", doubles every backslash.) A pattern that is not a literal
/// is converted the same way when the statement runs.
struct LikeEscapes;

impl VisitorMut for LikeEscapes {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        use datafusion::sql::sqlparser::ast::Value;
        let (Expr::Like {
            pattern,
            escape_char,
            ..
        }
        | Expr::ILike {
            pattern,
            escape_char,
            ..
        }) = expr
        else {
            return ControlFlow::Continue(());
        };
        let Some(escape) = escape_char.as_ref() else {
            return ControlFlow::Continue(());
        };
        let Expr::Value(text) = pattern.as_mut() else {
            // A pattern known when the statement runs (SQLAlchemy's
            // `nspname NOT LIKE $1 || '%' ESCAPE '/'`): converted then.
            let Value::SingleQuotedString(e) = &escape.value else {
                return ControlFlow::Continue(());
            };
            let mut chars = e.chars();
            let converted = match (chars.next(), chars.next()) {
                (Some('\\'), None) => None,
                (None, _) => Some(format!("replace(({pattern}), '\\', '\\\\')")),
                (Some(c), None) => Some(format!(
                    "regexp_replace(replace(({pattern}), '\\', '\\\\'), '(?s){}(.)', '\\${{1}}', 'g')",
                    if c.is_ascii_punctuation() {
                        format!("\\{c}").replace('\'', "''")
                    } else {
                        c.to_string()
                    }
                )),
                _ => return ControlFlow::Continue(()),
            };
            if let Some(converted) = converted {
                match sql_expr(&converted) {
                    Ok(expr) => **pattern = expr,
                    Err(_) => return ControlFlow::Continue(()),
                }
            }
            *escape_char = None;
            return ControlFlow::Continue(());
        };
        let (Value::SingleQuotedString(e), Value::SingleQuotedString(p)) =
            (&escape.value, &mut text.value)
        else {
            return ControlFlow::Continue(());
        };
        let mut chars = e.chars();
        let escape = match (chars.next(), chars.next()) {
            (None, _) => None,
            (Some(c), None) => Some(c),
            // More than one character: PostgreSQL's error, from DataFusion.
            _ => return ControlFlow::Continue(()),
        };
        if escape == Some('\\') {
            *escape_char = None;
            return ControlFlow::Continue(());
        }
        let mut out = String::with_capacity(p.len() + 4);
        let mut input = p.chars();
        while let Some(c) = input.next() {
            if Some(c) == escape {
                out.push('\\');
                if let Some(next) = input.next() {
                    out.push(next);
                }
            } else if c == '\\' {
                out.push_str("\\\\");
            } else {
                out.push(c);
            }
        }
        *p = out;
        *escape_char = None;
        ControlFlow::Continue(())
    }
}

/// `ARRAY(subquery)`, PostgreSQL's array of a subquery's rows (psql's
/// `\d+` builds a table's options with one), as the aggregate DataFusion
/// plans: `(SELECT array_agg(e) FROM (subquery) a(e))`. (A subquery of no
/// rows gives NULL here, `{}` in PostgreSQL.)
struct ArraySubqueries;

/// `VALUES (1, (SELECT ...))` as `SELECT 1 AS column1, (SELECT ...) AS
/// column2 [UNION ALL ...]`: DataFusion plans a subquery in a `VALUES` row
/// but never runs it (an internal error, "ScalarSubqueryExpr evaluated
/// before the subquery was executed"), while a select list decorrelates
/// it. PostgreSQL takes either; `INSERT ... VALUES` with a subquery is
/// common.
struct ValuesWithSubqueries;

impl VisitorMut for ValuesWithSubqueries {
    type Break = ();

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        let SetExpr::Values(values) = query.body.as_ref() else {
            return ControlFlow::Continue(());
        };
        let has_subquery = |e: &Expr| {
            datafusion::sql::sqlparser::ast::visit_expressions(e, |e| {
                if matches!(
                    e,
                    Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. }
                ) {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .is_break()
        };
        if !values
            .rows
            .iter()
            .flat_map(|r| &r.content)
            .any(has_subquery)
        {
            return ControlFlow::Continue(());
        }
        let selects: Vec<String> = values
            .rows
            .iter()
            .map(|row| {
                let items: Vec<String> = row
                    .content
                    .iter()
                    .enumerate()
                    .map(|(i, e)| format!("{e} AS column{}", i + 1))
                    .collect();
                format!("SELECT {}", items.join(", "))
            })
            .collect();
        if let Ok(Statement::Query(rows)) = sql_statement(&selects.join(" UNION ALL ")) {
            query.body = rows.body;
        }
        ControlFlow::Continue(())
    }
}

/// `SELECT generate_series(1, 3)`: in PostgreSQL a set-returning function
/// in a select list gives a row per value; DataFusion's `generate_series`
/// there is a scalar answering one array (a silent wrong answer). Read as
/// `unnest(generate_series(...)) AS generate_series`.
struct SetReturningSeries;

impl VisitorMut for SetReturningSeries {
    type Break = ();

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        let mut lists = Vec::new();
        select_lists_mut(&mut query.body, &mut lists);
        for list in lists {
            for item in list.iter_mut() {
                let (expr, alias) = match item {
                    SelectItem::UnnamedExpr(e) => (e, None),
                    SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.clone())),
                    _ => continue,
                };
                if call_arguments(expr, "generate_series").is_none() {
                    continue;
                }
                let Ok(unnested) = sql_expr(&format!("unnest({expr})")) else {
                    continue;
                };
                *item = SelectItem::ExprWithAlias {
                    expr: unnested,
                    alias: alias.unwrap_or_else(|| Ident::new("generate_series")),
                };
            }
        }
        ControlFlow::Continue(())
    }
}

/// `SELECT NULL, NULL` (pgJDBC's `getProcedures`) and `SELECT (SELECT
/// ...), (SELECT ...)`: items DataFusion would name alike, which it refuses and PostgreSQL answers under one name each
/// (`?column?`), take names of their own
/// (`colnames::duplicate_alias`); the result columns keep PostgreSQL's.
struct DistinctNames;

impl VisitorMut for DistinctNames {
    type Break = ();

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        let mut lists = Vec::new();
        select_lists_mut(&mut query.body, &mut lists);
        for list in lists {
            let mut seen = std::collections::HashSet::new();
            for (i, item) in list.iter_mut().enumerate() {
                let SelectItem::UnnamedExpr(expr) = item else {
                    continue;
                };
                // DataFusion names every scalar subquery alike.
                let datafusion_name = match &*expr {
                    Expr::Subquery(_) => "(<subquery>)".to_string(),
                    other => other.to_string(),
                };
                if matches!(expr, Expr::Identifier(_) | Expr::CompoundIdentifier(_))
                    || seen.insert(datafusion_name)
                {
                    continue;
                }
                let name = crate::compat::colnames::expr_name(expr);
                named_as_postgres(item, i, &name);
            }
        }
        ControlFlow::Continue(())
    }
}

impl VisitorMut for ArraySubqueries {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let Expr::Function(f) = expr else {
            return ControlFlow::Continue(());
        };
        let named = f
            .name
            .0
            .last()
            .and_then(|p| p.as_ident())
            .is_some_and(|i| i.value.eq_ignore_ascii_case("array"));
        let FunctionArguments::Subquery(query) = &f.args else {
            return ControlFlow::Continue(());
        };
        if !named {
            return ControlFlow::Continue(());
        }
        let Some(text) = array_of_rows(query) else {
            return ControlFlow::Continue(());
        };
        // No rows make an empty array, as PostgreSQL's (an aggregate over
        // none is NULL).
        if let Ok(aggregated) = sql_expr(&format!("coalesce({text}, make_array())")) {
            *expr = aggregated;
        }
        ControlFlow::Continue(())
    }
}

/// The aggregate `ARRAY(query)` is, keeping the query's order: a query
/// with `ORDER BY` numbers its rows by it (`row_number() OVER (ORDER BY
/// ...)`) and the aggregate follows the numbers. `None` where the order
/// cannot be carried (an `ORDER BY` by position or output name, or a query
/// that is not one `SELECT` of one column): left as it is, to fail.
fn array_of_rows(query: &Query) -> Option<String> {
    if let Some(aggregated) = aggregated_in_place(query) {
        return Some(aggregated);
    }
    let Some(order_by) = &query.order_by else {
        return Some(format!(
            "(SELECT array_agg(quarry_array.quarry_element) \
             FROM ({query}) quarry_array(quarry_element))"
        ));
    };
    let datafusion::sql::sqlparser::ast::OrderByKind::Expressions(keys) = &order_by.kind else {
        return None;
    };
    let SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    let [item] = select.projection.as_slice() else {
        return None;
    };
    let (element, alias) = match item {
        SelectItem::UnnamedExpr(e) => (e, None),
        SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias)),
        _ => return None,
    };
    // By position 1 or the output name: by the one column itself (psql's
    // `\dp`: `ARRAY(SELECT rolname ... ORDER BY 1)`).
    let mut keys = keys.clone();
    for key in &mut keys {
        let by_element = match &key.expr {
            Expr::Value(v) => v.to_string() == "1",
            Expr::Identifier(i) => alias.is_some_and(|a| a.value == i.value),
            _ => false,
        };
        if by_element {
            key.expr = element.clone();
        }
    }
    let by_output = keys.iter().any(|k| matches!(&k.expr, Expr::Value(_)));
    if by_output || query.limit_clause.is_some() || query.fetch.is_some() || query.with.is_some() {
        return None;
    }
    if select.distinct.is_some() {
        // Numbered rows would all be distinct. PostgreSQL orders a
        // DISTINCT query only by what it selects: here, its one column.
        let [key] = keys.as_slice() else {
            return None;
        };
        let descending = key.options.asc == Some(false);
        let mut plain = query.clone();
        plain.order_by = None;
        return Some(format!(
            "(SELECT array_agg(DISTINCT quarry_array.quarry_element ORDER BY \
             quarry_array.quarry_element{}) FROM ({plain}) quarry_array(quarry_element))",
            if descending { " DESC" } else { "" }
        ));
    }
    let keys: Vec<String> = keys.iter().map(ToString::to_string).collect();
    let mut numbered = select.as_ref().clone();
    numbered.projection = vec![
        SelectItem::ExprWithAlias {
            expr: element.clone(),
            alias: Ident::new("quarry_element"),
        },
        SelectItem::ExprWithAlias {
            expr: sql_expr(&format!("row_number() OVER (ORDER BY {})", keys.join(", "))).ok()?,
            alias: Ident::new("quarry_position"),
        },
    ];
    Some(format!(
        "(SELECT array_agg(quarry_array.quarry_element ORDER BY quarry_array.quarry_position) \
         FROM ({numbered}) quarry_array)"
    ))
}

/// `ARRAY(SELECT e FROM ... WHERE ... [ORDER BY k])`, one plain `SELECT`
/// of one column with no grouping or limit, as `(SELECT array_agg(e [ORDER
/// BY k]) FROM ... WHERE ...)`: the same select aggregated, so a reference
/// to the outer query (psql's `\du`: `WHERE m.member = r.oid`) stays where
/// DataFusion decorrelates it, which it does not inside a derived table.
fn aggregated_in_place(query: &Query) -> Option<String> {
    if query.limit_clause.is_some() || query.fetch.is_some() || query.with.is_some() {
        return None;
    }
    let SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    let plain_group = matches!(
        &select.group_by,
        datafusion::sql::sqlparser::ast::GroupByExpr::Expressions(e, m) if e.is_empty() && m.is_empty()
    );
    if select.distinct.is_some() || !plain_group || select.having.is_some() {
        return None;
    }
    let [SelectItem::UnnamedExpr(element) | SelectItem::ExprWithAlias { expr: element, .. }] =
        select.projection.as_slice()
    else {
        return None;
    };
    // Only where the derived-table form cannot plan it: a reference to the
    // outer query. Elsewhere that form also takes what an aggregate cannot
    // hold (`ARRAY(SELECT unnest(...))`, other aggregates).
    if aggregates_or_windows(element) || !refers_outside(select) {
        return None;
    }
    // The query's order, as the aggregate's (by position 1 or the output
    // name: by the element).
    let alias = match &select.projection[0] {
        SelectItem::ExprWithAlias { alias, .. } => Some(alias),
        _ => None,
    };
    let order = match &query.order_by {
        None => String::new(),
        Some(order_by) => {
            let datafusion::sql::sqlparser::ast::OrderByKind::Expressions(keys) = &order_by.kind
            else {
                return None;
            };
            let mut keys = keys.clone();
            for key in &mut keys {
                match &key.expr {
                    Expr::Value(v) if v.to_string() == "1" => key.expr = element.clone(),
                    Expr::Value(_) => return None,
                    Expr::Identifier(i) if alias.is_some_and(|a| a.value == i.value) => {
                        key.expr = element.clone()
                    }
                    _ => {}
                }
            }
            let keys: Vec<String> = keys.iter().map(ToString::to_string).collect();
            format!(" ORDER BY {}", keys.join(", "))
        }
    };
    let mut aggregated = select.as_ref().clone();
    aggregated.projection = vec![SelectItem::UnnamedExpr(
        sql_expr(&format!("array_agg({element}{order})")).ok()?,
    )];
    Some(format!("({aggregated})"))
}

/// Whether `select` names a column qualified by a relation its `FROM` does
/// not have (`WHERE m.member = r.oid`): a reference to an outer query.
fn refers_outside(select: &datafusion::sql::sqlparser::ast::Select) -> bool {
    use datafusion::sql::sqlparser::ast::TableFactor;
    let name_of = |factor: &TableFactor| -> Option<String> {
        match factor {
            TableFactor::Table { alias: Some(a), .. }
            | TableFactor::Derived { alias: Some(a), .. }
            | TableFactor::Function { alias: Some(a), .. }
            | TableFactor::UNNEST { alias: Some(a), .. } => Some(a.name.value.to_lowercase()),
            TableFactor::Table { name, .. } => name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .map(|i| i.value.to_lowercase()),
            _ => None,
        }
    };
    let mut local = Vec::new();
    for from in &select.from {
        local.extend(name_of(&from.relation));
        local.extend(from.joins.iter().filter_map(|j| name_of(&j.relation)));
    }
    any_outside_subqueries(select, |e| {
        matches!(e, Expr::CompoundIdentifier(parts)
            if parts.len() == 2 && !local.contains(&parts[0].value.to_lowercase()))
    })
}

/// Whether `found` holds for an expression of `node` outside the queries
/// nested in it.
fn any_outside_subqueries<T: datafusion::sql::sqlparser::ast::Visit>(
    node: &T,
    found: impl FnMut(&Expr) -> bool,
) -> bool {
    struct Finder<F> {
        depth: usize,
        found: F,
    }
    impl<F: FnMut(&Expr) -> bool> datafusion::sql::sqlparser::ast::Visitor for Finder<F> {
        type Break = ();
        fn pre_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
            self.depth += 1;
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
            self.depth -= 1;
            ControlFlow::Continue(())
        }
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            if self.depth == 0 && (self.found)(e) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        }
    }
    node.visit(&mut Finder { depth: 0, found }).is_break()
}

/// Whether `expr` calls, outside its subqueries, a window function or one
/// of the aggregates a catalog query uses, which an `array_agg` around it
/// would nest.
fn aggregates_or_windows(expr: &Expr) -> bool {
    const AGGREGATES: &[&str] = &[
        "array_agg",
        "avg",
        "bool_and",
        "bool_or",
        "count",
        "every",
        "json_agg",
        "max",
        "min",
        "string_agg",
        "sum",
    ];
    any_outside_subqueries(expr, |e| {
        matches!(e, Expr::Function(f)
        if f.over.is_some()
            || f.name.0.last().and_then(|p| p.as_ident()).is_some_and(|i| {
                AGGREGATES.contains(&i.value.to_ascii_lowercase().as_str())
            }))
    })
}

/// `text`, an SQL expression a rewrite builds, parsed as PostgreSQL's.
pub(crate) fn sql_expr(
    text: &str,
) -> Result<Expr, datafusion::sql::sqlparser::parser::ParserError> {
    datafusion::sql::sqlparser::parser::Parser::new(
        &datafusion::sql::sqlparser::dialect::PostgreSqlDialect {},
    )
    .try_with_sql(text)
    .and_then(|mut p| p.parse_expr())
}

/// `text`, an SQL statement a rewrite builds, parsed as PostgreSQL's.
pub(crate) fn sql_statement(
    text: &str,
) -> Result<Statement, datafusion::sql::sqlparser::parser::ParserError> {
    datafusion::sql::sqlparser::parser::Parser::new(
        &datafusion::sql::sqlparser::dialect::PostgreSqlDialect {},
    )
    .try_with_sql(text)
    .and_then(|mut p| p.parse_statement())
}

/// Applies the catalog-query rewrites to `statement`.
pub fn rewrite(statement: &mut Statement) {
    let _ = datafusion::sql::sqlparser::ast::VisitMut::visit(
        statement,
        &mut AggregateCatalogSubqueries,
    );
    let _ = datafusion::sql::sqlparser::ast::VisitMut::visit(statement, &mut CatalogShapes);
    let _ = datafusion::sql::sqlparser::ast::VisitMut::visit(statement, &mut NameStructFields);
    let _ = datafusion::sql::sqlparser::ast::VisitMut::visit(statement, &mut NameCastColumns);
    let _ = datafusion::sql::sqlparser::ast::VisitMut::visit(statement, &mut NameFunctionColumns);
    let _ = datafusion::sql::sqlparser::ast::VisitMut::visit(statement, &mut ScalarFunctionsInFrom);
    let _ = datafusion::sql::sqlparser::ast::VisitMut::visit(statement, &mut LikeEscapes);
    let _ = datafusion::sql::sqlparser::ast::VisitMut::visit(statement, &mut ArraySubqueries);
    let _ = datafusion::sql::sqlparser::ast::VisitMut::visit(statement, &mut ValuesWithSubqueries);
    let _ = datafusion::sql::sqlparser::ast::VisitMut::visit(
        statement,
        &mut super::window_bigint::WindowCountsAsBigint,
    );
    let _ = datafusion::sql::sqlparser::ast::VisitMut::visit(
        statement,
        &mut super::sort_subqueries::SortSubqueries,
    );
    let _ = datafusion::sql::sqlparser::ast::VisitMut::visit(
        statement,
        &mut super::subquery_predicates::SubqueryPredicates,
    );
    let _ = datafusion::sql::sqlparser::ast::VisitMut::visit(statement, &mut DistinctNames);
    let _ = datafusion::sql::sqlparser::ast::VisitMut::visit(statement, &mut SetReturningSeries);
    let mut functions = quarry_udfs::functions::relation::relation_functions();
    functions.extend(crate::registry::functions::textual_relations());
    quarry_udfs::functions::relation::expand_relation_arguments(statement, &functions);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::QuarryDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn rewritten(sql: &str) -> String {
        let mut stmt = Parser::parse_sql(&QuarryDialect::default(), sql)
            .expect("parses")
            .remove(0);
        rewrite(&mut stmt);
        stmt.to_string()
    }

    /// `sql` through the compatibility parser, its special registers named.
    fn registers_named(sql: &str) -> String {
        let compat = datafusion_pg_catalog::sql::PostgresCompatibilityParser::new();
        let mut stmt = compat.parse(sql).expect("parses").remove(0);
        assert!(mentions_special_register(sql));
        let original = Parser::parse_sql(
            &datafusion::sql::sqlparser::dialect::PostgreSqlDialect {},
            sql,
        )
        .expect("parses")
        .remove(0);
        name_special_registers(&original, &mut stmt);
        stmt.to_string()
    }

    #[test]
    fn special_registers_keep_their_postgresql_names() {
        assert_eq!(
            registers_named("SELECT current_user, session_user"),
            "SELECT session_user AS current_user, session_user AS session_user"
        );
        assert_eq!(
            registers_named("SELECT 1 FROM t UNION SELECT 2 FROM (SELECT current_catalog) s"),
            "SELECT 1 FROM t UNION SELECT 2 FROM (SELECT current_database() AS current_catalog) s"
        );
        // An alias wins; a name given twice is left to DataFusion.
        assert_eq!(
            registers_named("SELECT current_user AS me, current_user"),
            "SELECT session_user AS me, session_user AS current_user"
        );
        assert_eq!(
            registers_named("SELECT current_user, current_user"),
            "SELECT session_user, session_user"
        );
        assert!(!mentions_special_register("SELECT name FROM users"));
    }

    #[test]
    fn one_column_functions_and_like_escapes_read_as_in_postgresql() {
        assert_eq!(
            rewritten("SELECT g FROM generate_series(1, 3) g"),
            "SELECT g FROM generate_series(1, 3) g (g)"
        );
        assert_eq!(
            rewritten("SELECT * FROM generate_series(1, 3) AS g(n)"),
            "SELECT * FROM generate_series(1, 3) AS g (n)"
        );
        assert_eq!(
            rewritten("SELECT s LIKE 'a#_b\\%' ESCAPE '#' FROM t"),
            "SELECT s LIKE 'a\\_b\\\\%' FROM t"
        );
        assert_eq!(
            rewritten("SELECT s NOT ILIKE 'x' ESCAPE '' FROM t"),
            "SELECT s NOT ILIKE 'x' FROM t"
        );
    }

    #[test]
    fn struct_literals_keep_column_names() {
        assert_eq!(
            rewritten("SELECT struct(t.age, fee * 12 AS yearly) FROM t"),
            "SELECT STRUCT(t.age AS age, fee * 12 AS yearly) FROM t"
        );
        assert_eq!(
            rewritten("SELECT struct(age, fee) FROM t"),
            "SELECT STRUCT(age, fee) FROM t"
        );
    }

    #[test]
    fn casts_of_columns_are_named_after_the_column() {
        assert_eq!(
            rewritten("SELECT id::text, CAST(t.x AS REAL), (y)::INT::TEXT, z FROM t ORDER BY id"),
            "SELECT id::TEXT AS id, CAST(t.x AS REAL) AS x, (y)::INT::TEXT AS y, z FROM t ORDER BY id"
        );
        // In subqueries and both sides of a UNION too.
        assert_eq!(
            rewritten(
                "SELECT s.id FROM (SELECT id::text FROM t UNION ALL SELECT id::text FROM u) AS s"
            ),
            "SELECT s.id FROM (SELECT id::TEXT AS id FROM t UNION ALL SELECT id::TEXT AS id FROM u) AS s"
        );
    }

    #[test]
    fn cast_names_that_would_repeat_are_left_alone() {
        for sql in [
            "SELECT id::TEXT, id::INT FROM t",
            "SELECT id::TEXT, 1 AS id FROM t",
            "SELECT id + 1, 'a'::TEXT, lower(id::TEXT) FROM t",
            "SELECT id::TEXT, t.id FROM t",
        ] {
            assert_eq!(rewritten(sql), sql);
        }
        // Beside ORDER BY the qualified column, the name is hidden (the
        // result column is still `id`: `colnames::HIDDEN_NAME`).
        assert_eq!(
            rewritten("SELECT a.id::TEXT, b.v FROM a JOIN b ON a.id = b.id ORDER BY b.id"),
            "SELECT a.id::TEXT AS __quarry_as__id, b.v FROM a JOIN b ON a.id = b.id ORDER BY b.id"
        );
    }

    #[test]
    fn relation_arguments_become_subqueries() {
        assert_eq!(
            rewritten("SELECT * FROM ml_predict('m', customers) AS p"),
            "SELECT * FROM ml_predict('m', (SELECT * FROM customers)) AS p"
        );
        assert_eq!(
            rewritten("SELECT * FROM ml_predict('m', 'SELECT a FROM t')"),
            "SELECT * FROM ml_predict('m', (SELECT a FROM t))"
        );
    }

    #[test]
    fn wraps_catalog_scalar_subqueries() {
        let out = rewritten(
            "SELECT a.attname, (SELECT c.relname FROM pg_catalog.pg_class c WHERE c.oid = a.attrelid) FROM pg_attribute a",
        );
        assert!(out.contains("(SELECT max(c.relname) FROM"), "{out}");
    }

    #[test]
    fn catalog_tables_without_quarry_rows_become_null() {
        let out = rewritten(
            "SELECT CASE WHEN a.atthasdef THEN (SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_catalog.pg_attrdef d WHERE d.adrelid = a.attrelid) END FROM pg_attribute a",
        );
        assert!(out.contains("THEN NULL::TEXT"), "{out}");
    }

    #[test]
    fn leaves_user_queries_alone() {
        let sql = "SELECT (SELECT o.total FROM orders o WHERE o.id = c.id) FROM customers c";
        assert_eq!(rewritten(sql), sql);
    }

    #[test]
    fn leaves_aggregates_alone() {
        let sql = "SELECT (SELECT count(*) FROM pg_am) AS n";
        assert_eq!(rewritten(sql), sql);
    }
}
