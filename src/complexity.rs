//! How deep a statement may nest, checked before anything recursive touches
//! it.
//!
//! sqlparser reads a chain of left-associative operators (`1 + 1 + …`,
//! `a OR b OR …`, `x::int::int…`, `SELECT … UNION ALL SELECT …`) in a loop,
//! but builds it as a tree as deep as the chain is long, and everything after
//! the parser (rewrites, planning, `Drop`, `Display`, evaluation) walks that
//! tree recursively. A long enough chain overflowed the stack of the thread
//! and aborted the whole server. Three defences, each for what the others
//! cannot reach:
//!
//! - Statement threads run on [`THREAD_STACK`]-sized stacks, so every path
//!   handles [`MAX_DEPTH`] levels; DataFusion's own tree walks grow their
//!   stacks on demand (`recursive_protection`).
//! - A statement no longer than [`MAX_DEPTH`] × 2 bytes cannot nest deeper
//!   than [`MAX_DEPTH`] (every level costs at least an operator and an
//!   operand), so short statements, nearly all of them, skip the check.
//! - A longer one is parsed by sqlparser alone (its loop does not recurse)
//!   and walked by [`guard`] before any rewrite or plan sees it: runs of one
//!   associative operator (`AND`, `OR`, `UNION [ALL]`: what BI tools and ORMs
//!   generate) are rebuilt as balanced trees, which changes no answer and
//!   makes their depth logarithmic; anything still deeper than [`MAX_DEPTH`]
//!   is `54001 statement too complex`. The walk itself never goes deeper
//!   than the limit: a too-deep subtree is cut off and taken apart piece by
//!   piece, so even the rejected statement is dropped without recursion.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, Query, SetExpr, SetOperator, SetQuantifier, Statement, Value, Values,
    VisitMut, VisitorMut,
};

use datafusion::sql::parser::{CopyToSource, Statement as DfStatement};

use datafusion::execution::context::SessionState;
use datafusion::logical_expr::LogicalPlan;

use crate::error::{IntoSqlError, SqlStateError, sqlstate};

/// The deepest nesting of expressions and queries a statement may have.
/// 5,000 levels of the costliest shape (unbalanced `UNION ALL` arms, casts)
/// plan and run within [`THREAD_STACK`] in debug builds, with room to spare.
pub const MAX_DEPTH: usize = 5_000;

/// Stack of every thread that parses, plans or runs a statement (the Tokio
/// workers and blocking threads). Reserved address space, not memory: pages
/// are touched only as deep as a statement goes.
pub const THREAD_STACK: usize = 64 << 20;

/// Statements at most this long cannot nest deeper than [`MAX_DEPTH`].
pub const SHORT_STATEMENT: usize = 2 * MAX_DEPTH;

/// Runs of one associative operator longer than this are balanced; shorter
/// ones are left exactly as written (their plans and names do not change).
const BALANCE_FROM: usize = 64;

/// Checks `stmt` and balances its long associative runs. `Ok(true)` when
/// the statement was changed.
pub fn guard(stmt: &mut Statement) -> Result<bool, SqlStateError> {
    let mut walk = Walk::default();
    let _ = stmt.visit(&mut walk);
    walk.finish()
}

/// [`guard`] for a query read on its own (`CREATE MODEL ... AS query`).
pub fn guard_query(query: &mut Query) -> Result<bool, SqlStateError> {
    let mut walk = Walk::default();
    let _ = query.visit(&mut walk);
    walk.finish()
}

/// [`guard`] for what DataFusion's own parser read: the SQL statements in it.
pub fn guard_df(stmt: &mut DfStatement) -> Result<bool, SqlStateError> {
    match stmt {
        DfStatement::Statement(inner) => guard(inner),
        DfStatement::CopyTo(copy) => match &mut copy.source {
            CopyToSource::Query(query) => guard_query(query),
            CopyToSource::Relation(_) => Ok(false),
        },
        DfStatement::Explain(explain) => guard_df(&mut explain.statement),
        _ => Ok(false),
    }
}

/// Plans one statement given as text inside Quarry (a stored definition, a
/// training or snapshot query), guarded as a client's statement is.
pub async fn plan(state: &SessionState, sql: &str) -> Result<LogicalPlan, SqlStateError> {
    if sql.len() <= SHORT_STATEMENT {
        return state.create_logical_plan(sql).await.sql_err();
    }
    let dialect = state.config().options().sql_parser.dialect;
    let mut stmt = state.sql_to_statement(sql, &dialect).sql_err()?;
    guard_df(&mut stmt)?;
    state.statement_to_plan(stmt).await.sql_err()
}

/// sqlparser's own limit: parentheses, subqueries and function calls nest
/// at most this deep (each costs it a recursion, unlike operator chains).
pub const MAX_PARSER_NESTING: usize = 50;

/// The error for a statement past [`MAX_PARSER_NESTING`].
pub fn too_deeply_parenthesized() -> SqlStateError {
    SqlStateError::new(
        sqlstate::STATEMENT_TOO_COMPLEX,
        format!(
            "statement too complex: parentheses, subqueries and function calls nest deeper \
             than {MAX_PARSER_NESTING} levels"
        ),
    )
}

fn too_complex() -> SqlStateError {
    SqlStateError::new(
        sqlstate::STATEMENT_TOO_COMPLEX,
        format!(
            "statement too complex: expressions and subqueries nest deeper than {MAX_DEPTH} \
             levels"
        ),
    )
    .with_hint(
        "write a long list of alternatives as IN (...) or a join, or split the statement; \
         runs of AND, OR and UNION ALL of any length are accepted",
    )
}

/// A subtree cut off the statement, to be taken apart without recursion.
enum Piece {
    Expr(Box<Expr>),
    Set(Box<SetExpr>),
}

#[derive(Default)]
struct Walk {
    depth: usize,
    too_deep: bool,
    changed: bool,
    cut: Vec<Piece>,
}

fn null() -> Expr {
    Expr::value(Value::Null)
}

/// The operand a left-deep chain continues through, for every expression
/// sqlparser builds in its operator loop.
fn chain_link(e: &mut Expr) -> Option<&mut Box<Expr>> {
    match e {
        Expr::BinaryOp { left, .. }
        | Expr::AnyOp { left, .. }
        | Expr::AllOp { left, .. }
        | Expr::IsDistinctFrom(left, _)
        | Expr::IsNotDistinctFrom(left, _) => Some(left),
        Expr::IsNull(e)
        | Expr::IsNotNull(e)
        | Expr::IsTrue(e)
        | Expr::IsNotTrue(e)
        | Expr::IsFalse(e)
        | Expr::IsNotFalse(e)
        | Expr::IsUnknown(e)
        | Expr::IsNotUnknown(e)
        | Expr::IsNormalized { expr: e, .. }
        | Expr::InList { expr: e, .. }
        | Expr::InSubquery { expr: e, .. }
        | Expr::InUnnest { expr: e, .. }
        | Expr::Between { expr: e, .. }
        | Expr::Like { expr: e, .. }
        | Expr::ILike { expr: e, .. }
        | Expr::SimilarTo { expr: e, .. }
        | Expr::RLike { expr: e, .. }
        | Expr::Cast { expr: e, .. }
        | Expr::Collate { expr: e, .. }
        | Expr::AtTimeZone { timestamp: e, .. } => Some(e),
        _ => None,
    }
}

fn chain_len(e: &mut Expr) -> usize {
    let mut n = 1;
    let mut at = e;
    while let Some(next) = chain_link(at) {
        n += 1;
        at = next;
    }
    n
}

/// Whether `e` starts a run of at least `BALANCE_FROM` `op`s, associative
/// in SQL's three-valued logic.
fn associative_run(e: &Expr) -> Option<BinaryOperator> {
    let Expr::BinaryOp { op, .. } = e else {
        return None;
    };
    if !matches!(op, BinaryOperator::And | BinaryOperator::Or) {
        return None;
    }
    let mut n = 1;
    let mut at = e;
    while let Expr::BinaryOp { left, op: o, .. } = at
        && o == op
    {
        n += 1;
        at = left;
    }
    (n > BALANCE_FROM).then(|| op.clone())
}

/// A node of a left-deep run taken apart, or the node that ends it.
enum Link<T> {
    Node(T, T),
    End(T),
}

/// The operands of a left-deep run, left to right, taken out without
/// recursion: `split` takes a node of the run apart into its left and right
/// operands, or gives back a node that is not part of it.
fn unzip<T>(top: T, split: impl Fn(T) -> Link<T>) -> Vec<T> {
    let mut rights = Vec::new();
    let mut at = top;
    loop {
        match split(at) {
            Link::Node(left, right) => {
                rights.push(right);
                at = left;
            }
            Link::End(other) => {
                rights.push(other);
                break;
            }
        }
    }
    rights.reverse();
    rights
}

/// The operands joined again as a balanced tree (recursion depth log n).
fn balanced<T>(mut operands: Vec<T>, join: &impl Fn(T, T) -> T, empty: fn() -> T) -> T {
    if operands.len() <= 1 {
        return operands.pop().unwrap_or_else(empty);
    }
    let right = operands.split_off(operands.len() / 2);
    let left = balanced(operands, join, empty);
    join(left, balanced(right, join, empty))
}

/// [`balanced`] for a run of the binary operator `op`.
fn balanced_run(e: Expr, op: &BinaryOperator) -> Expr {
    let operands = unzip(e, |at| match at {
        Expr::BinaryOp { left, op: o, right } if &o == op => Link::Node(*left, *right),
        other => Link::End(other),
    });
    let join = |left, right| Expr::BinaryOp {
        left: Box::new(left),
        op: op.clone(),
        right: Box::new(right),
    };
    balanced(operands, &join, null)
}

/// Takes a chain apart link by link into `cut`: each piece keeps its other
/// operands and loses the link, so none is deep at its top.
fn cut_chain(e: &mut Expr, cut: &mut Vec<Piece>) {
    let mut node = std::mem::replace(e, null());
    loop {
        let next = chain_link(&mut node).map(|link| std::mem::replace(&mut **link, null()));
        cut.push(Piece::Expr(Box::new(node)));
        match next {
            Some(n) => node = n,
            None => break,
        }
    }
}

/// A run of one set operation with one quantifier, as long as `union_run`
/// allows balancing: `UNION` and `UNION ALL` only (`EXCEPT` is not
/// associative; `BY NAME` matches columns by name).
fn union_run(body: &SetExpr) -> Option<(SetOperator, SetQuantifier)> {
    let SetExpr::SetOperation {
        op: SetOperator::Union,
        set_quantifier,
        ..
    } = body
    else {
        return None;
    };
    if !matches!(
        set_quantifier,
        SetQuantifier::All | SetQuantifier::Distinct | SetQuantifier::None
    ) {
        return None;
    }
    let mut n = 1;
    let mut at = body;
    while let SetExpr::SetOperation {
        left,
        op: SetOperator::Union,
        set_quantifier: q,
        ..
    } = at
        && q == set_quantifier
    {
        n += 1;
        at = left;
    }
    (n > BALANCE_FROM).then_some((SetOperator::Union, *set_quantifier))
}

fn set_chain_len(body: &SetExpr) -> usize {
    let mut n = 1;
    let mut at = body;
    while let SetExpr::SetOperation { left, .. } = at {
        n += 1;
        at = left;
    }
    n
}

/// [`balanced`] for a run of `UNION` with one quantifier.
fn balanced_union(body: SetExpr, quantifier: SetQuantifier) -> SetExpr {
    let arms = unzip(body, |at| match at {
        SetExpr::SetOperation {
            left,
            op: SetOperator::Union,
            set_quantifier,
            right,
        } if set_quantifier == quantifier => Link::Node(*left, *right),
        other => Link::End(other),
    });
    let join = |left, right| SetExpr::SetOperation {
        left: Box::new(left),
        op: SetOperator::Union,
        set_quantifier: quantifier,
        right: Box::new(right),
    };
    balanced(arms, &join, empty_set)
}

fn empty_set() -> SetExpr {
    SetExpr::Values(Values {
        explicit_row: false,
        value_keyword: false,
        rows: Vec::new(),
    })
}

fn cut_set_chain(body: &mut SetExpr, cut: &mut Vec<Piece>) {
    let mut node = std::mem::replace(body, empty_set());
    loop {
        let next = match &mut node {
            SetExpr::SetOperation { left, .. } => Some(std::mem::replace(&mut **left, empty_set())),
            _ => None,
        };
        cut.push(Piece::Set(Box::new(node)));
        match next {
            Some(n) => node = n,
            None => break,
        }
    }
}

impl Walk {
    fn finish(mut self) -> Result<bool, SqlStateError> {
        // Cut-off pieces are walked the same way (each from depth zero, so
        // no walk recurses deeper than the limit) and then dropped, shallow.
        while let Some(piece) = self.cut.pop() {
            self.depth = 0;
            match piece {
                Piece::Expr(mut e) => {
                    let _ = e.visit(&mut self);
                }
                Piece::Set(mut s) => {
                    let _ = s.visit(&mut self);
                }
            }
        }
        if self.too_deep {
            return Err(too_complex());
        }
        Ok(self.changed)
    }
}

impl VisitorMut for Walk {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            self.too_deep = true;
            let body = std::mem::replace(query.body.as_mut(), empty_set());
            self.cut.push(Piece::Set(Box::new(body)));
            return ControlFlow::Continue(());
        }
        if let Some((_, quantifier)) = union_run(&query.body) {
            let body = std::mem::replace(query.body.as_mut(), empty_set());
            *query.body = balanced_union(body, quantifier);
            self.changed = true;
        }
        if set_chain_len(&query.body) > MAX_DEPTH {
            self.too_deep = true;
            cut_set_chain(&mut query.body, &mut self.cut);
        }
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &mut Query) -> ControlFlow<()> {
        self.depth = self.depth.saturating_sub(1);
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            self.too_deep = true;
            self.cut
                .push(Piece::Expr(Box::new(std::mem::replace(expr, null()))));
            return ControlFlow::Continue(());
        }
        if let Some(op) = associative_run(expr) {
            let run = std::mem::replace(expr, null());
            *expr = balanced_run(run, &op);
            self.changed = true;
        }
        if chain_len(expr) > MAX_DEPTH {
            self.too_deep = true;
            cut_chain(expr, &mut self.cut);
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, _expr: &mut Expr) -> ControlFlow<()> {
        self.depth = self.depth.saturating_sub(1);
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    use super::*;

    fn parse(sql: &str) -> Statement {
        let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).expect("parses");
        statements.pop().expect("one statement")
    }

    fn chain(term: &str, op: &str, n: usize) -> String {
        vec![term; n].join(op)
    }

    #[test]
    fn short_runs_are_left_as_written() {
        let mut stmt = parse("SELECT a OR b OR c FROM t WHERE x = 1 AND y = 2");
        let before = stmt.to_string();
        assert!(!guard(&mut stmt).expect("accepted"));
        assert_eq!(stmt.to_string(), before);
    }

    #[test]
    fn long_or_runs_become_balanced_keeping_operand_order() {
        let terms: Vec<String> = (0..20_000).map(|i| format!("id = {i}")).collect();
        let mut stmt = parse(&format!("SELECT 1 FROM t WHERE {}", terms.join(" OR ")));
        assert!(guard(&mut stmt).expect("accepted"));
        let Statement::Query(query) = &stmt else {
            panic!("a query")
        };
        let SetExpr::Select(select) = query.body.as_ref() else {
            panic!("a select")
        };
        let mut operands = Vec::new();
        let mut stack = vec![select.selection.as_ref().expect("a WHERE")];
        let mut depth = 0;
        // Left-to-right in-order walk, measuring the depth on the way.
        let mut levels = vec![1usize];
        while let Some(e) = stack.pop() {
            let level = levels.pop().unwrap_or(1);
            depth = depth.max(level);
            match e {
                Expr::BinaryOp {
                    left,
                    op: BinaryOperator::Or,
                    right,
                } => {
                    stack.push(right);
                    levels.push(level + 1);
                    stack.push(left);
                    levels.push(level + 1);
                }
                other => operands.push(other.to_string()),
            }
        }
        assert_eq!(operands, terms);
        assert!(depth <= 16, "depth {depth}");
    }

    #[test]
    fn long_union_all_runs_become_balanced() {
        let arms: Vec<String> = (0..6_000).map(|i| format!("SELECT {i}")).collect();
        let mut stmt = parse(&arms.join(" UNION ALL "));
        assert!(guard(&mut stmt).expect("accepted"));
        let text = stmt.to_string();
        assert!(text.starts_with("SELECT 0 UNION ALL SELECT 1 UNION ALL"));
        assert!(text.ends_with("SELECT 5999"));
    }

    #[test]
    fn mixed_union_and_union_all_are_not_reassociated() {
        let mut stmt = parse(&format!(
            "{} UNION {}",
            chain("SELECT 1", " UNION ALL ", 100),
            chain("SELECT 1", " UNION ALL ", 100)
        ));
        // The UNION ALL run after the UNION is balanced on its own; the
        // UNION (distinct) stays its leftmost operand, applied before any
        // arm after it, as written.
        assert!(guard(&mut stmt).expect("accepted"));
        let Statement::Query(query) = &stmt else {
            panic!("a query")
        };
        let mut at = query.body.as_ref();
        let mut depth = 0;
        while let SetExpr::SetOperation {
            left,
            set_quantifier: SetQuantifier::All,
            ..
        } = at
        {
            at = left;
            depth += 1;
        }
        assert!((2..=10).contains(&depth), "balanced, depth {depth}");
        let SetExpr::SetOperation {
            left,
            set_quantifier: SetQuantifier::None,
            right,
            ..
        } = at
        else {
            panic!("the UNION is the leftmost operand: {at}")
        };
        assert_eq!(right.to_string(), "SELECT 1");
        assert_eq!(left.to_string().matches("UNION ALL").count(), 99);
    }

    #[test]
    fn chains_deeper_than_the_limit_are_too_complex() {
        for sql in [
            format!("SELECT {}", chain("1", "+", MAX_DEPTH + 1)),
            format!("SELECT 'a'{}", "::text".repeat(MAX_DEPTH + 1)),
            format!("SELECT x{}", " IS NULL".repeat(MAX_DEPTH + 1)),
            chain("SELECT 1", " EXCEPT ", MAX_DEPTH + 1),
            format!("SELECT f({})", chain("2", "*", 3 * MAX_DEPTH)),
        ] {
            let mut stmt = parse(&sql);
            let e = guard(&mut stmt).expect_err("too deep");
            assert_eq!(e.code, sqlstate::STATEMENT_TOO_COMPLEX, "{}", &sql[..40]);
            assert!(e.message.contains("5000"), "{}", e.message);
        }
    }

    #[test]
    fn chains_at_the_limit_are_accepted() {
        let mut stmt = parse(&format!("SELECT {}", chain("1", "+", MAX_DEPTH - 2)));
        assert!(!guard(&mut stmt).expect("accepted"));
    }

    #[test]
    fn a_very_long_rejected_chain_is_dropped_without_overflow() {
        // Run on a thread with a small stack: the walk and the drop must
        // not recurse down the chain.
        let handle = std::thread::Builder::new()
            .stack_size(8 << 20)
            .spawn(|| {
                let mut stmt = parse(&format!("SELECT {}", chain("1", "-", 200_000)));
                guard(&mut stmt).is_err()
            })
            .expect("thread");
        assert!(handle.join().expect("no overflow"));
    }
}
