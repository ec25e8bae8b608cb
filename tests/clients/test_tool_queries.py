"""The connection and browsing queries of BI tools, replayed verbatim.

`tests/clients/tool_queries/*.sql` hold what Metabase, DBeaver, Superset
(with SQLAlchemy and psycopg2 underneath), Grafana, Tableau (pgJDBC underneath)
and Npgsql send to a PostgreSQL
server when they connect, list schemas and tables, and describe a table,
copied from those projects' sources (each query names its source file).
Each runs here through the extended protocol, as the drivers send them, on
a table `tool_items` with a primary key and a comment; every query must
succeed, and the ones a tool builds its tree or sync from must return what
it needs (the table, its columns in order, its key and its index, its
comment).

DBeaver binds object ids it read earlier: the files hold PostgreSQL's oid
of `public` (2200) and a stand-in for the table's (16384), replaced here
with what this server's catalogs answer. Grafana's backend binds the schema
and table it lists (`$1`, `$2`): `public` and `grafana_metrics`, whose
rows its dashboard queries read. Tableau's stand-in oid for its table
(16385) is replaced likewise, and the probe it expects PostgreSQL to refuse
(`GROUP BY 2` past the select list) must be refused with 42P10.
"""

import os
import pathlib
import re
import sys

import psycopg

DSN = os.environ["QUARRY_DSN"]
HERE = pathlib.Path(__file__).parent / "tool_queries"
FILES = ["metabase.sql", "dbeaver.sql", "superset.sql", "grafana.sql", "tableau.sql"]
GRAFANA_COLUMNS = [("time", "timestamp without time zone"), ("host", "text"), ("value", "double precision")]


def statements(path):
    """The statements of a query file, comments dropped."""
    body = "\n".join(line for line in path.read_text().splitlines() if not line.startswith("--"))
    return [s.strip() for s in re.split(r";\s*\n", body + "\n") if s.strip()]


def column(rows, names, name):
    i = names.index(name)
    return [r[i] for r in rows]


def metabase_tables(rows, names):
    found = [r for r in rows if r[names.index("name")] == "tool_items"]
    assert len(found) == 1, rows
    row = dict(zip(names, found[0]))
    assert row["schema"] == "public" and row["type"] == "TABLE", row
    assert row["description"] == "what the tools browse", row


def metabase_privileges(rows, names):
    found = [dict(zip(names, r)) for r in rows if r[names.index("table")] == "tool_items"]
    assert len(found) == 1 and found[0]["select"] is True, rows


def metabase_fields(rows, names):
    by_name = {r[names.index("name")]: dict(zip(names, r)) for r in rows}
    assert list(by_name) == ["id", "name", "score"], rows
    assert [f["database-position"] for f in by_name.values()] == [0, 1, 2], rows
    assert by_name["id"]["database-type"] == "int8", by_name
    assert by_name["score"]["database-type"] == "float8", by_name
    assert [f["pk?"] for f in by_name.values()] == [True, False, False], by_name
    assert by_name["name"]["database-required"] is True, by_name
    assert by_name["score"]["database-required"] is False, by_name
    assert by_name["name"]["field-comment"] == "shown to users", by_name


def metabase_indexes(rows, names):
    assert [tuple(r) for r in rows] == [("public", "tool_items", "id")], rows


def dbeaver_schemas(rows, names):
    assert "public" in column(rows, names, "nspname"), rows


def dbeaver_tables(rows, names):
    found = [dict(zip(names, r)) for r in rows if r[names.index("relname")] == "tool_items"]
    assert len(found) == 1, rows
    assert found[0]["relkind"] == "r" and found[0]["description"] == "what the tools browse", found


def dbeaver_columns(rows, names):
    assert column(rows, names, "attname") == ["id", "name", "score"], rows
    assert column(rows, names, "attnum") == [1, 2, 3], rows
    assert column(rows, names, "attnotnull") == [True, True, False], rows


def dbeaver_constraints(rows, names):
    found = [dict(zip(names, r)) for r in rows]
    assert [(c["conname"], c["contype"]) for c in found] == [("tool_items_pkey", "p")], found
    assert list(found[0]["conkey"]) == [1], found


def dbeaver_indexes(rows, names):
    found = [dict(zip(names, r)) for r in rows]
    assert [(i["relname"], i["indisprimary"]) for i in found] == [("tool_items_pkey", True)], found


def superset_tables(rows, names):
    assert "tool_items" in column(rows, names, "relname"), rows


def grafana_version(rows, names):
    # Grafana enables its PostgreSQL 9.6+ features (and asks for
    # TimescaleDB) from this number.
    assert names == ["version"] and rows[0][0] >= 906, (names, rows)


def grafana_tables(rows, names):
    assert names == ["table"] and ("grafana_metrics",) in [tuple(r) for r in rows], rows


def grafana_columns(rows, names):
    assert names == ["column", "type"] and [tuple(r) for r in rows] == GRAFANA_COLUMNS, rows


def grafana_backend_columns(rows, names):
    assert [(r[0], r[2]) for r in rows] == [("time", "timestamp"), ("host", "text"), ("value", "float8")], rows


def grafana_variable_values(rows, names):
    assert sorted(r[0] for r in rows) == ["'a'", "'b'"], rows


def tableau_tables(rows, names):
    found = [r for r in rows if r[names.index("table_name")] == "tableau_orders"]
    assert len(found) == 1 and found[0][names.index("table_type")] == "TABLE", rows


def tableau_columns(rows, names):
    assert column(rows, names, "attname") == ["id", "region", "amount", "ordered_at"], rows
    assert column(rows, names, "attnotnull") == [True, False, False, False], rows


def tableau_key(rows, names):
    assert [(r[names.index("column_name")], r[names.index("key_seq")], r[names.index("pk_name")]) for r in rows] == [
        ("id", 1, "tableau_orders_pkey")
    ], rows


def tableau_sheet(rows, names):
    assert names == ["region", "sum:amount:ok"] and sorted(tuple(r) for r in rows) == [("east", 12.0), ("west", 5.5)], rows


# (file, a fragment only that query holds) -> what the tool needs from it.
CHECKS = {
    ("metabase.sql", '"estimated_row_count"'): metabase_tables,
    ("metabase.sql", "with table_privileges as"): metabase_privileges,
    ("metabase.sql", '"database-is-auto-increment"'): metabase_fields,
    ("metabase.sql", 'AS "field-name"'): metabase_indexes,
    ("dbeaver.sql", "ORDER BY nspname"): dbeaver_schemas,
    ("dbeaver.sql", "pg_get_partkeydef(c.oid) as partition_key"): dbeaver_tables,
    ("dbeaver.sql", "c.oid=16384\nORDER BY a.attnum"): dbeaver_columns,
    ("dbeaver.sql", "WHERE c.conrelid=16384"): dbeaver_constraints,
    ("dbeaver.sql", "WHERE  i.indrelid=16384"): dbeaver_indexes,
    ("superset.sql", "c.relkind in ('r', 'p')"): superset_tables,
    ("grafana.sql", "::int/100 as version"): grafana_version,
    ("grafana.sql", 'END AS "table"'): grafana_tables,
    ("grafana.sql", "parse_ident('grafana_metrics'),1) = 2"): grafana_columns,
    ("grafana.sql", "parse_ident('public.grafana_metrics'),1) = 2"): grafana_columns,
    ("grafana.sql", "udt_name, numeric_precision, numeric_scale"): grafana_backend_columns,
    ("grafana.sql", "quote_literal(host)"): grafana_variable_values,
    ("tableau.sql", "AS TABLE_TYPE, d.description AS REMARKS"): tableau_tables,
    ("tableau.sql", "c.relname LIKE 'tableau_orders') c WHERE true"): tableau_columns,
    ("tableau.sql", "ct.relname = 'tableau_orders' AND i.indisprimary"): tableau_key,
    ("tableau.sql", 'AS "sum:amount:ok"\nFROM "public"."tableau_orders" "tableau_orders"\nGROUP BY 1'): tableau_sheet,
}


def main() -> None:
    failures = []
    attempted = set()
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS tool_items")
        conn.execute(
            "CREATE TABLE tool_items (id bigint PRIMARY KEY, name text NOT NULL, score double precision)"
        )
        conn.execute("INSERT INTO tool_items VALUES (1, 'one', 0.5), (2, 'two', NULL)")
        conn.execute("COMMENT ON TABLE tool_items IS 'what the tools browse'")
        conn.execute("COMMENT ON COLUMN tool_items.name IS 'shown to users'")
        table_oid = conn.execute(
            "SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relname = 'tool_items'"
        ).fetchone()[0]
        schema_oid = conn.execute(
            "SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = 'public'"
        ).fetchone()[0]
        conn.execute("DROP TABLE IF EXISTS grafana_metrics")
        conn.execute("CREATE TABLE grafana_metrics (time timestamp, host text, value double precision)")
        conn.execute(
            "INSERT INTO grafana_metrics VALUES ('2024-01-01 01:00', 'a', 1.5), "
            "('2024-01-01 01:00', 'b', 2), ('2024-01-01 02:30', 'a', 3)"
        )
        conn.execute("DROP TABLE IF EXISTS tableau_orders")
        conn.execute(
            "CREATE TABLE tableau_orders (id int PRIMARY KEY, region text, amount double precision, ordered_at timestamp)"
        )
        conn.execute(
            "INSERT INTO tableau_orders VALUES (1, 'east', 10, '2024-01-01'), "
            "(2, 'west', 5.5, '2024-01-02'), (3, 'east', 2, '2024-01-03')"
        )
        tableau_oid = conn.execute("SELECT CAST('public.tableau_orders'::regclass AS oid)").fetchone()[0]
        # Tableau's connect-time probe, which PostgreSQL refuses.
        try:
            conn.execute('SELECT "SUBCOL" AS "COL" FROM (SELECT 1 AS "SUBCOL") "SUBQUERY" GROUP BY 2')
            failures.append("Tableau's GROUP BY 2 probe was answered; PostgreSQL refuses it")
        except psycopg.Error as e:
            if e.sqlstate != "42P10":
                failures.append(f"Tableau's GROUP BY 2 probe: {e.sqlstate} {e}, expected 42P10")
        # pgJDBC's Connection.isValid (Metabase's pool, on every checkout)
        # sends an empty query; Grafana's health check pings with a comment
        # (pgx) or a lone semicolon (lib/pq).
        for ping in ["", "-- ping", ";"]:
            cur = conn.execute(ping)
            assert cur.description is None, ping
        for name in FILES:
            for i, sql in enumerate(statements(HERE / name)):
                checks = [(key, f) for key, f in CHECKS.items() if key[0] == name and key[1] in sql]
                attempted.update(key for key, _ in checks)
                # One pass: a real oid may equal another stand-in.
                stand_ins = {"2200": schema_oid, "16384": table_oid, "16385": tableau_oid}
                bound = re.sub(r"\b(2200|16384|16385)\b", lambda m: str(stand_ins[m.group(1)]), sql)
                params = None
                if re.search(r"\$\d", bound):
                    params = [("public", "grafana_metrics")[int(n) - 1] for n in re.findall(r"\$(\d)", bound)]
                    bound = re.sub(r"\$\d", "%s", bound.replace("%", "%%"))
                try:
                    cur = conn.execute(bound, params)
                    rows = cur.fetchall() if cur.description else []
                    names = [d.name for d in cur.description or []]
                    for _, check in checks:
                        check(rows, names)
                except (psycopg.Error, AssertionError) as e:
                    failures.append(f"{name} query {i + 1}: {type(e).__name__}: {e}\n  {sql[:300]}")
    for key in sorted(set(CHECKS) - attempted):
        failures.append(f"no query of {key[0]} holds {key[1]!r}: its check never ran")
    if failures:
        print("tool queries: FAILED", *failures, sep="\n", file=sys.stderr)
        sys.exit(1)
    print(f"tool queries: ok ({', '.join(FILES)})")


if __name__ == "__main__":
    main()
