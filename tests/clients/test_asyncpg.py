"""asyncpg against a live Quarry: binary results of the common types,
binary COPY (copy_records_to_table), prepared statements, executemany,
transactions that commit and roll back, a server-side cursor, a struct,
arrays in results and parameters (asyncpg learns each array type with its
own introspection query, which binds an oid[]), `= ANY($1)`, arrays of two
dimensions, and the multi-class probabilities and prediction intervals of
Quarry's models."""

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

    # Arrays, binary both ways.
    assert await c.fetchval("SELECT ARRAY[1, 2, NULL]") == [1, 2, None]
    floats = await c.fetchval("SELECT ARRAY[1.5::float8, 'Infinity', '-Infinity', 'NaN', NULL]")
    assert floats[:3] == [1.5, float("inf"), float("-inf")] and floats[3] != floats[3], floats
    assert floats[4] is None, floats
    assert await c.fetchval("SELECT ARRAY['a', NULL, 'b c']") == ["a", None, "b c"]
    assert await c.fetchval("SELECT ARRAY[true, false]") == [True, False]
    assert await c.fetchval("SELECT ARRAY[DATE '2024-01-02']") == [datetime.date(2024, 1, 2)]
    assert await c.fetchval("SELECT ARRAY[ARRAY[1, 2], ARRAY[3, 4]]") == [[1, 2], [3, 4]]
    assert await c.fetchval("SELECT $1::bigint[]", [1, None, 3]) == [1, None, 3]
    assert await c.fetchval("SELECT $1::float8[]", [0.5, float("inf")]) == [0.5, float("inf")]
    assert await c.fetchval("SELECT $1::text[]", ["x", None]) == ["x", None]
    # `= ANY($1)`: the parameter is an array of the column's type.
    by_ids = await c.prepare("SELECT id FROM apg_items WHERE id = ANY($1) ORDER BY id")
    assert [p.oid for p in by_ids.get_parameters()] == [1016], by_ids.get_parameters()  # int8[]
    assert [r["id"] for r in await by_ids.fetch([2, 4, 9])] == [2, 4]
    assert [r["id"] for r in await by_ids.fetch([])] == []

    # Multi-class probabilities (float8[]) and intervals (a struct).
    await c.execute("DROP TABLE IF EXISTS apg_pts")
    await c.execute(
        "CREATE TABLE apg_pts AS SELECT value AS id, CAST(value % 10 AS DOUBLE) AS x1, "
        "CASE WHEN value % 10 < 3 THEN 'low' WHEN value % 10 < 7 THEN 'mid' ELSE 'high' END AS band, "
        "2.0 * CAST(value % 10 AS DOUBLE) + CAST(value % 7 AS DOUBLE) / 7 AS y "
        "FROM generate_series(1, 600)"
    )
    await c.execute("DROP MODEL IF EXISTS apg_bands")
    await c.execute("DROP MODEL IF EXISTS apg_reg")
    await c.execute(
        "CREATE MODEL apg_bands OPTIONS (algorithm = 'logistic', label = 'band', features = 'x1', "
        "l2 = 0.001) AS SELECT * FROM apg_pts"
    )
    await c.execute(
        "CREATE MODEL apg_reg OPTIONS (algorithm = 'linear', label = 'y', features = 'x1', "
        "interval = 0.9) AS SELECT * FROM apg_pts"
    )
    proba = await c.fetchval("SELECT ml_predict_proba('apg_bands', struct(1.0 AS x1))")
    assert len(proba) == 3 and abs(sum(proba) - 1) < 1e-9, proba
    band = await c.fetchrow(
        "SELECT ml_predict('apg_reg', x1) AS p, ml_predict_interval('apg_reg', x1) AS b "
        "FROM apg_pts WHERE id = 5"
    )
    lower, upper = tuple(band["b"])[:2]
    assert lower < band["p"] < upper, band
    await c.close()
    print("asyncpg: ok")


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except Exception as exc:
        print(f"asyncpg: FAILED: {exc!r}", file=sys.stderr)
        raise
