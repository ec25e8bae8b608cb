// node-postgres (`pg`, `pg-cursor`) against a live Quarry: text results
// parsed by pg-types (integers, floats, booleans, dates, timestamps with
// their zone, numerics, arrays, NULLs), parameters of each type, named
// prepared statements run again, row counts of INSERT/UPDATE/DELETE,
// transactions that commit and roll back, a cursor read in batches, and an
// error carrying its SQLSTATE. Run by scripts/client-tests.sh.

"use strict";

const assert = require("node:assert/strict");
const { Client } = require("pg");
const Cursor = require("pg-cursor");

async function main() {
  // TLS without verifying the test's self-signed certificate (sslmode=require).
  const ssl = process.env.QUARRY_NODE_TLS ? { rejectUnauthorized: false } : undefined;
  const c = new Client({ connectionString: process.env.QUARRY_NODE_URL, ssl });
  await c.connect();
  if (ssl) assert.ok(c.connection.stream.encrypted, "the connection is not TLS");

  const typed = await c.query(
    "SELECT 1::int AS i, 2::bigint AS b, 1.5::float8 AS f, 'x'::text AS s, true AS t, " +
      "DATE '2024-01-02' AS d, TIMESTAMPTZ '2024-01-02 03:04:05+00' AS tz, " +
      "1.25::numeric(5,2) AS n, CAST(ARRAY[1, 2, NULL] AS int[]) AS a, ARRAY['p', 'q r'] AS ta, NULL::int AS z",
  );
  const r = typed.rows[0];
  assert.equal(r.i, 1);
  assert.equal(r.b, "2"); // pg returns int8 as a string, as with PostgreSQL
  assert.equal(r.f, 1.5);
  assert.equal(r.s, "x");
  assert.equal(r.t, true);
  assert.ok(r.d instanceof Date && r.d.getFullYear() === 2024, String(r.d));
  assert.equal(r.tz.toISOString(), "2024-01-02T03:04:05.000Z");
  assert.equal(r.n, "1.25");
  assert.deepEqual(r.a, [1, 2, null]);
  assert.deepEqual(r.ta, ["p", "q r"]);
  assert.equal(r.z, null);
  assert.deepEqual(
    typed.fields.map((f) => f.dataTypeID),
    [23, 20, 701, 25, 16, 1082, 1184, 1700, 1007, 1009, 23],
  );

  await c.query("DROP TABLE IF EXISTS node_items");
  await c.query("CREATE TABLE node_items (id bigint, name text, score double precision, ok boolean)");
  const inserted = await c.query(
    "INSERT INTO node_items VALUES ($1, $2, $3, $4), ($5, $6, $7, $8)",
    [1, "a", 0.5, true, 2, null, null, false],
  );
  assert.equal(inserted.rowCount, 2);
  assert.equal(inserted.command, "INSERT");

  // A named statement is parsed once and run again with new values.
  for (const [id, name] of [[1, "a"], [2, null]]) {
    const got = await c.query({
      name: "node_by_id",
      text: "SELECT id, name FROM node_items WHERE id = $1",
      values: [id],
    });
    assert.deepEqual(got.rows, [{ id: String(id), name }]);
  }
  const anyOf = await c.query("SELECT id FROM node_items WHERE id = ANY($1) ORDER BY id", [[1, 2, 3]]);
  assert.deepEqual(anyOf.rows.map((x) => x.id), ["1", "2"]);

  const updated = await c.query("UPDATE node_items SET score = score + 1 WHERE id = $1", [1]);
  assert.equal(updated.rowCount, 1);
  const deleted = await c.query("DELETE FROM node_items WHERE id = 2 RETURNING id");
  assert.equal(deleted.rowCount, 1);
  assert.deepEqual(deleted.rows, [{ id: "2" }]);

  await c.query("BEGIN");
  await c.query("INSERT INTO node_items (id) VALUES (10)");
  await c.query("ROLLBACK");
  await c.query("BEGIN");
  await c.query("INSERT INTO node_items (id) VALUES (11)");
  await c.query("COMMIT");
  const ids = await c.query("SELECT id FROM node_items ORDER BY id");
  assert.deepEqual(ids.rows.map((x) => x.id), ["1", "11"]);

  // pg-cursor: a portal read a few rows at a time.
  const cursor = c.query(new Cursor("SELECT value AS v FROM generate_series(1, 7) ORDER BY v"));
  const seen = [];
  for (;;) {
    const batch = await cursor.read(3);
    if (batch.length === 0) break;
    assert.ok(batch.length <= 3);
    seen.push(...batch.map((x) => Number(x.v)));
  }
  await cursor.close();
  assert.deepEqual(seen, [1, 2, 3, 4, 5, 6, 7]);

  await assert.rejects(c.query("SELECT * FROM node_missing"), (e) => e.code === "42P01");
  await assert.rejects(c.query("SELECT 1/0"), (e) => e.code === "22012");
  // The connection is usable after an error.
  assert.equal((await c.query("SELECT 41::int + 1::int AS x")).rows[0].x, 42);

  await c.end();
  console.log("node-postgres: ok");
}

main().catch((e) => {
  console.error("node-postgres: FAILED:", e);
  process.exit(1);
});
