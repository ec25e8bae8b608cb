// pgx (Debian's golang-github-jackc-pgx-v4-dev) against a live Quarry:
// binary results of the common types, parameters (pgx prepares every
// query and binds in binary), arrays both ways, CopyFrom (binary COPY),
// a batch, a transaction that rolls back, and an error's SQLSTATE. Run by
// scripts/client-tests.sh, built in GOPATH mode from Debian's sources
// (the Go module proxy is not among the registries CI reaches).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"time"

	"github.com/jackc/pgconn"
	"github.com/jackc/pgx/v4"
)

func check(ok bool, format string, args ...interface{}) {
	if !ok {
		fmt.Fprintf(os.Stderr, "pgx: FAILED: "+format+"\n", args...)
		os.Exit(1)
	}
}

func must(err error, what string) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgx: FAILED: %s: %v\n", what, err)
		os.Exit(1)
	}
}

func main() {
	ctx := context.Background()
	c, err := pgx.Connect(ctx, os.Args[1])
	must(err, "connect")
	defer c.Close(ctx)

	var (
		i  int32
		b  int64
		f  float64
		s  string
		t  bool
		d  time.Time
		ts time.Time
	)
	err = c.QueryRow(ctx, "SELECT 1::int, 2::bigint, 1.5::float8, 'x'::text, true, "+
		"DATE '2024-01-02', TIMESTAMP '2024-01-02 03:04:05'").Scan(&i, &b, &f, &s, &t, &d, &ts)
	must(err, "typed row")
	check(i == 1 && b == 2 && f == 1.5 && s == "x" && t, "scalars %v %v %v %v %v", i, b, f, s, t)
	check(d.Format("2006-01-02") == "2024-01-02", "date %v", d)
	check(ts.Format("2006-01-02 15:04:05") == "2024-01-02 03:04:05", "timestamp %v", ts)

	var ints []int64
	must(c.QueryRow(ctx, "SELECT ARRAY[1, 2, 3]").Scan(&ints), "int array")
	check(reflect.DeepEqual(ints, []int64{1, 2, 3}), "ints %v", ints)
	var floats []float64
	must(c.QueryRow(ctx, "SELECT $1::float8[]", []float64{0.5, 2}).Scan(&floats), "float param")
	check(reflect.DeepEqual(floats, []float64{0.5, 2}), "floats %v", floats)

	_, err = c.Exec(ctx, "DROP TABLE IF EXISTS pgx_items")
	must(err, "drop")
	_, err = c.Exec(ctx, "CREATE TABLE pgx_items (id bigint, name text, score double precision)")
	must(err, "create")
	n, err := c.CopyFrom(ctx, pgx.Identifier{"pgx_items"}, []string{"id", "name", "score"},
		pgx.CopyFromRows([][]interface{}{{int64(1), "a", 1.5}, {int64(2), nil, nil}}))
	must(err, "CopyFrom")
	check(n == 2, "copied %d", n)
	var name *string
	must(c.QueryRow(ctx, "SELECT name FROM pgx_items WHERE id = $1", int64(2)).Scan(&name), "param row")
	check(name == nil, "NULL name %v", name)
	var found []int64
	rows, err := c.Query(ctx, "SELECT id FROM pgx_items WHERE id = ANY($1) ORDER BY id", []int64{1, 2, 5})
	must(err, "any")
	for rows.Next() {
		var id int64
		must(rows.Scan(&id), "scan id")
		found = append(found, id)
	}
	must(rows.Err(), "rows")
	check(reflect.DeepEqual(found, []int64{1, 2}), "any %v", found)

	batch := &pgx.Batch{}
	batch.Queue("INSERT INTO pgx_items (id) VALUES ($1)", int64(3))
	batch.Queue("INSERT INTO pgx_items (id) VALUES ($1)", int64(4))
	must(c.SendBatch(ctx, batch).Close(), "batch")

	tx, err := c.Begin(ctx)
	must(err, "begin")
	_, err = tx.Exec(ctx, "INSERT INTO pgx_items (id) VALUES (9)")
	must(err, "insert in tx")
	must(tx.Rollback(ctx), "rollback")
	var count int64
	must(c.QueryRow(ctx, "SELECT count(*) FROM pgx_items").Scan(&count), "count")
	check(count == 4, "count %d", count)

	_, err = c.Exec(ctx, "SELECT * FROM pgx_missing")
	var pgErr *pgconn.PgError
	check(errors.As(err, &pgErr) && pgErr.Code == "42P01", "missing table error %v", err)
	fmt.Println("pgx: ok")
}
