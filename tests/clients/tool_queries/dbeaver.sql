-- =====================================================================================
-- DBeaver -> PostgreSQL: SQL sent on connect and while browsing the navigator tree.
-- Source: dbeaver/dbeaver snapshot of 2024-10-24 (commit 2428359b, DBeaver 24.2.x),
--   plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/...
--   plugins/org.jkiss.dbeaver.model.jdbc/src/org/jkiss/dbeaver/model/impl/jdbc/...
-- Queries marked "pgjdbc" are emitted by the bundled PostgreSQL JDBC driver
-- (pgjdbc/pgjdbc) for a JDBC call DBeaver makes.
-- Assumed: default connection settings (PostgreConstants.PROP_SHOW_NON_DEFAULT_DB false =
-- only the connection database is read, PROP_SHOW_DATABASE_STATISTICS false,
-- PROP_READ_ALL_DATA_TYPES false, no object filters, no role chosen), server type
-- "PostgreSQL" (PostgreServerPostgreSQL) and a server reporting version >= 12
-- (the version-dependent branches were resolved for >= 12).
-- Substitutions: database quarry, user quarry, schema public, table tool_items.
-- DBeaver binds OIDs as JDBC parameters. They are inlined here:
--   2200  = oid of schema public (its fixed oid in PostgreSQL; DBeaver takes it from
--           pg_namespace.oid returned by the schema-list query),
--   16384 = STAND-IN for the oid of public.tool_items (DBeaver takes it from pg_class.oid
--           returned by the table-list query). Put the real value in if you want rows back.
-- DBeaver opens two connections with default settings ("Main" and "Metadata"); the
-- per-connection statements (application_name ... SHOW search_path) run on each one.
-- =====================================================================================

-- every new connection: DBeaver calls Connection.setClientInfo("ApplicationName", "<product> <version> - <purpose>"), which pgjdbc sends as SET (purpose is "Main" or "Metadata"; version string depends on the build); source: dbeaver/dbeaver/plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDataSource.java (openConnection) + pgjdbc/pgjdbc/pgjdbc/src/main/java/org/postgresql/jdbc/PgConnection.java (setClientInfo)
SET application_name = 'DBeaver 24.2.3 - Main';

-- every new connection: current schema and session user for the execution context; source: dbeaver/dbeaver/plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreExecutionContext.java (refreshDefaults)
SELECT current_schema(),session_user;

-- every new connection (issued from refreshDefaults -> getSchemas): list of schemas of the connection database, no object filter, so no WHERE clause; source: dbeaver/dbeaver/plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDatabase.java (SchemaCache.prepareLookupStatement)
SELECT n.oid,n.*,d.description FROM pg_catalog.pg_namespace n
LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=n.oid AND d.objsubid=0 AND d.classoid='pg_namespace'::regclass
 ORDER BY nspname;

-- every new connection: search_path (DBeaver parses it by splitting on ','); source: dbeaver/dbeaver/plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreExecutionContext.java (refreshDefaults)
SHOW search_path;

-- connect: info row of the connection database (datname bound as parameter); source: dbeaver/dbeaver/plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDatabase.java (readDatabaseInfo)
SELECT db.oid,db.* FROM pg_catalog.pg_database db WHERE datname='quarry';

-- connect: preload one server setting (name bound as parameter, PostgreConstants.OPTION_STANDARD_CONFORMING_STRINGS); source: dbeaver/dbeaver/plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDataSource.java (initializeRemoteInstance -> SettingCache.prepareLookupStatement)
select * from pg_catalog.pg_settings where name='standard_conforming_strings';

-- connect (pgjdbc, server >= 9.0): JDBCSQLDialect.initDriverSettings -> DatabaseMetaData.getSQLKeywords(); source: dbeaver/dbeaver/plugins/org.jkiss.dbeaver.model.jdbc/src/org/jkiss/dbeaver/model/impl/jdbc/JDBCSQLDialect.java (loadDriverKeywords) + pgjdbc/pgjdbc/pgjdbc/src/main/java/org/postgresql/jdbc/PgDatabaseMetaData.java (getSQLKeywords)
select string_agg(word, ',') from pg_catalog.pg_get_keywords() where word <> ALL ('{a,abs,absolute,action,ada,add,admin,after,all,allocate,alter,always,and,any,are,array,as,asc,asensitive,assertion,assignment,asymmetric,at,atomic,attribute,attributes,authorization,avg,before,begin,bernoulli,between,bigint,binary,blob,boolean,both,breadth,by,c,call,called,cardinality,cascade,cascaded,case,cast,catalog,catalog_name,ceil,ceiling,chain,char,char_length,character,character_length,character_set_catalog,character_set_name,character_set_schema,characteristics,characters,check,checked,class_origin,clob,close,coalesce,cobol,code_units,collate,collation,collation_catalog,collation_name,collation_schema,collect,column,column_name,command_function,command_function_code,commit,committed,condition,condition_number,connect,connection_name,constraint,constraint_catalog,constraint_name,constraint_schema,constraints,constructors,contains,continue,convert,corr,corresponding,count,covar_pop,covar_samp,create,cross,cube,cume_dist,current,current_collation,current_date,current_default_transform_group,current_path,current_role,current_time,current_timestamp,current_transform_group_for_type,current_user,cursor,cursor_name,cycle,data,date,datetime_interval_code,datetime_interval_precision,day,deallocate,dec,decimal,declare,default,defaults,deferrable,deferred,defined,definer,degree,delete,dense_rank,depth,deref,derived,desc,describe,descriptor,deterministic,diagnostics,disconnect,dispatch,distinct,domain,double,drop,dynamic,dynamic_function,dynamic_function_code,each,element,else,end,end-exec,equals,escape,every,except,exception,exclude,excluding,exec,execute,exists,exp,external,extract,false,fetch,filter,final,first,float,floor,following,for,foreign,fortran,found,free,from,full,function,fusion,g,general,get,global,go,goto,grant,granted,group,grouping,having,hierarchy,hold,hour,identity,immediate,implementation,in,including,increment,indicator,initially,inner,inout,input,insensitive,insert,instance,instantiable,int,integer,intersect,intersection,interval,into,invoker,is,isolation,join,k,key,key_member,key_type,language,large,last,lateral,leading,left,length,level,like,ln,local,localtime,localtimestamp,locator,lower,m,map,match,matched,max,maxvalue,member,merge,message_length,message_octet_length,message_text,method,min,minute,minvalue,mod,modifies,module,month,more,multiset,mumps,name,names,national,natural,nchar,nclob,nesting,new,next,no,none,normalize,normalized,not,"null",nullable,nullif,nulls,number,numeric,object,octet_length,octets,of,old,on,only,open,option,options,or,order,ordering,ordinality,others,out,outer,output,over,overlaps,overlay,overriding,pad,parameter,parameter_mode,parameter_name,parameter_ordinal_position,parameter_specific_catalog,parameter_specific_name,parameter_specific_schema,partial,partition,pascal,path,percent_rank,percentile_cont,percentile_disc,placing,pli,position,power,preceding,precision,prepare,preserve,primary,prior,privileges,procedure,public,range,rank,read,reads,real,recursive,ref,references,referencing,regr_avgx,regr_avgy,regr_count,regr_intercept,regr_r2,regr_slope,regr_sxx,regr_sxy,regr_syy,relative,release,repeatable,restart,result,return,returned_cardinality,returned_length,returned_octet_length,returned_sqlstate,returns,revoke,right,role,rollback,rollup,routine,routine_catalog,routine_name,routine_schema,row,row_count,row_number,rows,savepoint,scale,schema,schema_name,scope_catalog,scope_name,scope_schema,scroll,search,second,section,security,select,self,sensitive,sequence,serializable,server_name,session,session_user,set,sets,similar,simple,size,smallint,some,source,space,specific,specific_name,specifictype,sql,sqlexception,sqlstate,sqlwarning,sqrt,start,state,statement,static,stddev_pop,stddev_samp,structure,style,subclass_origin,submultiset,substring,sum,symmetric,system,system_user,table,table_name,tablesample,temporary,then,ties,time,timestamp,timezone_hour,timezone_minute,to,top_level_count,trailing,transaction,transaction_active,transactions_committed,transactions_rolled_back,transform,transforms,translate,translation,treat,trigger,trigger_catalog,trigger_name,trigger_schema,trim,true,type,uescape,unbounded,uncommitted,under,union,unique,unknown,unnamed,unnest,update,upper,usage,user,user_defined_type_catalog,user_defined_type_code,user_defined_type_name,user_defined_type_schema,using,value,values,var_pop,var_samp,varchar,varying,view,when,whenever,where,width_bucket,window,with,within,without,work,write,year,zone}'::text[]);

-- connect: server version string; source: dbeaver/dbeaver/plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDataSource.java (initialize)
SELECT version();

-- connect (server >= 12 only): does pg_enum exist? error => enums disabled; source: dbeaver/dbeaver/plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDataSource.java (initialize -> PostgreUtils.isMetaObjectExists / getQueryForSystemColumnChecking)
SELECT * FROM pg_catalog.pg_enum WHERE 1<>1 LIMIT 1;

-- connect: does pg_class.reltype exist? error => reltype not used; source: dbeaver/dbeaver/plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDataSource.java (initialize -> PostgreUtils.isMetaObjectExists / getQueryForSystemColumnChecking)
SELECT reltype FROM pg_catalog.pg_class WHERE 1<>1 LIMIT 1;

-- connect: cache all data types (server >= 10 so typcategory is assumed; read-all-types off, so composite/table row types are skipped); source: dbeaver/dbeaver/plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDatabase.java (cacheDataTypes, with PostgreDataTypeCache.getBaseTypeNameClause)
SELECT t.oid,t.*,c.relkind,format_type(nullif(t.typbasetype, 0), t.typtypmod) as base_type_name, d.description
FROM pg_catalog.pg_type t
LEFT OUTER JOIN pg_catalog.pg_type et ON et.oid=t.typelem 
LEFT OUTER JOIN pg_catalog.pg_class c ON c.oid=t.typrelid
LEFT OUTER JOIN pg_catalog.pg_description d ON t.oid=d.objoid
WHERE t.typname IS NOT NULL
AND (c.relkind IS NULL OR c.relkind = 'c') AND (et.typcategory IS NULL OR et.typcategory <> 'C');

-- connect (after the data types, if the pg_enum probe succeeded): all enum labels; source: dbeaver/dbeaver/plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDatabase.java (EnumValueCache.prepareObjectsStatement)
SELECT * FROM pg_catalog.pg_enum;

-- (pgjdbc) whenever DBeaver reads the context's transaction isolation (toolbar / transaction mode): Connection.getTransactionIsolation(); source: dbeaver/dbeaver/plugins/org.jkiss.dbeaver.model.jdbc/src/org/jkiss/dbeaver/model/impl/jdbc/JDBCExecutionContext.java (getTransactionIsolation) + pgjdbc/pgjdbc/pgjdbc/src/main/java/org/postgresql/jdbc/PgConnection.java (getTransactionIsolation)
SHOW TRANSACTION ISOLATION LEVEL;

-- browse: expand public > Tables: all relations of the schema (server >= 10 adds the partition columns; relnamespace bound as parameter); source: dbeaver/dbeaver/plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreSchema.java (TableCache.prepareLookupStatement)
SELECT c.oid,c.*,d.description,pg_catalog.pg_get_expr(c.relpartbound, c.oid) as partition_expr,  pg_catalog.pg_get_partkeydef(c.oid) as partition_key 
FROM pg_catalog.pg_class c
LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=c.oid AND d.objsubid=0 AND d.classoid='pg_class'::regclass
WHERE c.relnamespace=2200 AND c.relkind not in ('i','I','c');

-- browse: lookup of one table by name (same statement plus "AND relname=?"), used when a table is opened/resolved by name, e.g. from the SQL editor; source: dbeaver/dbeaver/plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreSchema.java (TableCache.prepareLookupStatement)
SELECT c.oid,c.*,d.description,pg_catalog.pg_get_expr(c.relpartbound, c.oid) as partition_expr,  pg_catalog.pg_get_partkeydef(c.oid) as partition_key 
FROM pg_catalog.pg_class c
LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=c.oid AND d.objsubid=0 AND d.classoid='pg_class'::regclass
WHERE c.relnamespace=2200 AND c.relkind not in ('i','I','c') AND relname='tool_items';

-- browse: expand tool_items > Columns: columns of one table, with defaults, comments and owned-sequence dependency (supportsSequences() is true); source: dbeaver/dbeaver/plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreSchema.java (TableCache.prepareChildrenStatement, forTable != null)
SELECT c.relname,a.*,pg_catalog.pg_get_expr(ad.adbin, ad.adrelid, true) as def_value,dsc.description,dep.objid
FROM pg_catalog.pg_attribute a
INNER JOIN pg_catalog.pg_class c ON (a.attrelid=c.oid)
LEFT OUTER JOIN pg_catalog.pg_attrdef ad ON (a.attrelid=ad.adrelid AND a.attnum = ad.adnum)
LEFT OUTER JOIN pg_catalog.pg_description dsc ON (c.oid=dsc.objoid AND a.attnum = dsc.objsubid)
LEFT OUTER JOIN pg_depend dep on dep.refobjid = a.attrelid AND dep.deptype = 'i' and dep.refobjsubid = a.attnum and dep.classid = dep.refclassid
WHERE NOT a.attisdropped AND c.relkind not in ('i','I','c') AND c.oid=16384
ORDER BY a.attnum;

-- browse: all columns of all tables of the schema at once (same statement, schema variant), used when the whole schema structure is cached, e.g. SQL-editor autocompletion / ER diagram; source: dbeaver/dbeaver/plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreSchema.java (TableCache.prepareChildrenStatement, forTable == null)
SELECT c.relname,a.*,pg_catalog.pg_get_expr(ad.adbin, ad.adrelid, true) as def_value,dsc.description,dep.objid
FROM pg_catalog.pg_attribute a
INNER JOIN pg_catalog.pg_class c ON (a.attrelid=c.oid)
LEFT OUTER JOIN pg_catalog.pg_attrdef ad ON (a.attrelid=ad.adrelid AND a.attnum = ad.adnum)
LEFT OUTER JOIN pg_catalog.pg_description dsc ON (c.oid=dsc.objoid AND a.attnum = dsc.objsubid)
LEFT OUTER JOIN pg_depend dep on dep.refobjid = a.attrelid AND dep.deptype = 'i' and dep.refobjsubid = a.attnum and dep.classid = dep.refclassid
WHERE NOT a.attisdropped AND c.relkind not in ('i','I','c') AND c.relnamespace=2200
ORDER BY a.attnum;

-- browse: expand tool_items > Constraints / Foreign Keys: constraints of one table (PostgreServerPostgreSQL.supportsPGConstraintExpressionColumn() true); source: dbeaver/dbeaver/plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreSchema.java (ConstraintCache.prepareObjectsStatement, forParent != null)
SELECT c.oid,c.*,t.relname as tabrelname,rt.relnamespace as refnamespace,d.description, case when c.contype='c' then "substring"(pg_get_constraintdef(c.oid), 7) else null end consrc_copy
FROM pg_catalog.pg_constraint c
INNER JOIN pg_catalog.pg_class t ON t.oid=c.conrelid
LEFT OUTER JOIN pg_catalog.pg_class rt ON rt.oid=c.confrelid
LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=c.oid AND d.objsubid=0 AND d.classoid='pg_constraint'::regclass
WHERE c.conrelid=16384
ORDER BY c.oid;

-- browse: constraints of every table in the schema (same statement, schema variant; used e.g. for References and schema-wide caching); source: dbeaver/dbeaver/plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreSchema.java (ConstraintCache.prepareObjectsStatement, forParent == null)
SELECT c.oid,c.*,t.relname as tabrelname,rt.relnamespace as refnamespace,d.description, case when c.contype='c' then "substring"(pg_get_constraintdef(c.oid), 7) else null end consrc_copy
FROM pg_catalog.pg_constraint c
INNER JOIN pg_catalog.pg_class t ON t.oid=c.conrelid
LEFT OUTER JOIN pg_catalog.pg_class rt ON rt.oid=c.confrelid
LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=c.oid AND d.objsubid=0 AND d.classoid='pg_constraint'::regclass
WHERE t.relnamespace=2200
ORDER BY c.oid;

-- browse: tool_items > References: schemas holding FKs that point to this table; source: dbeaver/dbeaver/plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreTable.java (getReferences)
SELECT DISTINCT connamespace FROM pg_catalog.pg_constraint WHERE confrelid=16384;

-- browse: expand tool_items > Indexes: indexes of one table (expression-index and relation-size columns enabled; note the two spaces in "WHERE  i.indrelid"); source: dbeaver/dbeaver/plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreSchema.java (IndexCache.prepareObjectsStatement, forTable != null)
SELECT i.*,i.indkey as keys,c.relname,c.relnamespace,c.relam,c.reltablespace,tc.relname as tabrelname,dsc.description,pg_catalog.pg_get_expr(i.indpred, i.indrelid) as pred_expr,pg_catalog.pg_get_expr(i.indexprs, i.indrelid, true) as expr,pg_catalog.pg_relation_size(i.indexrelid) as index_rel_size,pg_catalog.pg_stat_get_numscans(i.indexrelid) as index_num_scans
FROM pg_catalog.pg_index i
INNER JOIN pg_catalog.pg_class c ON c.oid=i.indexrelid
INNER JOIN pg_catalog.pg_class tc ON tc.oid=i.indrelid
LEFT OUTER JOIN pg_catalog.pg_description dsc ON i.indexrelid=dsc.objoid
WHERE  i.indrelid=16384 ORDER BY c.relname;

-- browse: while reading index columns DBeaver resolves each index's access method (pg_am cache, loaded once); source: dbeaver/dbeaver/plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDatabase.java (AccessMethodCache.prepareObjectsStatement, via PostgreIndex.getAccessMethod)
SELECT am.oid,am.* FROM pg_catalog.pg_am am 
ORDER BY am.oid;

-- browse: table/schema properties show the owner -> role cache (supportsCommentsOnRole() is true for >= 8.1); also when expanding the Roles folder; source: dbeaver/dbeaver/plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDatabase.java (RoleCache.prepareObjectsStatement)
SELECT a.oid,a.*,pd.description FROM pg_catalog.pg_roles a 
left join pg_catalog.pg_shdescription pd on a.oid = pd.objoid
ORDER BY a.rolname;

-- browse: table properties "Disk space"/"Relation size" of one table (both parameters are the table oid); source: dbeaver/dbeaver/plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreTableReal.java (readTableStatistics)
select pg_catalog.pg_total_relation_size(16384) as total_rel_size,pg_catalog.pg_relation_size(16384) as rel_size;

-- browse: statistics of every relation of the schema (schema tables editor / navigator statistics); source: dbeaver/dbeaver/plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreSchema.java (collectObjectStatistics)
select c.oid,pg_catalog.pg_total_relation_size(c.oid) as total_rel_size,pg_catalog.pg_relation_size(c.oid) as rel_size
FROM pg_class c
WHERE c.relnamespace=2200;

-- browse: schema structure caching (ER diagram etc.): table inheritance of the schema; source: dbeaver/dbeaver/plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreSchema.java (cacheTableInheritance)
SELECT i.inhrelid relid, pc.relnamespace parent_ns, pc.oid parent_oid, i.inhseqno
FROM pg_catalog.pg_inherits i, pg_class rc, pg_class pc
WHERE rc.oid=i.inhrelid AND rc.relnamespace=2200 AND pc.oid=i.inhparent;

-- browse: open tool_items > Data tab: RECONSTRUCTED from string building: "SELECT " + "x.*" + " FROM " + full name + " x", then QueryTransformerLimit(false, true) appends "\nLIMIT <rows>" (default page 200, offset 0 => no OFFSET); alias x is used because the results viewer always passes a data filter; source: dbeaver/dbeaver/plugins/org.jkiss.dbeaver.model.jdbc/src/org/jkiss/dbeaver/model/impl/jdbc/struct/JDBCTable.java (readData / appendSelectSource) + plugins/org.jkiss.dbeaver.model/src/org/jkiss/dbeaver/model/impl/sql/QueryTransformerLimit.java
SELECT x.* FROM public.tool_items x
LIMIT 200;
