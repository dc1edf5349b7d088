package xuncha;

import java.nio.file.Path;
import java.util.Map;

import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;

/**
 * Starts a Neo4j 5 DBMS with Bolt on 127.0.0.1, authentication on, and the neo4j user's password
 * from NEO4J_PASSWORD. Data lives in NEO4J_DEV_HOME (default .neo4j-dev). Stops on SIGTERM.
 */
public final class Neo4jDev {
    private static String env(String name, String fallback) {
        String value = System.getenv(name);
        return value == null || value.isEmpty() ? fallback : value;
    }

    public static void main(String[] args) throws Exception {
        Path home = Path.of(env("NEO4J_DEV_HOME", ".neo4j-dev")).toAbsolutePath();
        int port = Integer.parseInt(env("NEO4J_DEV_PORT", "7687"));
        String password = env("NEO4J_PASSWORD", "xuncha-dev-password");
        long pageCache = Long.parseLong(env("NEO4J_DEV_PAGECACHE_MB", "512")) * 1024 * 1024;
        // The memory one transaction may use (db.memory.transaction.max in neo4j.conf);
        // 0, the default, leaves only the total limit (70 % of the heap).
        long transactionMax = Long.parseLong(env("NEO4J_DEV_TX_MAX_MB", "0")) * 1024 * 1024;

        DatabaseManagementService dbms = new DatabaseManagementServiceBuilder(home)
                .setConfig(GraphDatabaseSettings.memory_transaction_max_size, transactionMax)
                .setConfig(BoltConnector.enabled, true)
                .setConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", port))
                .setConfig(HttpConnector.enabled, false)
                .setConfig(GraphDatabaseSettings.auth_enabled, true)
                .setConfig(GraphDatabaseSettings.pagecache_memory, pageCache)
                .build();
        Runtime.getRuntime().addShutdownHook(new Thread(dbms::shutdown, "neo4j-dev-shutdown"));
        try {
            dbms.database("system").executeTransactionally(
                    "ALTER USER neo4j SET PASSWORD $password CHANGE NOT REQUIRED", Map.of("password", password));
        } catch (RuntimeException refused) {
            // A restart over existing data sets the same password again, which Neo4j refuses; say so
            // anyway, since a too-short password (under 8 characters) is refused the same way.
            System.out.println("neo4j-dev: password not changed: " + refused.getMessage());
        }
        System.out.println("neo4j-dev ready on bolt://127.0.0.1:" + port + " data " + home);
        System.out.flush();
        Thread.currentThread().join();
    }
}
