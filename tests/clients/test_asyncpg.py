"""asyncpg against a live Quarry: binary results of the common types,
binary COPY (copy_records_to_table), prepared statements, executemany,
transactions that commit and roll back, a server-side cursor, a struct.

(Arrays are not here yet: asyncpg learns array types by a query whose
parameter is an oid[], which Quarry describes as int4[]; see
docs/postgres-compat.md.)"""

import asyncio
import datetime
import decimal
import os
import sys

import asyncpg

DSN = os.environ["QUARRY_ASYNCPG_URL"]


async def main() -> None:
    c = await asyncpg.connect(DSN)
    row = await c.fetchrow(
        "SELECT 1::int AS i, 2::bigint AS b, 1.5::float8 AS f, 'x'::text AS s, true AS t, "
        "DATE '2024-01-02' AS d, TIMESTAMP '2024-01-02 03:04:05' AS ts, "
        "1.25::numeric(5,2) AS n, interval '1 day 2 hours' AS iv"
    )
    assert row["i"] == 1 and row["b"] == 2 and row["f"] == 1.5 and row["s"] == "x", row
    assert row["t"] is True and row["d"] == datetime.date(2024, 1, 2), row
    assert row["ts"] == datetime.datetime(2024, 1, 2, 3, 4, 5), row
    assert row["n"] == decimal.Decimal("1.25"), row
    assert row["iv"] == datetime.timedelta(days=1, hours=2), row
    now = await c.fetchval("SELECT now()")
    assert now.tzinfo is not None, now

    await c.execute("DROP TABLE IF EXISTS apg_items")
    await c.execute(
        "CREATE TABLE apg_items (id bigint, name text, score double precision, "
        "seen timestamp, ok boolean, day date, amount numeric(10,2))"
    )
    copied = await c.copy_records_to_table(
        "apg_items",
        records=[
            (1, "a", 1.5, datetime.datetime(2024, 1, 2, 3, 4, 5), True, datetime.date(2024, 1, 2), decimal.Decimal("1.25")),
            (2, None, None, None, None, None, None),
        ],
    )
    assert copied == "COPY 2", copied
    rows = await c.fetch("SELECT * FROM apg_items ORDER BY id")
    assert rows[0]["name"] == "a" and rows[0]["amount"] == decimal.Decimal("1.25"), rows
    assert rows[1]["name"] is None and rows[1]["seen"] is None, rows

    by_id = await c.prepare("SELECT id, name FROM apg_items WHERE id = $1")
    assert [tuple(r) for r in await by_id.fetch(1)] == [(1, "a")]
    assert [tuple(r) for r in await by_id.fetch(2)] == [(2, None)]
    await c.executemany("INSERT INTO apg_items (id, name) VALUES ($1, $2)", [(3, "c"), (4, "d")])
    assert await c.fetchval("SELECT count(*) FROM apg_items") == 4

    async with c.transaction():
        await c.execute("INSERT INTO apg_items (id) VALUES (5)")
    try:
        async with c.transaction():
            await c.execute("INSERT INTO apg_items (id) VALUES (6)")
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    assert await c.fetchval("SELECT count(*) FROM apg_items WHERE id >= 5") == 1

    async with c.transaction():
        ids = [r["id"] async for r in c.cursor("SELECT id FROM apg_items ORDER BY id", prefetch=2)]
    assert ids == [1, 2, 3, 4, 5], ids

    record = await c.fetchval("SELECT struct(1 AS a, 'x' AS b)")
    assert tuple(record) == (1, "x"), record
    await c.close()
    print("asyncpg: ok")


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except Exception as exc:
        print(f"asyncpg: FAILED: {exc!r}", file=sys.stderr)
        raise
