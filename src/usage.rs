//! How each function is called, for the error of a call that matches none of
//! its signatures: `function ml_deploy(bigint) does not exist`, with the hint
//! `ml_deploy(model text, version bigint [, alias text])`, instead of
//! DataFusion's dump of its type-signature enum.
//!
//! The usage lines are rendered once per process from the functions'
//! definitions (signature and documented argument names), when the first
//! base state is built ([`record`]); every session registers the same
//! functions, so one table serves them all.

use std::collections::HashMap;
use std::sync::OnceLock;

use datafusion::arrow::datatypes::DataType;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::{Documentation, Signature, TypeSignature};

static USAGE: OnceLock<HashMap<String, String>> = OnceLock::new();

/// Renders the usage line of every documented function in `state`.
pub fn record(state: &SessionState) {
    USAGE.get_or_init(|| {
        let mut usage = HashMap::new();
        let mut add = |name: &str, signature: &Signature, doc: Option<&Documentation>| {
            if let Some(doc) = doc {
                usage.insert(name.to_string(), render(name, signature, doc));
            }
        };
        for (name, f) in state.scalar_functions() {
            add(name, f.signature(), f.documentation());
        }
        for (name, f) in state.aggregate_functions() {
            add(name, f.signature(), f.documentation());
        }
        for (name, f) in state.window_functions() {
            add(name, f.signature(), f.documentation());
        }
        usage
    });
}

/// The usage line of function `name`, when it is documented.
pub fn of(name: &str) -> Option<&'static str> {
    USAGE.get()?.get(name).map(String::as_str)
}

/// `name(arg type, ... [, optional type])` when the signature is a set of
/// exact argument lists each extending the shorter ones and every argument
/// is documented; otherwise the documented syntax example.
fn render(name: &str, signature: &Signature, doc: &Documentation) -> String {
    let lists: Vec<&Vec<DataType>> = match &signature.type_signature {
        TypeSignature::Exact(types) => vec![types],
        TypeSignature::OneOf(variants) => variants
            .iter()
            .map(|v| match v {
                TypeSignature::Exact(types) => Some(types),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    let Some(longest) = lists.iter().max_by_key(|l| l.len()) else {
        return doc.syntax_example.clone();
    };
    let names: Vec<&str> = doc
        .arguments
        .iter()
        .flatten()
        .map(|(n, _)| n.as_str())
        .collect();
    let nested = lists.iter().all(|l| longest.starts_with(l));
    if !nested || names.len() < longest.len() {
        return doc.syntax_example.clone();
    }
    let shortest = lists.iter().map(|l| l.len()).min().unwrap_or(0);
    let mut text = format!("{name}(");
    let mut open = 0;
    for (i, (arg, ty)) in names.iter().zip(longest.iter()).enumerate() {
        let optional = i >= shortest && lists.iter().any(|l| l.len() == i);
        if optional {
            text.push_str(if i == 0 { "[" } else { " [" });
            open += 1;
        }
        if i > 0 {
            text.push_str(", ");
        }
        text.push_str(arg);
        text.push(' ');
        text.push_str(&pg_type(&ty.to_string()));
    }
    text.push_str(&"]".repeat(open));
    text.push(')');
    text
}

/// PostgreSQL's name for an Arrow type as DataFusion prints it (`Int64` →
/// `bigint`, `Utf8` → `text`); other types keep Arrow's name.
pub fn pg_type(arrow: &str) -> String {
    let arrow = arrow.trim();
    if let Some(name) = crate::error::pg_integer_name(arrow) {
        return name.to_string();
    }
    let name = match arrow {
        "Utf8" | "LargeUtf8" | "Utf8View" => "text",
        "Float64" => "double precision",
        "Float32" | "Float16" => "real",
        "Boolean" => "boolean",
        "Date32" | "Date64" => "date",
        "Binary" | "LargeBinary" | "BinaryView" => "bytea",
        "Null" => "unknown",
        // `Timestamp(ns)` or `Timestamp(Nanosecond, None)`: no zone.
        _ if arrow.starts_with("Timestamp(")
            && (!arrow.contains(',') || arrow.ends_with("None)")) =>
        {
            "timestamp"
        }
        _ if arrow.starts_with("Timestamp(") => "timestamp with time zone",
        _ if arrow.starts_with("Decimal") => "numeric",
        _ if arrow.starts_with("Interval") => "interval",
        _ => return arrow.to_string(),
    };
    name.to_string()
}

/// The argument types of DataFusion's "argument types 'f(Int64, Utf8)'" in
/// PostgreSQL's names: `bigint, text`.
pub fn pg_argument_types(arrow_list: &str) -> String {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in arrow_list.char_indices() {
        match c {
            '(' | '<' | '[' => depth += 1,
            ')' | '>' | ']' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&arrow_list[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if !arrow_list[start..].trim().is_empty() {
        parts.push(&arrow_list[start..]);
    }
    parts
        .into_iter()
        .map(pg_type)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::logical_expr::{DocSection, Volatility};

    fn doc(arguments: &[&str]) -> Documentation {
        let mut b = Documentation::builder(
            DocSection {
                include: true,
                label: "x",
                description: None,
            },
            "d",
            "f(a, b [, c])",
        );
        for a in arguments {
            b = b.with_argument(*a, "about it");
        }
        b.build()
    }

    #[test]
    fn optional_trailing_arguments_are_bracketed() {
        let signature = Signature::one_of(
            vec![
                TypeSignature::Exact(vec![DataType::Utf8, DataType::Int64]),
                TypeSignature::Exact(vec![DataType::Utf8, DataType::Int64, DataType::Utf8]),
            ],
            Volatility::Volatile,
        );
        assert_eq!(
            render(
                "ml_deploy",
                &signature,
                &doc(&["model", "version", "alias"])
            ),
            "ml_deploy(model text, version bigint [, alias text])"
        );
        let three = Signature::one_of(
            vec![
                TypeSignature::Exact(vec![DataType::Float64]),
                TypeSignature::Exact(vec![DataType::Float64, DataType::Boolean]),
                TypeSignature::Exact(vec![DataType::Float64, DataType::Boolean, DataType::Int32]),
            ],
            Volatility::Immutable,
        );
        assert_eq!(
            render("f", &three, &doc(&["x", "flag", "n"])),
            "f(x double precision [, flag boolean [, n integer]])"
        );
    }

    #[test]
    fn other_signatures_use_the_documented_example() {
        let any = Signature::any(2, Volatility::Immutable);
        assert_eq!(render("f", &any, &doc(&["a", "b"])), "f(a, b [, c])");
        // Arguments without documented names.
        let exact = Signature::exact(vec![DataType::Utf8], Volatility::Immutable);
        assert_eq!(render("f", &exact, &doc(&[])), "f(a, b [, c])");
    }

    #[test]
    fn arrow_types_read_as_postgresql_names() {
        assert_eq!(
            pg_argument_types(
                "Int64, Utf8, List(Field { name: \"item\", nullable: true }), Float64"
            ),
            "bigint, text, List(Field { name: \"item\", nullable: true }), double precision"
        );
        assert_eq!(pg_argument_types(""), "");
        assert_eq!(pg_type("Timestamp(Nanosecond, None)"), "timestamp");
    }
}
