"""psqlODBC (Debian's odbc-postgresql, ANSI and Unicode drivers) through
pyodbc against a live Quarry: SQLTables, SQLColumns, SQLPrimaryKeys,
SQLForeignKeys, SQLStatistics, SQLGetTypeInfo, bound parameters, typed results and
UseDeclareFetch (a cursor read a few rows at a time). Run by
scripts/client-tests.sh."""

import datetime
import decimal
import os
import sys

import pyodbc

PORT = os.environ["QUARRY_PORT"]


def connect(driver: str, **options: str) -> pyodbc.Connection:
    extra = "".join(f"{k}={v};" for k, v in options.items())
    c = pyodbc.connect(
        f"DRIVER={{{driver}}};SERVER=127.0.0.1;PORT={PORT};DATABASE=quarry;UID=quarry;"
        f"PWD={os.environ.get('PGPASSWORD', '')};SSLMode={os.environ.get('PGSSLMODE', 'prefer')};{extra}",
        autocommit=True,
    )
    if "ANSI" in driver:
        # The ANSI driver takes and gives bytes: UTF-8, as pyodbc's docs
        # set it up for PostgreSQL.
        c.setdecoding(pyodbc.SQL_CHAR, encoding="utf-8")
        c.setdecoding(pyodbc.SQL_WCHAR, encoding="utf-8")
        c.setencoding(encoding="utf-8")
    return c


def check(driver: str) -> None:
    c = connect(driver)
    cur = c.cursor()
    table = "odbc_items_" + ("w" if "Unicode" in driver else "a")
    cur.execute(f"DROP TABLE IF EXISTS {table}")
    cur.execute(
        f"CREATE TABLE {table} (id bigint PRIMARY KEY, name text, score double precision, "
        "day date, at timestamp, amount numeric(10,2), ok boolean)"
    )
    cur.execute(
        f"INSERT INTO {table} VALUES (?, ?, ?, ?, ?, ?, ?)",
        1, "a", 1.5, datetime.date(2024, 1, 2), datetime.datetime(2024, 1, 2, 3, 4, 5),
        decimal.Decimal("1.25"), True,
    )
    cur.execute(f"INSERT INTO {table} VALUES (?, ?, ?, ?, ?, ?, ?)", 2, None, None, None, None, None, None)
    row = cur.execute(f"SELECT name, score, day, at, amount, ok FROM {table} WHERE id = ?", 1).fetchone()
    assert tuple(row) == (
        "a", 1.5, datetime.date(2024, 1, 2), datetime.datetime(2024, 1, 2, 3, 4, 5),
        decimal.Decimal("1.25"), "1",  # BoolsAsChar, the driver's default, as with PostgreSQL
    ), row
    assert tuple(cur.execute(f"SELECT name FROM {table} WHERE id = 2").fetchone()) == (None,)

    tables = [t.table_name for t in cur.tables(table=table, tableType="TABLE")]
    assert tables == [table], tables
    columns = [(col.column_name, col.ordinal_position) for col in cur.columns(table=table)]
    assert columns[:2] == [("id", 1), ("name", 2)] and len(columns) == 7, columns
    keys = [k.column_name for k in cur.primaryKeys(table=table)]
    assert keys == ["id"], keys
    assert list(cur.foreignKeys(table=table)) == []
    # SQLStatistics: the key's unique index and its column.
    indexes = [(s.index_name, s.column_name, bool(s.non_unique)) for s in cur.statistics(table) if s.index_name]
    assert indexes == [(f"{table}_pkey", "id", False)], indexes
    types = {t.type_name for t in cur.getTypeInfo()}
    assert {"int4", "text", "float8"} <= types, sorted(types)[:10]
    c.close()

    # UseDeclareFetch: the driver declares a cursor and fetches Fetch rows
    # at a time, inside a transaction.
    c = connect(driver, UseDeclareFetch="1", Fetch="3")
    cur = c.cursor()
    got = [r[0] for r in cur.execute("SELECT value FROM generate_series(1, 10) ORDER BY value")]
    assert got == list(range(1, 11)), got
    c.close()


def main() -> None:
    for driver in ("PostgreSQL Unicode", "PostgreSQL ANSI"):
        check(driver)
    print("psqlODBC: ok")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001 - report and fail the run
        print(f"psqlODBC: FAILED: {e!r}", file=sys.stderr)
        raise
