-- Grafana PostgreSQL data source: catalog / browsing / health queries, verbatim from grafana/grafana.
-- Each statement below is terminated by a line containing only ';' (the ';' is NOT sent by Grafana).
-- Template text (with ${...} placeholders) is shown as '--   | ' comment lines above the concrete statement.
-- Concrete instantiation context: search_path = "$user", public ; table public.grafana_metrics(time timestamp, host text, value double precision).
-- Transport: all frontend-originated SQL goes POST /api/ds/query -> backend -> pgconn.Exec (pgx, simple Query protocol 'Q'),
-- or database/sql + lib/pq (older Grafana; no args -> simple protocol as well). '"$user"' is sent literally (no template var).
-- See /tmp/research/grafana_notes.md for provenance and caveats.

-- source: grafana/grafana public/app/plugins/datasource/grafana-postgresql-datasource/postgresMetaQuery.ts@12f912ab8d010f4d95a4043a0efaa20fc4ca0100 getVersion()  [called by datasource.ts getVersion() from configuration/useAutoDetectFeatures.ts]
-- Sent when a new datasource is saved in the config page (auto-detect). Result column must be named "version".
SELECT current_setting('server_version_num')::int/100 as version
;

-- source: grafana/grafana public/app/plugins/datasource/grafana-postgresql-datasource/postgresMetaQuery.ts@12f912ab8d010f4d95a4043a0efaa20fc4ca0100 getTimescaleDBVersion()  [datasource.ts getTimescaleDBVersion(); only if version >= 906]
-- Returns zero rows when TimescaleDB is absent (column extversion).
SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'
;

-- source: grafana/grafana public/app/plugins/datasource/grafana-postgresql-datasource/postgresMetaQuery.ts@12f912ab8d010f4d95a4043a0efaa20fc4ca0100 showTables()  [datasource.ts fetchTables(), refId 'tables'; used by getDB().tables() and lookup()]
-- Table-list query of the visual query builder / code-editor autocomplete (no schema argument: the
-- branch that datasource.ts at 3b764a1c/04282cd9 actually calls). Result column "table".
-- template (verbatim source text, placeholders unexpanded; the "|" prefix is not part of it):
--   | SELECT
--   |     CASE WHEN ${buildSchemaConstraint()}
--   |       THEN quote_ident(table_name)
--   |       ELSE quote_ident(table_schema) || '.' || quote_ident(table_name)
--   |     END AS "table"
--   |     FROM information_schema.tables
--   |     WHERE quote_ident(table_schema) NOT IN ('information_schema',
--   |                              'pg_catalog',
--   |                              '_timescaledb_cache',
--   |                              '_timescaledb_catalog',
--   |                              '_timescaledb_internal',
--   |                              '_timescaledb_config',
--   |                              'timescaledb_information',
--   |                              'timescaledb_experimental')
--   |     ORDER BY CASE WHEN ${buildSchemaConstraint()} THEN 0 ELSE 1 END, 1
SELECT
    CASE WHEN 
          quote_ident(table_schema) IN (
          SELECT
            CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
          FROM
            generate_series(
              array_lower(string_to_array(current_setting('search_path'),','),1),
              array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i,
            string_to_array(current_setting('search_path'),',') s
          )
      THEN quote_ident(table_name)
      ELSE quote_ident(table_schema) || '.' || quote_ident(table_name)
    END AS "table"
    FROM information_schema.tables
    WHERE quote_ident(table_schema) NOT IN ('information_schema',
                             'pg_catalog',
                             '_timescaledb_cache',
                             '_timescaledb_catalog',
                             '_timescaledb_internal',
                             '_timescaledb_config',
                             'timescaledb_information',
                             'timescaledb_experimental')
    ORDER BY CASE WHEN 
          quote_ident(table_schema) IN (
          SELECT
            CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
          FROM
            generate_series(
              array_lower(string_to_array(current_setting('search_path'),','),1),
              array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i,
            string_to_array(current_setting('search_path'),',') s
          ) THEN 0 ELSE 1 END, 1
;

-- source: grafana/grafana public/app/plugins/datasource/grafana-postgresql-datasource/postgresMetaQuery.ts@12f912ab8d010f4d95a4043a0efaa20fc4ca0100 showTables(schema)  [schema='public']
-- Schema-scoped branch; present only in the newest stored version (12f912ab) of postgresMetaQuery.ts.
-- No stored datasource.ts version was found that calls it with an argument - include for safety.
-- template (verbatim source text, placeholders unexpanded; the "|" prefix is not part of it):
--   | SELECT quote_ident(table_name) AS "table"
--   |       FROM information_schema.tables
--   |       WHERE quote_ident(table_schema) = ${schemaPart}
--   |       ORDER BY 1
SELECT quote_ident(table_name) AS "table"
      FROM information_schema.tables
      WHERE quote_ident(table_schema) = 'public'
      ORDER BY 1
;

-- source: grafana/grafana public/app/plugins/datasource/grafana-postgresql-datasource/postgresMetaQuery.ts@12f912ab8d010f4d95a4043a0efaa20fc4ca0100 showSchemas()
-- Schema list (newest version only, see above). Result column "name".
SELECT schema_name AS "name"
    FROM information_schema.schemata
    WHERE schema_name NOT IN ('information_schema',
                              'pg_catalog',
                              'pg_toast',
                              '_timescaledb_cache',
                              '_timescaledb_catalog',
                              '_timescaledb_internal',
                              '_timescaledb_config',
                              'timescaledb_information',
                              'timescaledb_experimental')
    ORDER BY schema_name
;

-- source: grafana/grafana public/app/plugins/datasource/grafana-postgresql-datasource/postgresMetaQuery.ts@12f912ab8d010f4d95a4043a0efaa20fc4ca0100 getSchema(table)  [datasource.ts fetchFields(), refId 'columns-<uuid>'; table='grafana_metrics']
-- Column-list query. Result columns "column" and "type" (type = information_schema data_type, e.g.
-- "timestamp without time zone", "text", "double precision").
-- template (verbatim source text, placeholders unexpanded; the "|" prefix is not part of it):
--   | SELECT quote_ident(column_name) AS "column", data_type AS "type"
--   |     FROM information_schema.columns
--   |     WHERE
--   |       CASE WHEN array_length(parse_ident(${tableNamePart}),1) = 2
--   |         THEN quote_ident(table_schema) = (parse_ident(${tableNamePart}))[1]
--   |           AND quote_ident(table_name) = (parse_ident(${tableNamePart}))[2]
--   |         ELSE quote_ident(table_name) = ${tableNamePart}
--   |           AND ${buildSchemaConstraint()}
--   |       END
SELECT quote_ident(column_name) AS "column", data_type AS "type"
    FROM information_schema.columns
    WHERE
      CASE WHEN array_length(parse_ident('grafana_metrics'),1) = 2
        THEN quote_ident(table_schema) = (parse_ident('grafana_metrics'))[1]
          AND quote_ident(table_name) = (parse_ident('grafana_metrics'))[2]
        ELSE quote_ident(table_name) = 'grafana_metrics'
          AND 
          quote_ident(table_schema) IN (
          SELECT
            CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
          FROM
            generate_series(
              array_lower(string_to_array(current_setting('search_path'),','),1),
              array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i,
            string_to_array(current_setting('search_path'),',') s
          )
      END
;

-- source: grafana/grafana public/app/plugins/datasource/grafana-postgresql-datasource/postgresMetaQuery.ts@12f912ab8d010f4d95a4043a0efaa20fc4ca0100 getSchema(table)  [table='public.grafana_metrics', i.e. when showTables returned a schema-qualified name]
-- Same query when the table is not on search_path and was listed as schema.table.
SELECT quote_ident(column_name) AS "column", data_type AS "type"
    FROM information_schema.columns
    WHERE
      CASE WHEN array_length(parse_ident('public.grafana_metrics'),1) = 2
        THEN quote_ident(table_schema) = (parse_ident('public.grafana_metrics'))[1]
          AND quote_ident(table_name) = (parse_ident('public.grafana_metrics'))[2]
        ELSE quote_ident(table_name) = 'public.grafana_metrics'
          AND 
          quote_ident(table_schema) IN (
          SELECT
            CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
          FROM
            generate_series(
              array_lower(string_to_array(current_setting('search_path'),','),1),
              array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i,
            string_to_array(current_setting('search_path'),',') s
          )
      END
;

-- source: grafana/grafana public/app/plugins/datasource/grafana-postgresql-datasource/sqlUtil.ts@1137a659 toRawSql() + packages/grafana-sql/src/utils/sql.utils.ts createSelectClause() + packages/grafana-sql/src/defaults.ts (limit: 50)
-- Visual-builder query after picking table grafana_metrics and columns time, host, value (no aggregation).
-- NOTE the trailing space: toRawSql appends "LIMIT 50 " literally. Sent via simple-query protocol.
SELECT time, host, value FROM grafana_metrics LIMIT 50 
;

-- source: grafana/grafana public/app/plugins/datasource/postgres/datasource.ts@01b1f535 testDatasource()  [Grafana 8.x-9.0 frontend 'Save & test']
-- Legacy test query (refId "meta"). In current Grafana the "Save & test" button calls the backend CheckHealth,
-- which does not send "SELECT 1": pgx pool.Ping sends the simple query "-- ping" (pkg/tsdb/grafana-postgresql-datasource/pgx/handler_checkhealth.go -> pgconn.Ping),
-- the lib/pq path (sqleng/handler_checkhealth.go -> database/sql Ping) sends ";" (an EmptyQuery).
SELECT 1
;

-- source: grafana/grafana (pgx) github.com/jackc/pgx/v5 pgconn/pgconn.go (*PgConn).Ping  [used by pkg/tsdb/grafana-postgresql-datasource/pgx/sql_engine.go Ping()]
-- Health check in current Grafana (pgx backend): a simple Query message whose entire text is the SQL comment "-- ping".
-- Server must answer EmptyQueryResponse + ReadyForQuery. (The replay line below is just a comment; replay it as a raw Q message.)
-- ping
;

-- source: grafana/grafana public/app/plugins/datasource/postgres/datasource.ts@01b1f535 getVersion()  [Grafana 8.x legacy]
-- Legacy variant without the alias.
SELECT current_setting('server_version_num')::int/100
;

-- source: grafana/grafana public/app/plugins/datasource/postgres/postgresMetaQuery.ts@680d2f2ee9a69a593b69ba24dcf5945c05df1d6c showTables()  [Grafana 9.x early visual editor]
-- Older variant (lower-case keywords, BASE TABLE only).
select quote_ident(table_name) as "table" from information_schema.tables
    where quote_ident(table_schema) not in ('information_schema',
                             'pg_catalog',
                             '_timescaledb_cache',
                             '_timescaledb_catalog',
                             '_timescaledb_internal',
                             '_timescaledb_config',
                             'timescaledb_information',
                             'timescaledb_experimental')
      and table_type = 'BASE TABLE' and 
          quote_ident(table_schema) IN (
          SELECT
            CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
          FROM
            generate_series(
              array_lower(string_to_array(current_setting('search_path'),','),1),
              array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i,
            string_to_array(current_setting('search_path'),',') s
          )
;

-- source: grafana/grafana public/app/plugins/datasource/postgres/postgresMetaQuery.ts@680d2f2ee9a69a593b69ba24dcf5945c05df1d6c getSchema(table)  [table='grafana_metrics']
-- template (verbatim source text, placeholders unexpanded; the "|" prefix is not part of it):
--   | select quote_ident(column_name) as "column", data_type as "type"
--   |     from information_schema.columns
--   |     where quote_ident(table_name) = '${table}'
select quote_ident(column_name) as "column", data_type as "type"
    from information_schema.columns
    where quote_ident(table_name) = 'grafana_metrics'
;

-- source: grafana/grafana public/app/plugins/datasource/postgres/postgresMetaQuery.ts@680d2f2ee9a69a593b69ba24dcf5945c05df1d6c showDatabases()
SELECT datname FROM pg_database WHERE datistemplate = false
;

-- source: grafana/grafana pkg/tsdb/grafana-postgresql-datasource/schema.go@043dd88a querySchemas()
-- Backend schema API (Grafana SQL expressions / schemads). Whitespace: tabs exactly as in the Go raw string.
SELECT schema_name FROM information_schema.schemata
		 WHERE schema_name NOT LIKE 'pg_%' AND schema_name != 'information_schema'
		 ORDER BY schema_name
;

-- source: grafana/grafana pkg/tsdb/grafana-postgresql-datasource/schema.go@043dd88a queryTables()  [$1 = 'public', sent as extended-protocol parameter by pgx]
-- Parameterised: pgx sends Parse/Bind with $1 = public.
SELECT table_name FROM information_schema.tables
		 WHERE table_schema = $1 AND table_type IN ('BASE TABLE', 'VIEW')
		 ORDER BY table_name
;

-- source: grafana/grafana pkg/tsdb/grafana-postgresql-datasource/schema.go@043dd88a queryColumns()  [$1='public', $2='grafana_metrics']
-- Parameterised ($1 = public, $2 = grafana_metrics).
SELECT column_name, data_type, udt_name, numeric_precision, numeric_scale
		 FROM information_schema.columns
		 WHERE table_schema = $1 AND table_name = $2
		 ORDER BY ordinal_position
;

-- source: grafana/grafana pkg/tsdb/grafana-postgresql-datasource/schema.go@043dd88a ColumnValues()  [schema public, table grafana_metrics, columns host]
-- fmt template: "SELECT '%s' AS col_name, %s::text AS val FROM (SELECT DISTINCT %s FROM %s WHERE %s IS NOT NULL ORDER BY %s LIMIT %d) sub_%d", joined with " UNION ALL ".
SELECT 'host' AS col_name, "host"::text AS val FROM (SELECT DISTINCT "host" FROM "public"."grafana_metrics" WHERE "host" IS NOT NULL ORDER BY "host" LIMIT 100) sub_0
;

-- source: grafana/grafana public/app/plugins/datasource/postgres/meta_query.ts@027e669f230fd8228b4376f13363058b5bcd2f35 findMetricTable()  [legacy query_ctrl.ts constructor, new graph panel]
-- Legacy editor: first table having a timestamp(tz) column and a float8 column. NOTE: the source text itself ends with "\n;".

SELECT
	quote_ident(table_name) as table_name,
	( SELECT
	    quote_ident(column_name) as column_name
	  FROM information_schema.columns c
    WHERE
      c.table_schema = t.table_schema AND
      c.table_name = t.table_name AND
      udt_name IN ('timestamptz','timestamp')
    ORDER BY ordinal_position LIMIT 1
  ) AS time_column,
  ( SELECT
      quote_ident(column_name) AS column_name
    FROM information_schema.columns c
    WHERE
      c.table_schema = t.table_schema AND
      c.table_name = t.table_name AND
      udt_name='float8'
    ORDER BY ordinal_position LIMIT 1
  ) AS value_column
FROM information_schema.tables t
WHERE 
table_schema IN (
  SELECT
    CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
  FROM
    generate_series(
      array_lower(string_to_array(current_setting('search_path'),','),1),
      array_upper(string_to_array(current_setting('search_path'),','),1)
    ) as i,
    string_to_array(current_setting('search_path'),',') s
) AND
  EXISTS
  ( SELECT 1
    FROM information_schema.columns c
    WHERE
      c.table_schema = t.table_schema AND
      c.table_name = t.table_name AND
      udt_name IN ('timestamptz','timestamp')
  ) AND
  EXISTS
  ( SELECT 1
    FROM information_schema.columns c
    WHERE
      c.table_schema = t.table_schema AND
      c.table_name = t.table_name AND
      udt_name='float8'
  )
LIMIT 1
;

-- source: grafana/grafana public/app/plugins/datasource/postgres/meta_query.ts@027e669f230fd8228b4376f13363058b5bcd2f35 buildTableQuery()  [legacy getTableSegments()]
-- template (verbatim source text, placeholders unexpanded; the "|" prefix is not part of it):
--   | 'SELECT quote_ident(table_name) FROM information_schema.tables WHERE ' + buildSchemaConstraint() + ' ORDER BY table_name'
SELECT quote_ident(table_name) FROM information_schema.tables WHERE 
table_schema IN (
  SELECT
    CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
  FROM
    generate_series(
      array_lower(string_to_array(current_setting('search_path'),','),1),
      array_upper(string_to_array(current_setting('search_path'),','),1)
    ) as i,
    string_to_array(current_setting('search_path'),',') s
) ORDER BY table_name
;

-- source: grafana/grafana public/app/plugins/datasource/postgres/meta_query.ts@027e669f230fd8228b4376f13363058b5bcd2f35 buildColumnQuery('time')  [legacy tableChanged()/getTimeColumnSegments(); table grafana_metrics]
SELECT quote_ident(column_name) FROM information_schema.columns WHERE 
table_schema IN (
  SELECT
    CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
  FROM
    generate_series(
      array_lower(string_to_array(current_setting('search_path'),','),1),
      array_upper(string_to_array(current_setting('search_path'),','),1)
    ) as i,
    string_to_array(current_setting('search_path'),',') s
) AND table_name = 'grafana_metrics' AND data_type IN ('timestamp without time zone','timestamp with time zone','bigint','integer','double precision','real') ORDER BY column_name
;

-- source: grafana/grafana public/app/plugins/datasource/postgres/meta_query.ts@027e669f230fd8228b4376f13363058b5bcd2f35 buildColumnQuery('value')  [legacy tableChanged(), column param options]
SELECT quote_ident(column_name) FROM information_schema.columns WHERE 
table_schema IN (
  SELECT
    CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
  FROM
    generate_series(
      array_lower(string_to_array(current_setting('search_path'),','),1),
      array_upper(string_to_array(current_setting('search_path'),','),1)
    ) as i,
    string_to_array(current_setting('search_path'),',') s
) AND table_name = 'grafana_metrics' AND data_type IN ('bigint','integer','double precision','real','numeric') AND column_name <> 'time' ORDER BY column_name
;

-- source: grafana/grafana public/app/plugins/datasource/postgres/meta_query.ts@027e669f230fd8228b4376f13363058b5bcd2f35 buildColumnQuery('metric')  [legacy getMetricColumnSegments()]
SELECT quote_ident(column_name) FROM information_schema.columns WHERE 
table_schema IN (
  SELECT
    CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
  FROM
    generate_series(
      array_lower(string_to_array(current_setting('search_path'),','),1),
      array_upper(string_to_array(current_setting('search_path'),','),1)
    ) as i,
    string_to_array(current_setting('search_path'),',') s
) AND table_name = 'grafana_metrics' AND data_type IN ('text','character','character varying') ORDER BY column_name
;

-- source: grafana/grafana public/app/plugins/datasource/postgres/meta_query.ts@027e669f230fd8228b4376f13363058b5bcd2f35 buildColumnQuery()  [legacy group-by param options, no type]
SELECT quote_ident(column_name) FROM information_schema.columns WHERE 
table_schema IN (
  SELECT
    CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
  FROM
    generate_series(
      array_lower(string_to_array(current_setting('search_path'),','),1),
      array_upper(string_to_array(current_setting('search_path'),','),1)
    ) as i,
    string_to_array(current_setting('search_path'),',') s
) AND table_name = 'grafana_metrics' ORDER BY column_name
;

-- source: grafana/grafana public/app/plugins/datasource/postgres/meta_query.ts@027e669f230fd8228b4376f13363058b5bcd2f35 buildColumnQuery('group')
SELECT quote_ident(column_name) FROM information_schema.columns WHERE 
table_schema IN (
  SELECT
    CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
  FROM
    generate_series(
      array_lower(string_to_array(current_setting('search_path'),','),1),
      array_upper(string_to_array(current_setting('search_path'),','),1)
    ) as i,
    string_to_array(current_setting('search_path'),',') s
) AND table_name = 'grafana_metrics' AND data_type IN ('text','character','character varying','uuid') ORDER BY column_name
;

-- source: grafana/grafana public/app/plugins/datasource/postgres/meta_query.ts@027e669f230fd8228b4376f13363058b5bcd2f35 buildDatatypeQuery('time')  [legacy timeColumnChanged()]
SELECT udt_name FROM information_schema.columns WHERE 
table_schema IN (
  SELECT
    CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
  FROM
    generate_series(
      array_lower(string_to_array(current_setting('search_path'),','),1),
      array_upper(string_to_array(current_setting('search_path'),','),1)
    ) as i,
    string_to_array(current_setting('search_path'),',') s
) AND table_name = 'grafana_metrics' AND column_name = 'time'
;

-- source: grafana/grafana public/app/plugins/datasource/postgres/meta_query.ts@027e669f230fd8228b4376f13363058b5bcd2f35 buildAggregateQuery()  [legacy aggregate param options]
SELECT DISTINCT proname FROM pg_aggregate INNER JOIN pg_proc ON pg_aggregate.aggfnoid = pg_proc.oid INNER JOIN pg_type ON pg_type.oid=pg_proc.prorettype WHERE pronargs=1 AND typname IN ('float8') AND aggkind='n' ORDER BY 1
;

-- source: grafana/grafana public/app/plugins/datasource/postgres/meta_query.ts@027e669f230fd8228b4376f13363058b5bcd2f35 buildValueQuery('host')  [after backend macro expansion of $__timeFilter(time) for 2024-01-01T00:00:00Z..2024-01-01T06:00:00Z]
-- Template output before expansion: SELECT DISTINCT quote_literal(host) FROM grafana_metrics WHERE $__timeFilter(time) AND host IS NOT NULL ORDER BY 1 LIMIT 100
SELECT DISTINCT quote_literal(host) FROM grafana_metrics WHERE time BETWEEN '2024-01-01T00:00:00Z' AND '2024-01-01T06:00:00Z' AND host IS NOT NULL ORDER BY 1 LIMIT 100
;

-- source: grafana/grafana public/app/plugins/datasource/postgres/postgres_query_model.ts@3ec61b89 buildQuery() + pkg/tsdb/grafana-postgresql-datasource/macros.go __timeFilter
-- Legacy builder default query after findMetricTable picked grafana_metrics/time/value, time range
-- 2024-01-01T00:00:00Z..2024-01-01T06:00:00Z (Go RFC3339Nano drops zero fractional seconds).
SELECT
  time AS "time",
  value
FROM grafana_metrics
WHERE
  time BETWEEN '2024-01-01T00:00:00Z' AND '2024-01-01T06:00:00Z'
ORDER BY 1
;

-- source: grafana/grafana postgres_query_model.ts buildQuery() with metricColumn host, group by time($__interval) + avg(value), then macros.go __timeGroupAlias (interval 1m, no timescaledb)
-- Derived instantiation (not copied from a test): $__timeGroupAlias(time,$__interval) with $__interval=1m ->
-- "floor(extract(epoch from time)/60)*60 AS \"time\"" (Go %v of 60.0 prints 60). With timescaledb=true it would be time_bucket('60.000s',time).
SELECT
  floor(extract(epoch from time)/60)*60 AS "time",
  host AS metric,
  avg(value) AS "value"
FROM grafana_metrics
WHERE
  time BETWEEN '2024-01-01T00:00:00Z' AND '2024-01-01T06:00:00Z'
GROUP BY 1,2
ORDER BY 1,2
;
