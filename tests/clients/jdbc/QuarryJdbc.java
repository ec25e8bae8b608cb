// pgJDBC (Debian's libpostgresql-jdbc-java) against a live Quarry: the
// DatabaseMetaData calls BI tools make (getTables, getColumns,
// getPrimaryKeys, getIndexInfo, getImportedKeys, getTypeInfo, getFunctions,
// getProcedures, getSchemas), a prepared statement run past the
// server-prepare threshold with every common type and NULLs, a batch
// insert, a cursor read with setFetchSize, arrays and a struct, result
// columns mapped back to their tables. Run by
// scripts/client-tests.sh as a single-file program:
//   java -cp /usr/share/java/postgresql.jar tests/clients/jdbc/QuarryJdbc.java URL

import java.math.BigDecimal;
import java.sql.Array;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.Date;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.sql.Types;
import java.util.ArrayList;
import java.util.List;
import org.postgresql.PGResultSetMetaData;

public class QuarryJdbc {
    static void check(boolean ok, String what) {
        if (!ok) {
            throw new AssertionError(what);
        }
    }

    static List<String> column(ResultSet rs, String name) throws SQLException {
        List<String> out = new ArrayList<>();
        while (rs.next()) {
            out.add(rs.getString(name));
        }
        rs.close();
        return out;
    }

    public static void main(String[] args) throws Exception {
        // prepareThreshold=2: the third execution uses a named server-side
        // statement, as a long-running application's would.
        try (Connection c = DriverManager.getConnection(args[0] + "&prepareThreshold=2")) {
            try (Statement s = c.createStatement()) {
                s.execute("DROP TABLE IF EXISTS jdbc_items");
                s.execute("CREATE TABLE jdbc_items (id bigint PRIMARY KEY, name text, score double precision, "
                        + "ok boolean, day date, at timestamp, amount numeric(10,2), n int)");
            }

            DatabaseMetaData md = c.getMetaData();
            check(md.getDatabaseProductName().equals("PostgreSQL"), md.getDatabaseProductName());
            check(column(md.getTables(null, "public", "jdbc_%", new String[] {"TABLE"}), "TABLE_NAME")
                    .equals(List.of("jdbc_items")), "getTables");
            List<String> columns = column(md.getColumns(null, "public", "jdbc_items", "%"), "COLUMN_NAME");
            check(columns.equals(List.of("id", "name", "score", "ok", "day", "at", "amount", "n")),
                    "getColumns " + columns);
            try (ResultSet rs = md.getColumns(null, "public", "jdbc_items", "amount")) {
                check(rs.next(), "getColumns amount");
                check(rs.getInt("DATA_TYPE") == Types.NUMERIC, "amount is NUMERIC: " + rs.getInt("DATA_TYPE"));
                check(rs.getInt("ORDINAL_POSITION") == 7, "amount is 7th");
            }
            check(column(md.getPrimaryKeys(null, "public", "jdbc_items"), "COLUMN_NAME").equals(List.of("id")),
                    "getPrimaryKeys");
            try (ResultSet rs = md.getIndexInfo(null, "public", "jdbc_items", false, true)) {
                check(rs.next(), "getIndexInfo: the key's index");
                check(rs.getString("INDEX_NAME").equals("jdbc_items_pkey"), "index " + rs.getString("INDEX_NAME"));
                check(!rs.getBoolean("NON_UNIQUE"), "the key's index is unique");
                check(rs.getString("COLUMN_NAME").equals("id") && rs.getInt("ORDINAL_POSITION") == 1,
                        "index column " + rs.getString("COLUMN_NAME"));
                check(!rs.next(), "one index column");
            }
            List<String> functions = column(md.getFunctions(null, null, "ml_predict%"), "FUNCTION_NAME");
            check(functions.contains("ml_predict") && functions.contains("ml_predict_proba"),
                    "getFunctions " + functions);
            List<String> types = column(md.getTypeInfo(), "TYPE_NAME");
            check(types.contains("int4") && types.contains("text") && types.contains("float8"),
                    "getTypeInfo " + types.size());
            check(column(md.getImportedKeys(null, "public", "jdbc_items"), "FKCOLUMN_NAME").isEmpty(),
                    "getImportedKeys");
            // pgJDBC lists procedures (prokind 'p') only, as for PostgreSQL 11
            // on: Quarry's functions are functions.
            List<String> procedures = column(md.getProcedures(null, null, "ml_%"), "PROCEDURE_NAME");
            check(procedures.isEmpty(), "getProcedures " + procedures);
            check(column(md.getSchemas(), "TABLE_SCHEM").contains("public"), "getSchemas");

            // Every common type, then NULLs, past the prepare threshold.
            try (PreparedStatement p = c.prepareStatement(
                    "INSERT INTO jdbc_items VALUES (?, ?, ?, ?, ?, ?, ?, ?)")) {
                for (int i = 1; i <= 4; i++) {
                    p.setLong(1, i);
                    p.setString(2, "item " + i);
                    p.setDouble(3, i + 0.5);
                    p.setBoolean(4, i % 2 == 0);
                    p.setDate(5, Date.valueOf("2024-01-0" + i));
                    p.setTimestamp(6, Timestamp.valueOf("2024-01-02 03:04:0" + i));
                    p.setBigDecimal(7, new BigDecimal(i + ".25"));
                    p.setInt(8, i * 10);
                    check(p.executeUpdate() == 1, "insert " + i);
                }
                p.setLong(1, 5);
                p.setNull(2, Types.VARCHAR);
                p.setNull(3, Types.DOUBLE);
                p.setNull(4, Types.BOOLEAN);
                p.setNull(5, Types.DATE);
                p.setNull(6, Types.TIMESTAMP);
                p.setNull(7, Types.NUMERIC);
                p.setNull(8, Types.INTEGER);
                check(p.executeUpdate() == 1, "insert NULLs");
            }
            try (PreparedStatement p = c.prepareStatement(
                    "SELECT name, score, ok, day, at, amount, n FROM jdbc_items WHERE id = ?")) {
                for (int round = 0; round < 3; round++) {
                    p.setLong(1, 2);
                    try (ResultSet rs = p.executeQuery()) {
                        check(rs.next(), "row 2");
                        check(rs.getString(1).equals("item 2"), "name");
                        check(rs.getDouble(2) == 2.5, "score");
                        check(rs.getBoolean(3), "ok");
                        check(rs.getDate(4).equals(Date.valueOf("2024-01-02")), "day " + rs.getDate(4));
                        check(rs.getTimestamp(5).equals(Timestamp.valueOf("2024-01-02 03:04:02")), "at");
                        check(rs.getBigDecimal(6).compareTo(new BigDecimal("2.25")) == 0, "amount");
                        check(rs.getInt(7) == 20, "n");
                        check(!rs.next(), "one row");
                    }
                    p.setLong(1, 5);
                    try (ResultSet rs = p.executeQuery()) {
                        check(rs.next(), "row 5");
                        rs.getString(1);
                        check(rs.wasNull(), "NULL name");
                        rs.getInt(7);
                        check(rs.wasNull(), "NULL n");
                    }
                }
            }

            // Result columns mapped back to their tables (DBeaver's editable
            // grid): from the table OID and column number in the row
            // description, looked up in pg_class and pg_attribute.
            try (Statement s = c.createStatement();
                    ResultSet rs = s.executeQuery("SELECT i.n AS renamed, i.name, i.n + 1 FROM jdbc_items i WHERE id = 2")) {
                ResultSetMetaData meta = rs.getMetaData();
                check(meta.getTableName(1).equals("jdbc_items"), "getTableName: " + meta.getTableName(1));
                PGResultSetMetaData pg = meta.unwrap(PGResultSetMetaData.class);
                check(pg.getBaseSchemaName(2).equals("public"), "getBaseSchemaName: " + pg.getBaseSchemaName(2));
                check(pg.getBaseColumnName(1).equals("n"), "getBaseColumnName: " + pg.getBaseColumnName(1));
                check(pg.getBaseColumnName(2).equals("name"), "getBaseColumnName: " + pg.getBaseColumnName(2));
                check(meta.getTableName(3).isEmpty(), "an expression has no table: " + meta.getTableName(3));
            }

            // A batch.
            try (PreparedStatement p = c.prepareStatement("INSERT INTO jdbc_items (id, name) VALUES (?, ?)")) {
                for (int i = 10; i < 20; i++) {
                    p.setLong(1, i);
                    p.setString(2, "batch " + i);
                    p.addBatch();
                }
                int[] counts = p.executeBatch();
                check(counts.length == 10, "batch counts");
                for (int n : counts) {
                    check(n == 1, "batch count " + n);
                }
            }
            try (Statement s = c.createStatement();
                    ResultSet rs = s.executeQuery("SELECT count(*) FROM jdbc_items")) {
                check(rs.next() && rs.getLong(1) == 15, "count after batch");
            }

            // setFetchSize: a portal read in batches, inside a transaction.
            c.setAutoCommit(false);
            try (Statement s = c.createStatement()) {
                s.setFetchSize(3);
                long sum = 0;
                int rows = 0;
                try (ResultSet rs = s.executeQuery("SELECT value FROM generate_series(1, 10) ORDER BY value")) {
                    while (rs.next()) {
                        sum += rs.getLong(1);
                        rows++;
                    }
                }
                check(rows == 10 && sum == 55, "fetch size " + rows + " " + sum);
            }
            c.commit();
            c.setAutoCommit(true);

            // Arrays and a struct.
            try (Statement s = c.createStatement();
                    ResultSet rs = s.executeQuery(
                            "SELECT CAST(ARRAY[1, 2, NULL] AS int[]), ARRAY[1.5::float8, 'Infinity'], "
                                    + "ARRAY['a', 'b c'], struct(1 AS a, 'x' AS b)")) {
                check(rs.next(), "array row");
                Array ints = rs.getArray(1);
                Integer[] i = (Integer[]) ints.getArray();
                check(i.length == 3 && i[0] == 1 && i[1] == 2 && i[2] == null, "int[]");
                Double[] d = (Double[]) rs.getArray(2).getArray();
                check(d[0] == 1.5 && d[1].isInfinite(), "float8[]");
                String[] t = (String[]) rs.getArray(3).getArray();
                check(t[1].equals("b c"), "text[]");
                check("(1,x)".equals(rs.getString(4)), "struct: " + rs.getString(4));
            }

            try (Statement s = c.createStatement()) {
                s.executeQuery("SELECT * FROM jdbc_missing");
                throw new AssertionError("a missing table was read");
            } catch (SQLException e) {
                check("42P01".equals(e.getSQLState()), "SQLSTATE " + e.getSQLState());
            }
        }
        System.out.println("pgJDBC: ok");
    }
}
