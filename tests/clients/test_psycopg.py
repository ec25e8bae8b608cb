"""psycopg 3 against a live Quarry: parameters (extended protocol), binary
results, COPY, and errors with SQLSTATEs."""

import datetime
import os
import sys

import psycopg
from psycopg import errors

DSN = os.environ["QUARRY_DSN"]


def main() -> None:
    with psycopg.connect(DSN, autocommit=True) as conn:
        if "sslmode=require" in DSN:
            assert conn.pgconn.ssl_in_use, "the connection is not TLS"
        cur = conn.cursor()
        cur.execute("DROP TABLE IF EXISTS py_people")
        cur.execute(
            "CREATE TABLE py_people (id BIGINT, name TEXT, score DOUBLE PRECISION, born DATE, active BOOLEAN)"
        )
        # Parameters go through the extended protocol.
        cur.execute(
            "INSERT INTO py_people VALUES (%s, %s, %s, %s, %s)",
            (1, "Ada", 9.5, datetime.date(1815, 12, 10), True),
        )
        cur.executemany(
            "INSERT INTO py_people VALUES (%s, %s, %s, %s, %s)",
            [(2, "Grace", 8.25, datetime.date(1906, 12, 9), False), (3, None, None, None, None)],
        )
        cur.execute("SELECT id, name, score, born, active FROM py_people WHERE id >= %s ORDER BY id", (1,))
        rows = cur.fetchall()
        assert cur.statusmessage == "SELECT 3", cur.statusmessage
        assert rows[0] == (1, "Ada", 9.5, datetime.date(1815, 12, 10), True), rows
        assert rows[2] == (3, None, None, None, None), rows

        # Binary results.
        bcur = conn.cursor(binary=True)
        bcur.execute("SELECT id, score, born FROM py_people WHERE id = %s", (2,))
        assert bcur.fetchone() == (2, 8.25, datetime.date(1906, 12, 9))

        # COPY FROM STDIN.
        with cur.copy("COPY py_people (id, name) FROM STDIN (FORMAT csv)") as copy:
            copy.write("10,copied\n11,\"with, comma\"\n")
        cur.execute("SELECT count(*) FROM py_people")
        assert cur.fetchone() == (5,)

        # Binary COPY, as psycopg writes it with declared types.
        cur.execute("CREATE TABLE py_binary (id BIGINT, score DOUBLE PRECISION, born DATE, seen TIMESTAMP, ok BOOLEAN, note TEXT)")
        with cur.copy("COPY py_binary FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "float8", "date", "timestamp", "bool", "text"])
            copy.write_row((1, 2.5, datetime.date(2024, 3, 5), datetime.datetime(2024, 3, 5, 1, 2, 3, 500000), True, "one"))
            copy.write_row((2, None, None, None, False, None))
        cur.execute("SELECT * FROM py_binary ORDER BY id")
        rows = cur.fetchall()
        assert rows == [
            (1, 2.5, datetime.date(2024, 3, 5), datetime.datetime(2024, 3, 5, 1, 2, 3, 500000), True, "one"),
            (2, None, None, None, False, None),
        ], rows

        # Errors carry SQLSTATEs and leave the connection usable.
        try:
            cur.execute("SELECT * FROM no_such_table")
            raise AssertionError("expected an error")
        except errors.UndefinedTable:
            pass
        try:
            cur.execute("SELECT no_such_column FROM py_people")
            raise AssertionError("expected an error")
        except errors.UndefinedColumn:
            pass
        cur.execute("SELECT version()")
        assert cur.fetchone()[0].startswith("PostgreSQL 16.0 (Quarry")

    # Transactions as psycopg issues them by default.
    with psycopg.connect(DSN) as conn:
        with conn.cursor() as cur:
            cur.execute("INSERT INTO py_people (id) VALUES (%s)", (99,))
        conn.commit()
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM py_people WHERE id = 99")
            assert cur.fetchone() == (1,)
    # Row changes with RETURNING, and rollback of them.
    with psycopg.connect(DSN) as conn:
        with conn.cursor() as cur:
            cur.execute("UPDATE py_people SET score = %s WHERE id = %s RETURNING id, score", (7.5, 1))
            assert cur.fetchall() == [(1, 7.5)] and cur.statusmessage == "UPDATE 1", cur.statusmessage
            cur.execute("DELETE FROM py_people WHERE id >= %s", (10,))
            assert cur.rowcount == 3, cur.rowcount
            cur.execute("SELECT count(*) FROM py_people")
            assert cur.fetchone() == (3,)
        conn.rollback()
        with conn.cursor() as cur:
            cur.execute("SELECT count(*), max(score) FROM py_people")
            assert cur.fetchone() == (6, 9.5)
            cur.execute("INSERT INTO py_people (id, name) VALUES (%s, %s) RETURNING id, name", (50, "ret"))
            assert cur.fetchone() == (50, "ret") and cur.statusmessage == "INSERT 0 1", cur.statusmessage
        conn.commit()

    # Named (server-side) cursors: DECLARE, described by name, read with
    # FETCH a batch at a time; WITH HOLD outlives the block.
    with psycopg.connect(DSN) as conn:
        with conn.cursor(name="people") as cur:
            cur.itersize = 2
            cur.execute("SELECT id, name FROM py_people WHERE id >= %s ORDER BY id", (1,))
            assert [d.name for d in cur.description] == ["id", "name"], cur.description
            first = cur.fetchmany(2)
            rest = cur.fetchall()
            assert [r[0] for r in first + rest] == [1, 2, 3, 10, 11, 50, 99], first + rest
        conn.commit()
    with psycopg.connect(DSN, autocommit=True) as conn:
        with conn.cursor(name="held", withhold=True) as cur:
            cur.execute("SELECT id FROM py_people ORDER BY id")
            assert [r[0] for r in cur] == [1, 2, 3, 10, 11, 50, 99]

    # Temporary tables, and comments read back.
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute("CREATE TEMP TABLE py_scratch AS SELECT id FROM py_people WHERE id < %s", (3,))
        assert conn.execute("SELECT count(*) FROM py_scratch").fetchone() == (2,)
        conn.execute("COMMENT ON TABLE py_people IS 'people we know'")
        got = conn.execute(
            "SELECT obj_description(c.oid, 'pg_class') FROM pg_catalog.pg_class c WHERE c.relname = 'py_people'"
        ).fetchone()
        assert got == ("people we know",), got
    # A server-side prepared statement over a table a savepoint undid is
    # planned again, and finds the table gone.
    with psycopg.connect(DSN) as conn:
        cur = conn.cursor()
        cur.execute("SAVEPOINT before_table")
        cur.execute("CREATE TABLE py_undone (a int)")
        for _ in range(2):
            cur.execute("SELECT * FROM py_undone", prepare=True)
        cur.execute("ROLLBACK TO SAVEPOINT before_table")
        try:
            cur.execute("SELECT * FROM py_undone", prepare=True)
            raise AssertionError("a table the savepoint undid is still read")
        except psycopg.errors.UndefinedTable:
            pass
        conn.rollback()
    # A nested transaction is a savepoint: an error inside it rolls back
    # to the savepoint, and the outer block goes on and commits.
    with psycopg.connect(DSN) as conn:
        conn.execute("DROP TABLE IF EXISTS py_nested")
        conn.execute("CREATE TABLE py_nested (a int)")
        conn.commit()
        with conn.transaction():
            conn.execute("INSERT INTO py_nested VALUES (1)")
            try:
                with conn.transaction():
                    conn.execute("INSERT INTO py_nested VALUES (2)")
                    conn.execute("SELECT * FROM py_nowhere")
            except psycopg.errors.UndefinedTable:
                pass
            conn.execute("INSERT INTO py_nested VALUES (%s)", (3,))
        got = conn.execute("SELECT a FROM py_nested ORDER BY a").fetchall()
        assert got == [(1,), (3,)], got
        conn.commit()
    print("psycopg: ok")


if __name__ == "__main__":
    try:
        main()
    except Exception as exc:  # print and fail the CI step
        print(f"psycopg: FAILED: {exc!r}", file=sys.stderr)
        raise
