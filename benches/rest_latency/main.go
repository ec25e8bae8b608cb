// Single-row latency without Python in the loop: the same rows scored by
// REST (net/http, one kept-alive connection) and by a prepared SQL
// statement (pgx, binary parameters), a block of requests on each path.
// Prints {"rest_us": [...], "sql_us": [...]} on stdout. Run by
// benches/serving_compare.py when Go and Debian's pgx sources are there;
// built in GOPATH mode as tests/clients/pgx is.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/jackc/pgx/v4"
)

type row struct {
	Age          int64   `json:"age"`
	Plan         string  `json:"plan"`
	MonthlyFee   float64 `json:"monthly_fee"`
	TenureMonths int64   `json:"tenure_months"`
	SupportCalls int64   `json:"support_calls"`
	Region       string  `json:"region"`
}

func fail(what string, err error) {
	fmt.Fprintf(os.Stderr, "rest_latency: %s: %v\n", what, err)
	os.Exit(1)
}

func main() {
	if len(os.Args) != 6 {
		fail("usage", fmt.Errorf("rest_latency HTTP_PORT PG_PORT MODEL ROWS_JSON REPEAT"))
	}
	httpPort, pgPort, model, rowsFile := os.Args[1], os.Args[2], os.Args[3], os.Args[4]
	repeat, err := strconv.Atoi(os.Args[5])
	if err != nil {
		fail("repeat", err)
	}
	text, err := os.ReadFile(rowsFile)
	if err != nil {
		fail("rows", err)
	}
	var rows []row
	if err := json.Unmarshal(text, &rows); err != nil {
		fail("rows", err)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://quarry@127.0.0.1:%s/quarry?sslmode=disable", pgPort))
	if err != nil {
		fail("connect", err)
	}
	defer conn.Close(ctx)
	query := fmt.Sprintf("SELECT ml_predict_proba('%s', age, plan, monthly_fee, tenure_months, support_calls, region) "+
		"FROM (SELECT $1::bigint AS age, $2::text AS plan, $3::float8 AS monthly_fee, "+
		"$4::bigint AS tenure_months, $5::bigint AS support_calls, $6::text AS region) t", model)
	if _, err := conn.Prepare(ctx, "score", query); err != nil {
		fail("prepare", err)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}}
	url := fmt.Sprintf("http://127.0.0.1:%s/v1/models/%s/predict", httpPort, model)
	// Each path in its own block of requests, as an application's steady
	// stream would be; the caller interleaves the blocks in rounds.
	var restUs, sqlUs []float64
	for k := 0; k < repeat; k++ {
		for _, r := range rows {
			body, _ := json.Marshal(map[string][]row{"rows": {r}})
			t := time.Now()
			resp, err := client.Post(url, "application/json", bytes.NewReader(body))
			if err != nil {
				fail("post", err)
			}
			answer, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				fail("post", fmt.Errorf("%d %s", resp.StatusCode, answer))
			}
			restUs = append(restUs, float64(time.Since(t).Nanoseconds())/1e3)
		}
		for _, r := range rows {
			var p float64
			t := time.Now()
			if err := conn.QueryRow(ctx, "score", r.Age, r.Plan, r.MonthlyFee, r.TenureMonths, r.SupportCalls, r.Region).Scan(&p); err != nil {
				fail("query", err)
			}
			sqlUs = append(sqlUs, float64(time.Since(t).Nanoseconds())/1e3)
		}
	}
	out, _ := json.Marshal(map[string][]float64{"rest_us": restUs, "sql_us": sqlUs})
	os.Stdout.Write(out)
}
