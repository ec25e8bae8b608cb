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
    print("psycopg: ok")


if __name__ == "__main__":
    try:
        main()
    except Exception as exc:  # print and fail the CI step
        print(f"psycopg: FAILED: {exc!r}", file=sys.stderr)
        raise
