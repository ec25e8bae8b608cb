"""SQLAlchemy's PostgreSQL dialect reflects Quarry's tables and columns;
pandas reads and writes tables through it."""

import os
import sys

import pandas as pd
from sqlalchemy import MetaData, Table, create_engine, inspect, text

URL = os.environ["QUARRY_SQLALCHEMY_URL"]


def main() -> None:
    engine = create_engine(URL)
    with engine.connect() as conn:
        conn.execute(text("DROP TABLE IF EXISTS sa_orders"))
        conn.execute(text("CREATE TABLE sa_orders (order_id BIGINT, customer TEXT, amount DOUBLE PRECISION)"))
        conn.commit()
        version = conn.execute(text("select version()")).scalar()
        assert version.startswith("PostgreSQL 16.0"), version
    insp = inspect(engine)
    tables = insp.get_table_names()
    assert "sa_orders" in tables, tables
    columns = {c["name"]: str(c["type"]) for c in insp.get_columns("sa_orders")}
    assert columns == {"order_id": "BIGINT", "customer": "TEXT", "amount": "DOUBLE PRECISION"}, columns
    assert engine.dialect.server_version_info[0] == 16
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO sa_orders VALUES (:a, 'x', 1.5), (:b, 'y', 2.5), (:c, 'z', 3.5)"),
            {"a": 1, "b": 2, "c": 3},
        )
        conn.execute(text("UPDATE sa_orders SET amount = amount * 2 WHERE order_id = :id"), {"id": 2})
        conn.execute(text("COMMENT ON TABLE sa_orders IS 'orders, one per row'"))
    # stream_results: a server-side cursor read in partitions.
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, max_row_buffer=2).execute(
            text("SELECT order_id, amount FROM sa_orders ORDER BY order_id")
        )
        streamed = [tuple(r) for part in result.partitions(2) for r in part]
        assert streamed == [(1, 1.5), (2, 5.0), (3, 3.5)], streamed
    comment = inspect(engine).get_table_comment("sa_orders")
    assert comment == {"text": "orders, one per row"}, comment
    # Reflection as Superset, Alembic and pandas use it: answers, no errors
    # (Quarry keeps no indexes or enforced keys, so those lists are empty).
    insp = inspect(engine)
    schemas = insp.get_schema_names()
    assert "public" in schemas and not any(s.startswith("pg_") for s in schemas), schemas
    assert insp.get_pk_constraint("sa_orders")["constrained_columns"] == []
    assert insp.get_indexes("sa_orders") == []
    assert insp.get_foreign_keys("sa_orders") == []
    assert insp.get_unique_constraints("sa_orders") == []
    # A declared primary key (kept, not enforced) is reflected, so automap
    # and ORMs that need a key map the table.
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS sa_keyed"))
        conn.execute(text("CREATE TABLE sa_keyed (id INT PRIMARY KEY, label TEXT)"))
    pk = inspect(engine).get_pk_constraint("sa_keyed")
    assert pk["constrained_columns"] == ["id"] and pk["name"] == "sa_keyed_pkey", pk
    from sqlalchemy.ext.automap import automap_base

    mapped = automap_base()
    mapped.prepare(autoload_with=engine)
    assert "sa_keyed" in mapped.classes.keys(), list(mapped.classes.keys())
    reflected = Table("sa_orders", MetaData(), autoload_with=engine)
    assert list(reflected.columns.keys()) == ["order_id", "customer", "amount"]
    frame = pd.read_sql_table("sa_orders", engine).sort_values("order_id")
    assert frame["amount"].tolist() == [1.5, 5.0, 3.5], frame
    out = pd.DataFrame({"k": [1, 2, 3], "label": ["a", None, "c"]})
    out.to_sql("sa_frame", engine, if_exists="replace", index=False)
    out.to_sql("sa_frame", engine, if_exists="append", index=False)
    back = pd.read_sql_query("SELECT k, label FROM sa_frame ORDER BY k, label", engine)
    assert back["k"].tolist() == [1, 1, 2, 2, 3, 3], back
    assert back["label"].isna().sum() == 2, back
    print("sqlalchemy: ok", sorted(tables)[:5])


if __name__ == "__main__":
    try:
        main()
    except Exception as exc:
        print(f"sqlalchemy: FAILED: {exc!r}", file=sys.stderr)
        raise
