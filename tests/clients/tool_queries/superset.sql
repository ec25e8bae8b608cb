-- =====================================================================================
-- Apache Superset -> PostgreSQL.
-- Superset browses schemas/tables/columns through SQLAlchemy reflection (Inspector).
-- Part A: SQL that Superset's own code sends for postgres
--         (superset/db_engine_specs/postgres.py, PostgresEngineSpec / PostgresBaseEngineSpec,
--          stored versions 007e4f5f... and a later one with get_default_catalog/adjust_engine_params).
-- Part B: SQL that SQLAlchemy 1.4 (PGDialect / PGDialect_psycopg2) and psycopg2 emit when
--         Superset connects, or when it calls the Inspector methods that PostgresEngineSpec
--         overrides/uses to list tables. This is NOT Superset code; it is taken from
--         SQLAlchemy 1.4.54 lib/sqlalchemy/dialects/postgresql/{base,psycopg2}.py and
--         psycopg2 2.9.10 lib/extras.py. Superset releases pin sqlalchemy<2; a newer
--         SQLAlchemy 2.x would send different reflection SQL.
-- Column/PK/FK/index/comment reflection (Inspector.get_columns etc.) is plain SQLAlchemy
-- and is not transcribed here.
-- Substitutions: database quarry, user quarry, schema public, table tool_items.
-- =====================================================================================

-- ---------------------------------------------------------------- Part A: Superset code

-- database connection test: Superset TestConnectionDatabaseCommand calls engine.dialect.do_ping(raw_connection); SQLAlchemy 1.4 sends str(select(1)) = "SELECT 1"; source: apache/superset/superset/commands/database/test_connection.py (TestConnectionDatabaseCommand.run) + sqlalchemy/lib/sqlalchemy/engine/default.py (_dialect_specific_select_one)
SELECT 1;

-- list catalogs (= databases) for the catalog dropdown (supports_catalog = True); verbatim text (leading newline and trailing spaces trimmed); source: apache/superset/superset/db_engine_specs/postgres.py (PostgresEngineSpec.get_catalog_names)
SELECT datname FROM pg_database
WHERE datistemplate = false;

-- SQL Lab with schema "public" selected: prequery run on the same connection before each statement; source: apache/superset/superset/db_engine_specs/postgres.py (PostgresEngineSpec.get_prequeries)
set search_path = "public";

-- SQL Lab, before running each query: backend PID stored so the query can be cancelled; source: apache/superset/superset/db_engine_specs/postgres.py (PostgresEngineSpec.get_cancel_query_id)
SELECT pg_backend_pid();

-- SQL Lab "Stop": kill the backend whose PID was recorded (PID interpolated as a quoted string; 12345 is a stand-in); source: apache/superset/superset/db_engine_specs/postgres.py (PostgresEngineSpec.cancel_query)
SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid='12345';

-- table preview / "SELECT *" shown when a table is picked in SQL Lab or a dataset is created: RECONSTRUCTED: select("*").select_from(text("public.tool_items")).limit(100) compiled with literal binds (identifiers quoted only when needed), then pretty-printed (whitespace differs by version); source: apache/superset/superset/db_engine_specs/base.py (BaseEngineSpec.select_star; PostgresEngineSpec has no latest-partition logic)
SELECT * FROM public.tool_items LIMIT 100;

-- only when "Enable query cost estimation" is switched on for the database: cost estimate of a SQL Lab statement (statement interpolated after EXPLAIN; the preview query is used as the example); source: apache/superset/superset/db_engine_specs/postgres.py (PostgresEngineSpec.estimate_statement_cost)
EXPLAIN SELECT * FROM public.tool_items LIMIT 100;

-- -------------------------------------- Part B: SQLAlchemy 1.4 / psycopg2 (not Superset code)

-- first connect of every Superset engine: server version; source: sqlalchemy/lib/sqlalchemy/dialects/postgresql/base.py (PGDialect._get_server_version_info)
select pg_catalog.version();

-- first connect: default schema (what Superset reports as the default schema); source: sqlalchemy/lib/sqlalchemy/dialects/postgresql/base.py (PGDialect._get_default_schema_name)
select current_schema();

-- first connect: default isolation level; source: sqlalchemy/lib/sqlalchemy/dialects/postgresql/base.py (PGDialect.get_isolation_level via DefaultDialect.initialize)
show transaction isolation level;

-- first connect (server >= 8.2): backslash-escape detection; source: sqlalchemy/lib/sqlalchemy/dialects/postgresql/base.py (PGDialect.initialize)
show standard_conforming_strings;

-- first connect and every new DBAPI connection (use_native_hstore defaults to True): psycopg2 looks up the hstore type oids; verbatim text (server >= 8.3 so typarray); source: sqlalchemy/lib/sqlalchemy/dialects/postgresql/psycopg2.py (PGDialect_psycopg2.initialize / on_connect -> _hstore_oids) + psycopg2/lib/extras.py (HstoreAdapter.get_oids)
SELECT t.oid, typarray
FROM pg_type t JOIN pg_namespace ns
    ON typnamespace = ns.oid
WHERE typname = 'hstore';

-- schema dropdown: Inspector.get_schema_names(); source: sqlalchemy/lib/sqlalchemy/dialects/postgresql/base.py (PGDialect.get_schema_names), called from apache/superset/superset/db_engine_specs/base.py (BaseEngineSpec.get_schema_names)
SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg_%' ORDER BY nspname;

-- table list of a schema, part 1: Inspector.get_table_names(schema) (:schema bound as 'public'); source: sqlalchemy/lib/sqlalchemy/dialects/postgresql/base.py (PGDialect.get_table_names), called from apache/superset/superset/db_engine_specs/postgres.py (PostgresEngineSpec.get_table_names)
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind in ('r', 'p');

-- table list of a schema, part 2 (Superset's postgres override adds foreign tables): Inspector.get_foreign_table_names(schema); source: sqlalchemy/lib/sqlalchemy/dialects/postgresql/base.py (PGDialect._get_foreign_table_names), called from apache/superset/superset/db_engine_specs/postgres.py (PostgresEngineSpec.get_table_names)
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'f';

-- view list of a schema: Inspector.get_view_names(schema) with the default include=("plain", "materialized"); source: sqlalchemy/lib/sqlalchemy/dialects/postgresql/base.py (PGDialect.get_view_names), called from apache/superset/superset/db_engine_specs/base.py (BaseEngineSpec.get_view_names)
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('v', 'm');
