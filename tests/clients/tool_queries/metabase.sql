-- =====================================================================================
-- Metabase -> PostgreSQL: SQL sent on connection test / connection checkout / sync.
-- Sources read (stored snapshots of metabase/metabase, 2025-era master):
--   src/metabase/driver/postgres.clj                         (commit 008fd667...)
--   src/metabase/driver/sql_jdbc/connection.clj              (can-connect-with-spec?)
--   src/metabase/driver/sql_jdbc/execute.clj                 (set-default-connection-options!)
--   src/metabase/driver/sql_jdbc/sync/describe_database.clj  (all-schemas, probe query)
--   src/metabase/driver/sql_jdbc/sync/describe_table.clj     (describe-fields / -fks / -indexes)
-- Queries marked "pgjdbc" are emitted by the PostgreSQL JDBC driver (pgjdbc/pgjdbc,
-- PgConnection.java / PgDatabaseMetaData.java) in response to a JDBC call Metabase makes.
-- Substitutions: database quarry, user quarry, schema public, table tool_items.
-- HoneySQL 2 queries are built with {:dialect :ansi}, which turns quoting ON, so every
-- identifier is double-quoted, AND operands are parenthesised, and string/number values
-- are sent as JDBC '?' parameters; those parameters are inlined here as literals.
-- Not representable as a statement: on every pool checkout c3p0 calls
-- Connection.isValid(), for which pgjdbc sends an EMPTY simple query "" (the server must
-- answer EmptyQueryResponse + ReadyForQuery).
-- =====================================================================================

-- connection test ("Save"/"Test connection" in admin); source: metabase/metabase/src/metabase/driver/sql_jdbc/connection.clj (can-connect-with-spec?)
SELECT 1;

-- every connection checkout: Metabase calls .setTransactionIsolation(READ_UNCOMMITTED) (first level pgjdbc reports supported), pgjdbc turns it into this; source: metabase/metabase/src/metabase/driver/sql_jdbc/execute.clj (set-best-transaction-level!) + pgjdbc/pgjdbc/pgjdbc/src/main/java/org/postgresql/jdbc/PgConnection.java (setTransactionIsolation)
SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ UNCOMMITTED;

-- only when a report timezone is configured: session timezone (format string "SET SESSION TIMEZONE TO %s;" with the quoted zone id); source: metabase/metabase/src/metabase/driver/postgres.clj (sql-jdbc.execute/set-timezone-sql :postgres) via execute.clj (set-time-zone-if-supported!)
SET SESSION TIMEZONE TO 'UTC';

-- sync: read the database default timezone; source: metabase/metabase/src/metabase/driver/postgres.clj (driver/db-default-timezone :postgres)
show timezone;

-- sync: list schemas (Metabase calls DatabaseMetaData.getSchemas(); pgjdbc >= 42.7.5 text, pgjdbc <= 42.7.4 used "SELECT nspname AS TABLE_SCHEM, NULL AS TABLE_CATALOG ... ORDER BY TABLE_SCHEM"); Metabase then drops information_schema, pg_catalog and metabase_cache*; source: metabase/metabase/src/metabase/driver/sql_jdbc/sync/describe_database.clj (all-schemas / filtered-syncable-schemas) + pgjdbc/pgjdbc/pgjdbc/src/main/java/org/postgresql/jdbc/PgDatabaseMetaData.java (getSchemas)
SELECT nspname AS "TABLE_SCHEM", current_database() AS "TABLE_CATALOG" FROM pg_catalog.pg_namespace  WHERE nspname <> 'pg_toast' AND (nspname !~ '^pg_temp_'  OR nspname = (pg_catalog.current_schemas(true))[1]) AND (nspname !~ '^pg_toast_temp_'  OR nspname = replace((pg_catalog.current_schemas(true))[1], 'pg_temp_', 'pg_toast_temp_'))  ORDER BY "TABLE_SCHEM";

-- sync (describe-database): privileges of current_user on every table/view/matview, used to decide which tables are syncable (select) and writable; verbatim string (lines joined with "\n"); source: metabase/metabase/src/metabase/driver/postgres.clj (sql-jdbc.sync/current-user-table-privileges :postgres)
with table_privileges as (
 select
   NULL as role,
   t.schemaname as schema,
   t.objectname as table,
   pg_catalog.has_any_column_privilege(current_user, '"' || replace(t.schemaname, '"', '""') || '"' || '.' || '"' || replace(t.objectname, '"', '""') || '"',  'update') as update,
   pg_catalog.has_any_column_privilege(current_user, '"' || replace(t.schemaname, '"', '""') || '"' || '.' || '"' || replace(t.objectname, '"', '""') || '"',  'select') as select,
   pg_catalog.has_any_column_privilege(current_user, '"' || replace(t.schemaname, '"', '""') || '"' || '.' || '"' || replace(t.objectname, '"', '""') || '"',  'insert') as insert,
   pg_catalog.has_table_privilege(     current_user, '"' || replace(t.schemaname, '"', '""') || '"' || '.' || '"' || replace(t.objectname, '"', '""') || '"',  'delete') as delete
 from (
   select schemaname, tablename as objectname from pg_catalog.pg_tables
   union
   select schemaname, viewname as objectname from pg_catalog.pg_views
   union
   select schemaname, matviewname as objectname from pg_catalog.pg_matviews
 ) t
 where t.schemaname !~ '^pg_'
   and t.schemaname <> 'information_schema'
   and pg_catalog.has_schema_privilege(current_user, t.schemaname, 'usage')
)
select t.*
from table_privileges t;

-- sync (describe-database): fast table list of the syncable schemas; RECONSTRUCTED from HoneySQL (get-tables-sql, {:dialect :ansi}); the three '?' params "^pg_", "information_schema", 0 and the IN-list (syncable schemas) are inlined; table-names is nil during describe-database so no relname filter; source: metabase/metabase/src/metabase/driver/postgres.clj (get-tables-sql / describe-syncable-tables / driver/describe-database* :postgres)
SELECT "n"."nspname" AS "schema", "c"."relname" AS "name", CASE "c"."relkind" WHEN 'r' THEN 'TABLE' WHEN 'p' THEN 'PARTITIONED TABLE' WHEN 'v' THEN 'VIEW' WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE NULL END AS "type", "d"."description" AS "description", "stat"."n_live_tup" AS "estimated_row_count"
FROM "pg_catalog"."pg_class" AS "c"
INNER JOIN "pg_catalog"."pg_namespace" AS "n" ON "c"."relnamespace" = "n"."oid"
LEFT JOIN "pg_catalog"."pg_description" AS "d" ON ("c"."oid" = "d"."objoid") AND ("d"."objsubid" = 0) AND ("d"."classoid" = 'pg_class'::regclass)
LEFT JOIN "pg_stat_user_tables" AS "stat" ON ("n"."nspname" = "stat"."schemaname") AND ("c"."relname" = "stat"."relname")
WHERE ("c"."relnamespace" = "n"."oid") AND ("n"."nspname" !~ '^pg_') AND ("n"."nspname" <> 'information_schema') AND (c.relkind in ('r', 'p', 'v', 'f', 'm')) AND ("n"."nspname" IN ('public'))
ORDER BY "type" ASC, "schema" ASC, "name" ASC;

-- sync (only for tables of type FOREIGN TABLE, whose privileges the query above cannot report): SELECT-privilege probe; RECONSTRUCTED from HoneySQL ({:select [[true :_]] :from [table] :where [:inline [:not= 1 1]]} + LIMIT 0); source: metabase/metabase/src/metabase/driver/sql_jdbc/sync/describe_database.clj (simple-select-probe-query / have-select-privilege?)
SELECT TRUE AS "_" FROM "public"."tool_items" WHERE 1 <> 1 LIMIT 0;

-- sync (describe-fields pre-step and dynamic type lookup): enum types; verbatim string; source: metabase/metabase/src/metabase/driver/postgres.clj (enum-types)
SELECT nspname, typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE t.oid IN (SELECT DISTINCT enumtypid FROM pg_enum e);

-- sync (describe-fields): all columns of the synced tables (information_schema.columns + PK flag) UNION ALL materialized-view columns from pg_attribute; RECONSTRUCTED from HoneySQL ({:dialect :ansi}); schema-names = ['public'], table-names = ['tool_items'] (a full-database sync passes only schema-names, so the relname IN (...) conjuncts are then absent); source: metabase/metabase/src/metabase/driver/postgres.clj (sql-jdbc.sync/describe-fields-sql :postgres) via describe_table.clj (describe-fields)
SELECT "c"."column_name" AS "name",
       CASE WHEN "c"."udt_schema" IN ('public', 'pg_catalog') THEN FORMAT('%s', "c"."udt_name") ELSE FORMAT('"%s"."%s"', "c"."udt_schema", "c"."udt_name") END AS "database-type",
       "c"."ordinal_position" - 1 AS "database-position",
       "c"."table_schema" AS "table-schema",
       "c"."table_name" AS "table-name",
       "pk"."column_name" IS NOT NULL AS "pk?",
       COL_DESCRIPTION(CAST(CAST(FORMAT('%I.%I', CAST("c"."table_schema" AS TEXT), CAST("c"."table_name" AS TEXT)) AS REGCLASS) AS OID), "c"."ordinal_position") AS "field-comment",
       (("column_default" IS NULL) OR (LOWER("column_default") = 'null')) AND ("is_nullable" = 'NO') AND (NOT ((("column_default" IS NOT NULL) AND ("column_default" LIKE '%nextval(%')) OR ("is_identity" <> 'NO'))) AS "database-required",
       (("column_default" IS NOT NULL) AND ("column_default" LIKE '%nextval(%')) OR ("is_identity" <> 'NO') AS "database-is-auto-increment"
FROM "information_schema"."columns" AS "c"
LEFT JOIN (SELECT "tc"."table_schema", "tc"."table_name", "kc"."column_name"
           FROM "information_schema"."table_constraints" AS "tc"
           INNER JOIN "information_schema"."key_column_usage" AS "kc" ON ("tc"."constraint_name" = "kc"."constraint_name") AND ("tc"."table_schema" = "kc"."table_schema") AND ("tc"."table_name" = "kc"."table_name")
           WHERE "tc"."constraint_type" = 'PRIMARY KEY') AS "pk"
  ON ("c"."table_schema" = "pk"."table_schema") AND ("c"."table_name" = "pk"."table_name") AND ("c"."column_name" = "pk"."column_name")
WHERE (c.table_schema !~ '^information_schema|catalog_history|pg_') AND ("c"."table_schema" IN ('public')) AND ("c"."table_name" IN ('tool_items'))
UNION ALL
SELECT "pa"."attname" AS "name",
       CASE WHEN "ptn"."nspname" IN ('public', 'pg_catalog') THEN FORMAT('%s', "pt"."typname") ELSE FORMAT('"%s"."%s"', "ptn"."nspname", "pt"."typname") END AS "database-type",
       "pa"."attnum" - 1 AS "database-position",
       "pn"."nspname" AS "table-schema",
       "pc"."relname" AS "table-name",
       FALSE AS "pk?",
       NULL AS "field-comment",
       FALSE AS "database-required",
       FALSE AS "database-is-auto-increment"
FROM "pg_catalog"."pg_class" AS "pc"
INNER JOIN "pg_catalog"."pg_namespace" AS "pn" ON "pn"."oid" = "pc"."relnamespace"
INNER JOIN "pg_catalog"."pg_attribute" AS "pa" ON "pa"."attrelid" = "pc"."oid"
INNER JOIN "pg_catalog"."pg_type" AS "pt" ON "pt"."oid" = "pa"."atttypid"
INNER JOIN "pg_catalog"."pg_namespace" AS "ptn" ON "ptn"."oid" = "pt"."typnamespace"
WHERE ("pc"."relkind" = 'm') AND ("pa"."attnum" >= 1) AND ("pn"."nspname" IN ('public')) AND ("pc"."relname" IN ('tool_items'))
ORDER BY "table-schema" ASC, "table-name" ASC, "database-position" ASC;

-- sync (describe-fks): foreign keys of the synced tables; RECONSTRUCTED from HoneySQL ({:dialect :ansi}); select list comes from a 6-entry array-map so insertion order is kept; table-names = ['tool_items'], schema-names = ['public']; source: metabase/metabase/src/metabase/driver/postgres.clj (sql-jdbc.sync/describe-fks-sql :postgres) via describe_table.clj (describe-fks)
SELECT "fk_ns"."nspname" AS "fk-table-schema", "fk_table"."relname" AS "fk-table-name", "fk_column"."attname" AS "fk-column-name", "pk_ns"."nspname" AS "pk-table-schema", "pk_table"."relname" AS "pk-table-name", "pk_column"."attname" AS "pk-column-name"
FROM "pg_constraint" AS "c"
INNER JOIN "pg_class" AS "fk_table" ON "c"."conrelid" = "fk_table"."oid"
INNER JOIN "pg_namespace" AS "fk_ns" ON "c"."connamespace" = "fk_ns"."oid"
INNER JOIN "pg_attribute" AS "fk_column" ON "c"."conrelid" = "fk_column"."attrelid"
INNER JOIN "pg_class" AS "pk_table" ON "c"."confrelid" = "pk_table"."oid"
INNER JOIN "pg_namespace" AS "pk_ns" ON "pk_table"."relnamespace" = "pk_ns"."oid"
INNER JOIN "pg_attribute" AS "pk_column" ON "c"."confrelid" = "pk_column"."attrelid"
WHERE (fk_ns.nspname !~ '^information_schema|catalog_history|pg_') AND ("c"."contype" = 'f'::char) AND ("fk_column"."attnum" = ANY(c.conkey)) AND ("pk_column"."attnum" = ANY(c.confkey)) AND ("fk_table"."relname" IN ('tool_items')) AND ("fk_ns"."nspname" IN ('public'))
ORDER BY "fk-table-schema" ASC, "fk-table-name" ASC;

-- sync (describe-indexes; the :describe-indexes feature is on, but the postgres driver comments out :index-info "Index sync is turned off ... not used ATM", so current releases may not send it): first column of every non-partial index; RECONSTRUCTED from HoneySQL ({:dialect :ansi}; HoneySQL upper-cases function names, [:. x :n] renders as (x)."n"); source: metabase/metabase/src/metabase/driver/postgres.clj (sql-jdbc.sync/describe-indexes-sql :postgres) via describe_table.clj (describe-indexes)
SELECT "tmp"."table-schema", "tmp"."table-name", TRIM(BOTH '"' FROM PG_CATALOG.PG_GET_INDEXDEF("tmp"."ci_oid", "tmp"."pos", FALSE)) AS "field-name"
FROM (SELECT "n"."nspname" AS "table-schema", "ct"."relname" AS "table-name", "ci"."oid" AS "ci_oid", (INFORMATION_SCHEMA._PG_EXPANDARRAY("i"."indkey"))."n" AS "pos"
      FROM "pg_catalog"."pg_class" AS "ct"
      INNER JOIN "pg_catalog"."pg_namespace" AS "n" ON "ct"."relnamespace" = "n"."oid"
      INNER JOIN "pg_catalog"."pg_index" AS "i" ON "ct"."oid" = "i"."indrelid"
      INNER JOIN "pg_catalog"."pg_class" AS "ci" ON "ci"."oid" = "i"."indexrelid"
      WHERE (PG_CATALOG.PG_GET_EXPR("i"."indpred", "i"."indrelid") IS NULL) AND (n.nspname !~ '^information_schema|catalog_history|pg_') AND ("n"."nspname" IN ('public')) AND ("ct"."relname" IN ('tool_items'))) AS "tmp"
WHERE "tmp"."pos" = 1;
