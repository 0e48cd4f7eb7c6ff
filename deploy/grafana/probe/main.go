// chprobe runs SQL through clickhouse-go the way grafana-clickhouse-datasource v4.14.1 connects to a server
// whose data source says `protocol: http` (pkg/plugin/driver.go: clickhouse.OpenDB, Protocol HTTP, GZIP
// compression, the data source's database, user and password, dial and query timeouts).
//
//	chprobe HOST:PORT DATABASE < queries.json   # a JSON list of SQL strings
//
// One JSON object per query on stdout: {"columns", "types", "rows"} or {"error"}. DateTime values are
// Unix milliseconds; NaN and infinities are the strings "NaN", "+Inf", "-Inf". Exit 2 on bad input.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"reflect"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: chprobe HOST:PORT DATABASE < queries.json")
		os.Exit(2)
	}
	var queries []string
	if err := json.NewDecoder(os.Stdin).Decode(&queries); err != nil {
		fmt.Fprintln(os.Stderr, "chprobe: stdin must be a JSON list of SQL strings:", err)
		os.Exit(2)
	}
	db := clickhouse.OpenDB(&clickhouse.Options{
		Addr:        []string{os.Args[1]},
		Auth:        clickhouse.Auth{Database: os.Args[2], Username: "grafana", Password: "unused-by-the-gateway"},
		Compression: &clickhouse.Compression{Method: clickhouse.CompressionGZIP},
		Protocol:    clickhouse.HTTP,
		DialTimeout: 10 * time.Second,
		ReadTimeout: 60 * time.Second,
	})
	defer db.Close()
	out := json.NewEncoder(os.Stdout)
	for _, query := range queries {
		if err := out.Encode(run(db, query)); err != nil {
			fmt.Fprintln(os.Stderr, "chprobe:", err)
			os.Exit(1)
		}
	}
}

type result struct {
	Columns []string `json:"columns"`
	Types   []string `json:"types"`
	Rows    [][]any  `json:"rows"`
	Error   string   `json:"error,omitempty"`
}

func run(db *sql.DB, query string) result {
	rows, err := db.QueryContext(context.Background(), query)
	if err != nil {
		return result{Error: err.Error()}
	}
	defer rows.Close()
	columns, err := rows.ColumnTypes()
	if err != nil {
		return result{Error: err.Error()}
	}
	res := result{Columns: []string{}, Types: []string{}, Rows: [][]any{}}
	for _, column := range columns {
		res.Columns = append(res.Columns, column.Name())
		res.Types = append(res.Types, column.DatabaseTypeName())
	}
	for rows.Next() {
		cells := make([]any, len(columns))
		for i, column := range columns {
			cells[i] = reflect.New(column.ScanType()).Interface()
		}
		if err := rows.Scan(cells...); err != nil {
			return result{Error: err.Error()}
		}
		row := make([]any, len(columns))
		for i, cell := range cells {
			row[i] = plain(reflect.ValueOf(cell).Elem().Interface())
		}
		res.Rows = append(res.Rows, row)
	}
	if err := rows.Err(); err != nil {
		return result{Error: err.Error()}
	}
	return res
}

// plain makes a scanned value JSON-encodable: times as Unix milliseconds, NaN and infinities as strings.
func plain(value any) any {
	value = deref(value)
	switch v := value.(type) {
	case time.Time:
		return v.UnixMilli()
	case float64:
		return float(v)
	case float32:
		return float(float64(v))
	}
	return value
}

func deref(value any) any {
	v := reflect.ValueOf(value)
	for v.IsValid() && v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	if !v.IsValid() {
		return nil
	}
	return v.Interface()
}

func float(v float64) any {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return v
}
