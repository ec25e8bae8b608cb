"""SQLAlchemy's PostgreSQL dialect reflects Quarry's tables and columns."""

import os
import sys

from sqlalchemy import create_engine, inspect, text

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
    print("sqlalchemy: ok", sorted(tables)[:5])


if __name__ == "__main__":
    try:
        main()
    except Exception as exc:
        print(f"sqlalchemy: FAILED: {exc!r}", file=sys.stderr)
        raise
