-- =====================================================================================
-- Tableau Desktop's PostgreSQL connector (pgJDBC underneath) -> PostgreSQL: what it sends
-- when a user connects, lists schemas and tables, opens public.tableau_orders and builds
-- SUM(amount) by region. Tableau is closed source: the driver's catalog queries are pgJDBC
-- 42.2.27's own text (pgjdbc/pgjdbc, ConnectionFactoryImpl.java, PgDatabaseMetaData.java,
-- PgResultSetMetaData.java); the capability probes are Tableau's as captured in other
-- projects' issue threads (cube-js/cube#10721, crate/crate#10213); the worksheet queries
-- follow the dialect of tableau/connector-plugin-sdk samples/plugins/postgres_jdbc
-- (dialect.tdd) and its TDVT expected SQL. Each statement's provenance is in its comment:
-- [verbatim] copied, [verbatim-shape] captured with identifiers swapped, [derived] assembled.
-- The GROUP BY 2 probe, which PostgreSQL refuses (42P10) and Tableau reads the refusal of,
-- is run by test_tool_queries.py itself; 16385 stands for tableau_orders' oid.
-- =====================================================================================

-- 1. pgjdbc session set-up (pgjdbc REL42.2.27 ConnectionFactoryImpl.runInitialQueries)   [verbatim]
SET extra_float_digits = 3;
SET application_name = 'PostgreSQL JDBC Driver';
CREATE LOCAL TEMPORARY TABLE "#Tableau___A_BE________D__F___B_____F_FF___D__C_1_Connect_Check" ("COL" INTEGER) ON COMMIT PRESERVE ROWS;
DROP TABLE "#Tableau___A_BE________D__F___B_____F_FF___D__C_1_Connect_Check";
SELECT *
INTO TEMPORARY TABLE "#Tableau_1_1_Connect_CheckSelectIntoCap"
FROM (SELECT 1 AS COL) AS CHECKTEMP;
CREATE LOCAL TEMPORARY TABLE "#Tableau_1_2_Connect_CheckCreateTempTableCap" (
	COL INTEGER
	) ON COMMIT PRESERVE ROWS;
SELECT nspname AS TABLE_SCHEM, NULL AS TABLE_CATALOG FROM pg_catalog.pg_namespace  WHERE nspname <> 'pg_toast' AND (nspname !~ '^pg_temp_'  OR nspname = (pg_catalog.current_schemas(true))[1]) AND (nspname !~ '^pg_toast_temp_'  OR nspname = replace((pg_catalog.current_schemas(true))[1], 'pg_temp_', 'pg_toast_temp_'))  ORDER BY TABLE_SCHEM;
SELECT NULL AS TABLE_CAT, n.nspname AS TABLE_SCHEM, c.relname AS TABLE_NAME,  CASE n.nspname ~ '^pg_' OR n.nspname = 'information_schema'  WHEN true THEN CASE  WHEN n.nspname = 'pg_catalog' OR n.nspname = 'information_schema' THEN CASE c.relkind   WHEN 'r' THEN 'SYSTEM TABLE'   WHEN 'v' THEN 'SYSTEM VIEW'   WHEN 'i' THEN 'SYSTEM INDEX'   ELSE NULL   END  WHEN n.nspname = 'pg_toast' THEN CASE c.relkind   WHEN 'r' THEN 'SYSTEM TOAST TABLE'   WHEN 'i' THEN 'SYSTEM TOAST INDEX'   ELSE NULL   END  ELSE CASE c.relkind   WHEN 'r' THEN 'TEMPORARY TABLE'   WHEN 'p' THEN 'TEMPORARY TABLE'   WHEN 'i' THEN 'TEMPORARY INDEX'   WHEN 'S' THEN 'TEMPORARY SEQUENCE'   WHEN 'v' THEN 'TEMPORARY VIEW'   ELSE NULL   END  END  WHEN false THEN CASE c.relkind  WHEN 'r' THEN 'TABLE'  WHEN 'p' THEN 'PARTITIONED TABLE'  WHEN 'i' THEN 'INDEX'  WHEN 'P' then 'PARTITIONED INDEX'  WHEN 'S' THEN 'SEQUENCE'  WHEN 'v' THEN 'VIEW'  WHEN 'c' THEN 'TYPE'  WHEN 'f' THEN 'FOREIGN TABLE'  WHEN 'm' THEN 'MATERIALIZED VIEW'  ELSE NULL  END  ELSE NULL  END  AS TABLE_TYPE, d.description AS REMARKS,  '' as TYPE_CAT, '' as TYPE_SCHEM, '' as TYPE_NAME, '' AS SELF_REFERENCING_COL_NAME, '' AS REF_GENERATION  FROM pg_catalog.pg_namespace n, pg_catalog.pg_class c  LEFT JOIN pg_catalog.pg_description d ON (c.oid = d.objoid AND d.objsubid = 0  and d.classoid = 'pg_class'::regclass)  WHERE c.relnamespace = n.oid  AND n.nspname LIKE 'public' AND c.relname LIKE '%' AND (false  OR ( c.relkind = 'f' )  OR ( c.relkind = 'm' )  OR ( c.relkind = 'p' AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema' )  OR ( c.relkind = 'r' AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema' )  OR ( c.relkind = 'v' AND n.nspname <> 'pg_catalog' AND n.nspname <> 'information_schema' ) )  ORDER BY TABLE_TYPE,TABLE_SCHEM,TABLE_NAME ;
SELECT * FROM (SELECT n.nspname,c.relname,a.attname,a.atttypid,a.attnotnull OR (t.typtype = 'd' AND t.typnotnull) AS attnotnull,a.atttypmod,a.attlen,t.typtypmod,row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum) AS attnum, nullif(a.attidentity, '') as attidentity,pg_catalog.pg_get_expr(def.adbin, def.adrelid) AS adsrc,dsc.description,t.typbasetype,t.typtype  FROM pg_catalog.pg_namespace n  JOIN pg_catalog.pg_class c ON (c.relnamespace = n.oid)  JOIN pg_catalog.pg_attribute a ON (a.attrelid=c.oid)  JOIN pg_catalog.pg_type t ON (a.atttypid = t.oid)  LEFT JOIN pg_catalog.pg_attrdef def ON (a.attrelid=def.adrelid AND a.attnum = def.adnum)  LEFT JOIN pg_catalog.pg_description dsc ON (c.oid=dsc.objoid AND a.attnum = dsc.objsubid)  LEFT JOIN pg_catalog.pg_class dc ON (dc.oid=dsc.classoid AND dc.relname='pg_class')  LEFT JOIN pg_catalog.pg_namespace dn ON (dc.relnamespace=dn.oid AND dn.nspname='pg_catalog')  WHERE c.relkind in ('r','p','v','f','m') and a.attnum > 0 AND NOT a.attisdropped  AND n.nspname LIKE 'public' AND c.relname LIKE 'tableau_orders') c WHERE true  ORDER BY nspname,c.relname,attnum ;
SELECT        result.TABLE_CAT,        result.TABLE_SCHEM,        result.TABLE_NAME,        result.COLUMN_NAME,        result.KEY_SEQ,        result.PK_NAME FROM      (SELECT NULL AS TABLE_CAT, n.nspname AS TABLE_SCHEM,   ct.relname AS TABLE_NAME, a.attname AS COLUMN_NAME,   (information_schema._pg_expandarray(i.indkey)).n AS KEY_SEQ, ci.relname AS PK_NAME,   information_schema._pg_expandarray(i.indkey) AS KEYS, a.attnum AS A_ATTNUM FROM pg_catalog.pg_class ct   JOIN pg_catalog.pg_attribute a ON (ct.oid = a.attrelid)   JOIN pg_catalog.pg_namespace n ON (ct.relnamespace = n.oid)   JOIN pg_catalog.pg_index i ON ( a.attrelid = i.indrelid)   JOIN pg_catalog.pg_class ci ON (ci.oid = i.indexrelid) WHERE true  AND n.nspname = 'public' AND ct.relname = 'tableau_orders' AND i.indisprimary  ) result where  result.A_ATTNUM = (result.KEYS).x  ORDER BY result.table_name, result.pk_name, result.key_seq;
SELECT * FROM "public"."tableau_orders" "tableau_orders" WHERE 1=0;
SELECT c.oid, a.attnum, a.attname, c.relname, n.nspname, a.attnotnull OR (t.typtype = 'd' AND t.typnotnull), a.attidentity != '' OR pg_catalog.pg_get_expr(d.adbin, d.adrelid) LIKE '%nextval(%' FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON (c.relnamespace = n.oid) JOIN pg_catalog.pg_attribute a ON (c.oid = a.attrelid) JOIN pg_catalog.pg_type t ON (a.atttypid = t.oid) LEFT JOIN pg_catalog.pg_attrdef d ON (d.adrelid = a.attrelid AND d.adnum = a.attnum) JOIN (SELECT 16385 AS oid , 1 AS attnum UNION ALL SELECT 16385, 2 UNION ALL SELECT 16385, 3 UNION ALL SELECT 16385, 4) vals ON (c.oid = vals.oid AND a.attnum = vals.attnum) ;
SELECT "tableau_orders"."id" AS "id",
  "tableau_orders"."region" AS "region",
  "tableau_orders"."amount" AS "amount",
  "tableau_orders"."ordered_at" AS "ordered_at"
FROM "public"."tableau_orders" "tableau_orders"
LIMIT 1000;
SELECT "tableau_orders"."region" AS "region",
  SUM("tableau_orders"."amount") AS "sum:amount:ok"
FROM "public"."tableau_orders" "tableau_orders"
GROUP BY 1;
SELECT SUM("tableau_orders"."amount") AS "sum:amount:ok"
FROM "public"."tableau_orders" "tableau_orders"
HAVING (COUNT(1) > 0);
