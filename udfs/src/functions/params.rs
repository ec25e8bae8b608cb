//! The parameters of a table function, declared once.
//!
//! A table function lists its parameters as a const [`Params`]: name, kind,
//! whether a call may leave it out, and the description the reference shows.
//! From that one list come the positions that hold relations (for the
//! relation planner and the statement rewrite), the position whose quoted
//! text names a model, the usage shown in errors (`expected (model,
//! relation [, bins [, segment]])`) and the argument table of the docs. At
//! planning the call arrives as [`Args`], read by position with the checks
//! and messages the functions share.
//!
//! | kind | a call passes | the function gets |
//! |------|---------------|-------------------|
//! | [`Kind::Model`] | a model reference in quotes | its text ([`Args::model`]) |
//! | [`Kind::Relation`] | a table name, a parenthesized subquery, or text holding either | a logical plan ([`Args::relation`]), or SQL text for a function that keeps the query |
//! | [`Kind::ModelOrRelation`] | a model reference in quotes, else a relation | either |
//! | [`Kind::Value`] | a constant | an expression |
//! | [`Kind::Named`] | only `name => value` | an expression in [`Args::named`] |
//!
//! Named arguments are checked by each function: which names it takes and
//! what it says about others differ (options of a JSON object, thresholds).

use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{DocumentationBuilder, Expr, LogicalPlan};

use crate::error::SqlStateError;

/// One argument of a relation function call, after planning.
#[derive(Debug)]
pub enum Arg {
    /// A scalar argument, planned against an empty schema.
    Value(Expr),
    /// A relation argument.
    Relation(LogicalPlan),
}

/// The text of a string literal.
pub fn text_literal(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Literal(
            datafusion::scalar::ScalarValue::Utf8(Some(s))
            | datafusion::scalar::ScalarValue::Utf8View(Some(s))
            | datafusion::scalar::ScalarValue::LargeUtf8(Some(s)),
            _,
        ) => Some(s),
        _ => None,
    }
}

/// A positional argument that must be a text literal (a column name, a
/// method, a rule); `what` names it, e.g. "time_col (argument 2)".
pub fn text_arg(function: &str, arg: Option<&Arg>, what: &str) -> Result<String, SqlStateError> {
    match arg {
        Some(Arg::Value(e)) => text_literal(e).map(str::to_string),
        _ => None,
    }
    .ok_or_else(|| {
        SqlStateError::bad_argument(format!("{function}: {what} must be a text literal"))
    })
}

/// What a parameter holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Model,
    Relation,
    ModelOrRelation,
    Value,
    Named,
}

/// Whether a call must pass a positional parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    Required,
    /// May be left out, with every optional parameter after it.
    Optional,
    /// One or more: the last parameter, repeated.
    Repeated,
}

/// One parameter.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub kind: Kind,
    pub presence: Presence,
    pub description: &'static str,
}

impl Param {
    const fn new(name: &'static str, kind: Kind, description: &'static str) -> Param {
        Param {
            name,
            kind,
            presence: Presence::Required,
            description,
        }
    }

    pub const fn model(name: &'static str, description: &'static str) -> Param {
        Param::new(name, Kind::Model, description)
    }

    pub const fn relation(name: &'static str, description: &'static str) -> Param {
        Param::new(name, Kind::Relation, description)
    }

    pub const fn model_or_relation(name: &'static str, description: &'static str) -> Param {
        Param::new(name, Kind::ModelOrRelation, description)
    }

    pub const fn value(name: &'static str, description: &'static str) -> Param {
        Param::new(name, Kind::Value, description)
    }

    pub const fn named(name: &'static str, description: &'static str) -> Param {
        Param::new(name, Kind::Named, description)
    }

    pub const fn optional(self) -> Param {
        Param {
            presence: Presence::Optional,
            ..self
        }
    }

    pub const fn repeated(self) -> Param {
        Param {
            presence: Presence::Repeated,
            ..self
        }
    }
}

/// A model reference, as most table functions describe it.
pub const MODEL: Param = Param::model(
    "model",
    "Model reference: 'name', 'name@3' or 'name@alias'.",
);

/// A relation, as most table functions describe it.
pub const RELATION: Param = Param::relation(
    "relation",
    "A table name, a parenthesized subquery, or text holding a name or a query.",
);

/// The parameters of a table function, in order: positional ones, then the
/// named-only ones.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    params: &'static [Param],
    /// The usage when it is not the parameter list (alternative forms).
    usage: Option<&'static str>,
}

impl Params {
    pub const fn new(params: &'static [Param]) -> Params {
        Params {
            params,
            usage: None,
        }
    }

    /// Says the usage in words where the parameter list does not (a
    /// function with two forms).
    pub const fn with_usage(self, usage: &'static str) -> Params {
        Params {
            usage: Some(usage),
            ..self
        }
    }

    fn positional(&self) -> impl Iterator<Item = &Param> {
        self.params.iter().filter(|p| p.kind != Kind::Named)
    }

    /// The positional parameter at `position` (from 0); a repeated last
    /// parameter covers every position after it.
    pub fn at(&self, position: usize) -> Option<&Param> {
        let positional: Vec<&Param> = self.positional().collect();
        positional.get(position).copied().or_else(|| {
            positional
                .last()
                .copied()
                .filter(|p| p.presence == Presence::Repeated)
        })
    }

    /// Whether the argument at `position` is a relation.
    pub fn is_relation(&self, position: usize) -> bool {
        self.at(position)
            .is_some_and(|p| matches!(p.kind, Kind::Relation | Kind::ModelOrRelation))
    }

    /// Whether quoted text at `position` names a model rather than a table
    /// (a query in quotes is still a relation).
    pub fn names_model(&self, position: usize) -> bool {
        self.at(position)
            .is_some_and(|p| p.kind == Kind::ModelOrRelation)
    }

    /// The positions that hold relations.
    pub fn relation_positions(&self) -> Vec<usize> {
        (0..self.positional().count())
            .filter(|&p| self.is_relation(p))
            .collect()
    }

    /// `(model, relation [, bins [, segment]])`.
    pub fn usage(&self) -> String {
        if let Some(usage) = self.usage {
            return usage.to_string();
        }
        let mut out = String::from("(");
        let mut open = 0;
        for (i, p) in self.positional().enumerate() {
            match p.presence {
                Presence::Required if i == 0 => out.push_str(p.name),
                Presence::Required => {
                    out.push_str(", ");
                    out.push_str(p.name);
                }
                Presence::Optional => {
                    out.push_str(if i == 0 { "[" } else { " [, " });
                    out.push_str(p.name);
                    open += 1;
                }
                Presence::Repeated => {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(&format!("{0} [, {0} ...]", p.name));
                }
            }
        }
        out.push_str(&"]".repeat(open));
        out.push(')');
        out
    }

    /// The reference's argument table.
    pub fn document(&self, mut builder: DocumentationBuilder) -> DocumentationBuilder {
        for p in self.params {
            builder = builder.with_argument(p.name, p.description);
        }
        builder
    }
}

/// The arguments of one call, as planned: positional ones by position (taken
/// once), named ones as given.
#[derive(Debug)]
pub struct Args {
    function: &'static str,
    params: Params,
    positional: Vec<Option<Arg>>,
    pub named: Vec<(String, Expr)>,
}

impl Args {
    pub fn new(
        function: &'static str,
        params: Params,
        positional: Vec<Arg>,
        named: Vec<(String, Expr)>,
    ) -> Args {
        Args {
            function,
            params,
            positional: positional.into_iter().map(Some).collect(),
            named,
        }
    }

    /// How many positional arguments the call passed.
    pub fn len(&self) -> usize {
        self.positional.len()
    }

    pub fn is_empty(&self) -> bool {
        self.positional.is_empty()
    }

    /// `{function}: expected {usage}` (22023).
    pub fn usage_error(&self) -> DataFusionError {
        SqlStateError::bad_argument(format!(
            "{}: expected {}",
            self.function,
            self.params.usage()
        ))
        .into_df()
    }

    /// Fails with the usage when more than `n` positional arguments were passed.
    pub fn at_most(&self, n: usize) -> Result<()> {
        if self.len() > n {
            return Err(self.usage_error());
        }
        Ok(())
    }

    /// Fails on the first named argument, for a function that takes none.
    pub fn refuse_named(&self) -> Result<()> {
        match self.named.first() {
            Some((name, _)) => Err(SqlStateError::bad_argument(format!(
                "{}: unknown named argument {name}; it takes {}",
                self.function,
                self.params.usage()
            ))
            .into_df()),
            None => Ok(()),
        }
    }

    /// The named arguments of a function that takes one option, `option`:
    /// `set` sees their values in order; another name is
    /// [`unknown_option`].
    pub fn each_option(
        &self,
        option: &str,
        mut set: impl FnMut(&Expr) -> Result<(), SqlStateError>,
    ) -> Result<()> {
        for (name, value) in &self.named {
            if name != option {
                return Err(unknown_option(self.function, name, option).into_df());
            }
            set(value)?;
        }
        Ok(())
    }

    /// The argument at `position`, taken out of the call.
    pub fn take(&mut self, position: usize) -> Option<Arg> {
        self.positional.get_mut(position).and_then(Option::take)
    }

    /// The relation at `position`; the usage when there is none.
    pub fn relation(&mut self, position: usize) -> Result<LogicalPlan> {
        match self.take(position) {
            Some(Arg::Relation(plan)) => Ok(plan),
            _ => Err(self.usage_error()),
        }
    }

    /// The constant at `position`, if the call passed one there.
    pub fn value(&mut self, position: usize) -> Option<Expr> {
        match self.take(position) {
            Some(Arg::Value(e)) => Some(e),
            _ => None,
        }
    }

    /// The model reference at `position`, a text literal; the usage when
    /// there is no argument there.
    pub fn model(&self, position: usize) -> Result<String> {
        match self.positional.get(position) {
            Some(Some(Arg::Value(e))) => {
                model_text(self.function, position + 1, e).map_err(SqlStateError::into_df)
            }
            _ => Err(self.usage_error()),
        }
    }

    /// The text literal at `position` (a column name, a method):
    /// `{function}: {name} (argument {n}) must be a text literal` otherwise,
    /// also when it is missing.
    pub fn text(&self, position: usize) -> Result<String> {
        let name = self.params.at(position).map_or("argument", |p| p.name);
        let arg = self.positional.get(position).and_then(Option::as_ref);
        text_arg(
            self.function,
            arg,
            &format!("{name} (argument {})", position + 1),
        )
        .map_err(SqlStateError::into_df)
    }
}

/// `{function}: unknown option {name}; the option is {option}`.
pub fn unknown_option(function: &str, name: &str, option: &str) -> SqlStateError {
    SqlStateError::bad_argument(format!(
        "{function}: unknown option {name}; the option is {option}"
    ))
}

/// A model reference given as an expression, which must be a text literal.
pub fn model_text(function: &str, position: usize, expr: &Expr) -> Result<String, SqlStateError> {
    text_literal(expr).map(str::to_string).ok_or_else(|| {
        SqlStateError::bad_argument(format!(
            "{function}: argument {position} (model) must be a text literal such as 'churn' or 'churn@2'"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CURVE: Params = Params::new(&[
        Param::model("model", ""),
        Param::relation("relation", ""),
        Param::value("bins", "").optional(),
        Param::value("segment", "").optional(),
    ]);

    #[test]
    fn usage_nests_optional_parameters_and_repeats_the_last() {
        assert_eq!(CURVE.usage(), "(model, relation [, bins [, segment]])");
        const RULES: Params = Params::new(&[
            Param::relation("relation", ""),
            Param::value("rule", "").repeated(),
        ]);
        assert_eq!(RULES.usage(), "(relation, rule [, rule ...])");
        assert_eq!(RULES.at(7).map(|p| p.name), Some("rule"));
        const NAMED: Params =
            Params::new(&[Param::relation("relation", ""), Param::named("alpha", "")]);
        assert_eq!(NAMED.usage(), "(relation)");
    }

    #[test]
    fn positions_come_from_the_kinds() {
        assert_eq!(CURVE.relation_positions(), vec![1]);
        assert!(!CURVE.is_relation(0) && !CURVE.is_relation(4));
        const DRIFT: Params = Params::new(&[
            Param::model_or_relation("model", ""),
            Param::relation("current_relation", ""),
        ]);
        assert_eq!(DRIFT.relation_positions(), vec![0, 1]);
        assert!(DRIFT.names_model(0) && !DRIFT.names_model(1));
    }
}
