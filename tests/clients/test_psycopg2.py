"""psycopg2 against a live Quarry: typed results (numeric as Decimal,
timestamptz with its zone, arrays), parameters interpolated client-side,
execute_values, COPY FROM/TO through copy_expert, row counts, a named
(server-side) cursor read in batches, transactions, and errors carrying
their SQLSTATE. Run by scripts/client-tests.sh."""

import datetime
import decimal
import io
import os
import sys

import psycopg2
import psycopg2.errors
import psycopg2.extras

DSN = os.environ["QUARRY_DSN"]


def main() -> None:
    conn = psycopg2.connect(DSN)
    cur = conn.cursor()
    cur.execute(
        "SELECT 1::int, 2::bigint, 1.5::float8, 'x'::text, true, DATE '2024-01-02', "
        "TIMESTAMPTZ '2024-01-02 03:04:05+00', 1.25::numeric(5,2), ARRAY[1, NULL], "
        "ARRAY[ARRAY[1.5::float8, 2], ARRAY[3, 4]], NULL::text"
    )
    row = cur.fetchone()
    assert row[:5] == (1, 2, 1.5, "x", True), row
    assert row[5] == datetime.date(2024, 1, 2), row
    assert row[6] == datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc), row
    assert row[7] == decimal.Decimal("1.25"), row
    assert row[8] == [1, None], row
    assert row[9] == [[1.5, 2.0], [3.0, 4.0]], row
    assert row[10] is None, row
    conn.commit()

    cur.execute("DROP TABLE IF EXISTS pg2_items")
    cur.execute("CREATE TABLE pg2_items (id bigint, name text, at timestamp, amount numeric(10,2))")
    psycopg2.extras.execute_values(
        cur,
        "INSERT INTO pg2_items VALUES %s",
        [
            (1, "a", datetime.datetime(2024, 1, 2, 3, 4, 5), decimal.Decimal("1.50")),
            (2, "it's", None, None),
        ],
    )
    assert cur.rowcount == 2, cur.rowcount
    cur.execute("SELECT name FROM pg2_items WHERE id = %s AND name = %s", (2, "it's"))
    assert cur.fetchall() == [("it's",)]
    cur.execute("SELECT id FROM pg2_items WHERE id = ANY(%s) ORDER BY id", ([1, 2, 5],))
    assert cur.fetchall() == [(1,), (2,)]
    cur.copy_expert("COPY pg2_items (id, name) FROM STDIN WITH (FORMAT csv)", io.StringIO("3,c\n4,\n"))
    assert cur.rowcount == 2, cur.rowcount
    out = io.StringIO()
    cur.copy_expert("COPY (SELECT id, name FROM pg2_items ORDER BY id) TO STDOUT WITH (FORMAT csv)", out)
    assert out.getvalue() == "1,a\n2,it's\n3,c\n4,\n", out.getvalue()
    cur.execute("UPDATE pg2_items SET name = upper(name) WHERE id <= 2")
    assert cur.rowcount == 2, cur.rowcount
    cur.execute("DELETE FROM pg2_items WHERE id = 4")
    assert cur.rowcount == 1, cur.rowcount
    conn.commit()

    cur.execute("INSERT INTO pg2_items (id) VALUES (9)")
    conn.rollback()
    cur.execute("SELECT count(*) FROM pg2_items")
    assert cur.fetchone() == (3,)
    conn.commit()

    # A named cursor: DECLARE ... and FETCH in batches, inside the block
    # psycopg2 opens.
    named = conn.cursor(name="pg2_batches")
    named.itersize = 2
    named.execute("SELECT value FROM generate_series(1, 5) ORDER BY value")
    assert [r[0] for r in named] == [1, 2, 3, 4, 5]
    named.close()
    conn.commit()

    try:
        cur.execute("SELECT * FROM pg2_missing")
        raise AssertionError("a missing table was read")
    except psycopg2.errors.UndefinedTable as e:
        assert e.pgcode == "42P01", e.pgcode
    conn.rollback()
    # Items DataFusion would name alike: PostgreSQL's names, one each.
    cur.execute("SELECT NULL, NULL, count(*), count(*) FROM pg2_items")
    assert [d.name for d in cur.description] == ["?column?", "?column?", "count", "count"]
    cur.execute("SELECT 41 + 1")
    assert cur.fetchone() == (42,)
    conn.close()
    print("psycopg2: ok")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001 - report and fail the run
        print(f"psycopg2: FAILED: {e!r}", file=sys.stderr)
        raise
