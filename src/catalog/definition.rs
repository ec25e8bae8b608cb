//! The SQL an external table is stored as, rendered whole.
//!
//! DataFusion keeps the text of a `CREATE EXTERNAL TABLE` as its parser's
//! `Display` writes it, which leaves out the column list and `OPTIONS`: at
//! restart a `|`-delimited headerless CSV came back as one column, `INT`
//! became `BIGINT`, a header row became data. [`external_table_sql`] writes
//! every clause the parser read, so planning the stored text again gives the
//! same table.

use datafusion::sql::parser::CreateExternalTable;

fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// `CREATE EXTERNAL TABLE` with every clause of `c`, in the order
/// DataFusion's parser reads them.
pub fn external_table_sql(c: &CreateExternalTable) -> String {
    let mut sql = String::from("CREATE ");
    if c.unbounded {
        sql.push_str("UNBOUNDED ");
    }
    sql.push_str("EXTERNAL TABLE ");
    sql.push_str(&c.name.to_string());
    if !c.columns.is_empty() || !c.constraints.is_empty() {
        let parts: Vec<String> = c
            .columns
            .iter()
            .map(ToString::to_string)
            .chain(c.constraints.iter().map(ToString::to_string))
            .collect();
        sql.push_str(&format!(" ({})", parts.join(", ")));
    }
    sql.push_str(&format!(" STORED AS {}", c.file_type));
    if !c.table_partition_cols.is_empty() {
        sql.push_str(&format!(
            " PARTITIONED BY ({})",
            c.table_partition_cols.join(", ")
        ));
    }
    for order in &c.order_exprs {
        let exprs: Vec<String> = order.iter().map(ToString::to_string).collect();
        sql.push_str(&format!(" WITH ORDER ({})", exprs.join(", ")));
    }
    if let Some(location) = c.locations.first() {
        sql.push_str(&format!(" LOCATION {}", quoted(location)));
    }
    if !c.options.is_empty() {
        let options: Vec<String> = c
            .options
            .iter()
            .map(|(k, v)| format!("{} {v}", quoted(k)))
            .collect();
        sql.push_str(&format!(" OPTIONS ({})", options.join(", ")));
    }
    sql
}

#[cfg(test)]
mod tests {
    use datafusion::sql::parser::{DFParser, Statement};

    use super::*;

    fn parse(sql: &str) -> CreateExternalTable {
        let mut statements = DFParser::parse_sql(sql).expect("parses");
        match statements.pop_front() {
            Some(Statement::CreateExternalTable(c)) => c,
            other => panic!("not CREATE EXTERNAL TABLE: {other:?}"),
        }
    }

    #[test]
    fn every_clause_survives_a_round_trip() {
        for sql in [
            "CREATE EXTERNAL TABLE e (a INT, b TEXT, c DOUBLE) STORED AS CSV LOCATION '/tmp/p.csv' \
             OPTIONS ('format.delimiter' '|', 'format.has_header' 'false')",
            "CREATE EXTERNAL TABLE s.h STORED AS CSV LOCATION '/tmp/it''s.csv' OPTIONS ('format.has_header' 'true')",
            "CREATE UNBOUNDED EXTERNAL TABLE j (x BIGINT NOT NULL) STORED AS JSON LOCATION '/tmp/j/'",
            "CREATE EXTERNAL TABLE p (a INT, d DATE) STORED AS PARQUET PARTITIONED BY (d) \
             WITH ORDER (a ASC) LOCATION '/tmp/p/'",
        ] {
            let first = parse(sql);
            let rendered = external_table_sql(&first);
            let again = parse(&rendered);
            assert_eq!(first, again, "{rendered}");
        }
    }
}
