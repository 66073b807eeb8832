import Foundation
import PostgresNIO

/// Where a PostgreSQL gallery store lives: one or more hosts (a primary and its standbys), the
/// database and the role, read from a libpq-style connection URL.
///
/// Accepted forms (a subset of libpq's):
/// - `postgresql://USER[:PASSWORD]@HOST1:PORT1,HOST2:PORT2/DB` (also `postgres://`; a port may be
///   left out: 5432);
/// - `postgresql://USER@/DB?host=/socket/dir` or `?host=/dir1,/dir2&port=5433,5434`: hosts given
///   as query parameters; a host starting with `/` is a Unix-socket directory, and the socket is
///   `DIR/.s.PGSQL.PORT`, as for libpq;
/// - query parameters `sslmode` (`disable`, `prefer`, the default, `require`: as in libpq,
///   without certificate checks; `verify-full`: checked) and `connect_timeout` (seconds, default 5).
///   Other parameters (`target_session_attrs`, say) are ignored: the store always finds the
///   primary itself (``PostgresPrimaryLocator``).
public struct PostgresLocation: Sendable, Equatable, CustomStringConvertible {
    /// One server to try.
    public enum Endpoint: Sendable, Equatable, CustomStringConvertible {
        /// A TCP host name or address and port.
        case tcp(host: String, port: Int)
        /// A Unix-domain socket: the directory holding it and the port in its name.
        case unixSocket(directory: String, port: Int)

        /// The socket file of a Unix-socket endpoint.
        public var socketPath: String? {
            guard case .unixSocket(let directory, let port) = self else { return nil }
            return (directory.hasSuffix("/") ? directory : directory + "/") + ".s.PGSQL.\(port)"
        }

        public var description: String {
            switch self {
            case .tcp(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
            case .unixSocket(let directory, let port): "\(directory):\(port)"
            }
        }
    }

    /// How to use TLS, as libpq's `sslmode`.
    public enum TLSMode: String, Sendable, Equatable {
        case disable, prefer, require
        case verifyFull = "verify-full"
    }

    /// The servers, in the order given; the primary is whichever is not in recovery.
    public var endpoints: [Endpoint]
    /// The role to connect as.
    public var username: String
    /// Its password, if the servers ask for one.
    public var password: String?
    /// The database.
    public var database: String
    /// TLS for TCP endpoints (never used on Unix sockets).
    public var tlsMode: TLSMode
    /// How long one connection attempt may take.
    public var connectTimeout: Duration

    /// A location with explicit parts.
    public init(
        endpoints: [Endpoint], username: String, password: String? = nil, database: String,
        tlsMode: TLSMode = .prefer, connectTimeout: Duration = .seconds(5)
    ) {
        self.endpoints = endpoints
        self.username = username
        self.password = password
        self.database = database
        self.tlsMode = tlsMode
        self.connectTimeout = connectTimeout
    }

    /// True when `text` names a PostgreSQL store (`postgresql://` or `postgres://`).
    public static func isURL(_ text: String) -> Bool {
        text.hasPrefix("postgresql://") || text.hasPrefix("postgres://")
    }

    /// Parses a connection URL (see the type's documentation); throws
    /// ``GalleryError/invalidInput(field:reason:)`` naming what is wrong.
    public init(url text: String) throws(GalleryError) {
        func invalid(_ reason: String) -> GalleryError { .invalidInput(field: "store URL", reason: reason) }
        guard let schemeEnd = text.range(of: "://"), Self.isURL(text) else {
            throw invalid("must start with postgresql:// or postgres://")
        }
        var rest = Substring(text[schemeEnd.upperBound...])
        var query = ""
        if let mark = rest.firstIndex(of: "?") {
            query = String(rest[rest.index(after: mark)...])
            rest = rest[..<mark]
        }
        var path = ""
        if let slash = rest.firstIndex(of: "/") {
            path = String(rest[rest.index(after: slash)...])
            rest = rest[..<slash]
        }
        var userInfo = ""
        if let at = rest.lastIndex(of: "@") {
            userInfo = String(rest[..<at])
            rest = rest[rest.index(after: at)...]
        }
        var parameters: [String: String] = [:]
        for pair in query.split(separator: "&") where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, let key = parts[0].removingPercentEncoding, let value = parts[1].removingPercentEncoding
            else { throw invalid("malformed query parameter '\(pair)'") }
            parameters[key] = value
        }

        let user: String
        if let colon = userInfo.firstIndex(of: ":") {
            user = String(userInfo[..<colon])
            password = String(userInfo[userInfo.index(after: colon)...]).removingPercentEncoding
        } else {
            user = userInfo
            password = parameters["password"]
        }
        guard let decodedUser = (parameters["user"] ?? user.removingPercentEncoding), !decodedUser.isEmpty else {
            throw invalid("names no user (postgresql://USER@HOST/DB)")
        }
        username = decodedUser
        guard let decodedDatabase = (parameters["dbname"] ?? path.removingPercentEncoding), !decodedDatabase.isEmpty else {
            throw invalid("names no database (postgresql://USER@HOST/DB)")
        }
        database = decodedDatabase

        // Hosts and ports: from the query when given there (libpq lets them override the authority).
        var hosts: [String] = []
        var ports: [String] = []
        if let listed = parameters["host"] {
            hosts = listed.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            ports = parameters["port"].map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) } ?? []
        } else {
            for item in rest.split(separator: ",", omittingEmptySubsequences: false) {
                let (host, port) = try Self.splitHostPort(item, invalid: invalid)
                hosts.append(host)
                ports.append(port ?? "")
            }
            if let port = parameters["port"], ports.allSatisfy(\.isEmpty) {
                ports = port.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            }
        }
        guard !hosts.isEmpty, !(hosts.count == 1 && hosts[0].isEmpty) else {
            throw invalid("names no host (postgresql://USER@HOST:PORT/DB or ?host=/socket/dir)")
        }
        if ports.count > 1, ports.count != hosts.count {
            throw invalid("gives \(ports.count) ports for \(hosts.count) hosts")
        }
        var endpoints: [Endpoint] = []
        for (index, host) in hosts.enumerated() {
            let portText = ports.isEmpty ? "" : ports[ports.count == 1 ? 0 : index]
            let port: Int
            if portText.isEmpty {
                port = 5432
            } else if let parsed = Int(portText), (1...65535).contains(parsed) {
                port = parsed
            } else {
                throw invalid("'\(portText)' is not a port")
            }
            guard let decoded = host.removingPercentEncoding, !decoded.isEmpty else { throw invalid("has an empty host") }
            endpoints.append(decoded.hasPrefix("/") ? .unixSocket(directory: decoded, port: port) : .tcp(host: decoded, port: port))
        }
        self.endpoints = endpoints

        switch parameters["sslmode"] ?? "prefer" {
        case "disable", "allow": tlsMode = .disable
        case "prefer": tlsMode = .prefer
        case "require", "verify-ca": tlsMode = .require
        case "verify-full": tlsMode = .verifyFull
        case let other: throw invalid("sslmode '\(other)' is not one of disable, prefer, require, verify-full")
        }
        if let timeout = parameters["connect_timeout"] {
            guard let seconds = Int(timeout), seconds > 0 else { throw invalid("connect_timeout '\(timeout)' is not a positive number of seconds") }
            connectTimeout = .seconds(seconds)
        } else {
            connectTimeout = .seconds(5)
        }
    }

    private static func splitHostPort(
        _ item: Substring, invalid: (String) -> GalleryError
    ) throws(GalleryError) -> (String, String?) {
        if item.hasPrefix("[") {
            guard let close = item.firstIndex(of: "]") else { throw invalid("unclosed '[' in host '\(item)'") }
            let host = String(item[item.index(after: item.startIndex)..<close])
            let after = item[item.index(after: close)...]
            if after.isEmpty { return (host, nil) }
            guard after.hasPrefix(":") else { throw invalid("malformed host '\(item)'") }
            return (host, String(after.dropFirst()))
        }
        if let colon = item.lastIndex(of: ":") {
            return (String(item[..<colon]), String(item[item.index(after: colon)...]))
        }
        return (String(item), nil)
    }

    /// The URL without its password, for logs and the health report.
    public var description: String {
        let hosts = endpoints.map(\.description).joined(separator: ",")
        return "postgresql://\(username)@\(hosts)/\(database)"
    }

    /// The pool configuration for one endpoint.
    func clientConfiguration(for endpoint: Endpoint) -> PostgresClient.Configuration {
        var configuration: PostgresClient.Configuration
        switch endpoint {
        case .tcp(let host, let port):
            configuration = PostgresClient.Configuration(
                host: host, port: port, username: username, password: password, database: database, tls: clientTLS)
        case .unixSocket:
            configuration = PostgresClient.Configuration(
                unixSocketPath: endpoint.socketPath ?? "", username: username, password: password, database: database)
        }
        configuration.options.connectTimeout = connectTimeout
        return configuration
    }

    /// The single-connection configuration for one endpoint (the primary probe).
    func connectionConfiguration(for endpoint: Endpoint) throws -> PostgresConnection.Configuration {
        var configuration: PostgresConnection.Configuration
        switch endpoint {
        case .tcp(let host, let port):
            configuration = PostgresConnection.Configuration(
                host: host, port: port, username: username, password: password, database: database,
                tls: try connectionTLS())
        case .unixSocket:
            configuration = PostgresConnection.Configuration(
                unixSocketPath: endpoint.socketPath ?? "", username: username, password: password, database: database)
        }
        let (seconds, attoseconds) = connectTimeout.components
        configuration.options.connectTimeout = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        return configuration
    }

    private var tlsConfiguration: TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        // libpq's prefer and require encrypt without checking the certificate.
        if tlsMode != .verifyFull { configuration.certificateVerification = .none }
        return configuration
    }

    private var clientTLS: PostgresClient.Configuration.TLS {
        switch tlsMode {
        case .disable: .disable
        case .prefer: .prefer(tlsConfiguration)
        case .require, .verifyFull: .require(tlsConfiguration)
        }
    }

    private func connectionTLS() throws -> PostgresConnection.Configuration.TLS {
        switch tlsMode {
        case .disable: .disable
        case .prefer: .prefer(try NIOSSLContext(configuration: tlsConfiguration))
        case .require, .verifyFull: .require(try NIOSSLContext(configuration: tlsConfiguration))
        }
    }
}
