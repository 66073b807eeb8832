import Foundation
import Gallery
import Logging
import PostgresTestSupport
import Testing

/// The store URL, and a PostgreSQL store on several hosts finding and following its primary.
@Suite struct StoreURLTests {
    @Test func multiHostURLsAndUnixSocketsAreParsed() throws {
        let tcp = try PostgresLocation(url: "postgresql://matcher:s%40cret@db1.example:5433,db2.example,[::1]:6000/biomatch?sslmode=disable&connect_timeout=2")
        #expect(tcp.endpoints == [.tcp(host: "db1.example", port: 5433), .tcp(host: "db2.example", port: 5432), .tcp(host: "::1", port: 6000)])
        #expect(tcp.username == "matcher" && tcp.password == "s@cret" && tcp.database == "biomatch")
        #expect(tcp.tlsMode == .disable && tcp.connectTimeout == .seconds(2))
        #expect(tcp.description == "postgresql://matcher@db1.example:5433,db2.example:5432,[::1]:6000/biomatch", "no password")

        let sockets = try PostgresLocation(url: "postgres://biomatch@/gallery?host=/run/pg1,/run/pg2&port=5432,5433")
        #expect(sockets.endpoints == [.unixSocket(directory: "/run/pg1", port: 5432), .unixSocket(directory: "/run/pg2", port: 5433)])
        #expect(sockets.endpoints[1].socketPath == "/run/pg2/.s.PGSQL.5433")
        #expect(try PostgresLocation(url: "postgresql://u@%2Ftmp%2Fdir/db").endpoints == [.unixSocket(directory: "/tmp/dir", port: 5432)])

        #expect(try GalleryStoreLocation(parsing: "/data/biomatch.sqlite") == .sqlite(URL(filePath: "/data/biomatch.sqlite")))
        #expect(try GalleryStoreLocation(parsing: "postgresql://u@h/db") == .postgresql(try PostgresLocation(url: "postgresql://u@h/db")))
        #expect(try GalleryStoreLocation.resolve(nil, environment: [GalleryStoreLocation.environmentKey: "postgresql://u@h/db"])
                == .postgresql(try PostgresLocation(url: "postgresql://u@h/db")))
    }

    @Test func malformedURLsAreRefusedWithTheReason() {
        for (url, reason) in [
            ("postgresql://h/db", "names no user"),
            ("postgresql://u@h", "names no database"),
            ("postgresql://u@/db", "names no host"),
            ("postgresql://u@h:99999/db", "'99999' is not a port"),
            ("postgresql://u@/db?host=/a,/b&port=1,2,3", "gives 3 ports for 2 hosts"),
            ("postgresql://u@h/db?sslmode=sometimes", "sslmode 'sometimes'"),
            ("mysql://u@h/db", "must start with postgresql://"),
        ] {
            #expect(throws: GalleryError.self, "\(url)") { try PostgresLocation(url: url) }
            do { _ = try PostgresLocation(url: url) } catch { #expect(error.description.contains(reason), "\(url): \(error)") }
        }
        #expect(throws: GalleryError.self) { try GalleryStoreLocation(parsing: "mysql://u@h/db") }
    }
}

@Suite(.serialized) struct PrimaryLocatorTests {
    static let settings = PostgresPrimaryLocator.Settings(
        leaseTimeout: .seconds(1), initialBackoff: .milliseconds(50), maximumBackoff: .milliseconds(400))

    /// Two servers with the same database: `standby` in recovery, `primary` not.
    static func withPair<T>(_ body: (_ standby: ControlledPostgresServer, _ primary: ControlledPostgresServer) async throws -> T) async throws -> T {
        let standby = try await ControlledPostgresServer.start()
        let primary = try await ControlledPostgresServer.start()
        do {
            try await standby.createDatabase("biomatch")
            try await primary.createDatabase("biomatch")
            try await standby.halt()
            try await standby.resume(standby: true)
            let result = try await body(standby, primary)
            try await standby.remove()
            try await primary.remove()
            return result
        } catch {
            try? await standby.remove()
            try? await primary.remove()
            throw error
        }
    }

    static func location(_ servers: ControlledPostgresServer...) -> PostgresLocation {
        PostgresLocation(endpoints: servers.map(\.endpoint), username: TestPostgresServer.superuser, database: "biomatch", tlsMode: .disable)
    }

    @Test("writes go to the host that is not in recovery, whichever place it has in the list")
    func writesFindThePrimary() async throws {
        try await Self.withPair { standby, primary in
            let store = try await PostgresGalleryStore.open(location: Self.location(standby, primary), settings: Self.settings)
            #expect(store.primary.currentPrimary == primary.endpoint)
            let gallery = try await store.createGallery(Fixtures.gallery("custody"))
            var generator = SeededGenerator(seed: 12)
            _ = try await store.enrol(Fixtures.subject("a", templates: 2, &generator), in: gallery.id)
            #expect(try await store.counts(in: gallery.id) == GalleryCounts(subjects: 1, templates: 2))
            await store.close()

            // The first host down altogether: the same.
            try await standby.halt()
            let again = try await PostgresGalleryStore.open(location: Self.location(standby, primary), settings: Self.settings)
            #expect(try await again.galleries().map(\.name) == ["custody"])
            await again.close()
        }
    }

    @Test("with the primary down every operation throws unavailable at once; when it is back the same store works again")
    func unavailableThenBack() async throws {
        try await Self.withPair { standby, primary in
            let store = try await PostgresGalleryStore.open(location: Self.location(standby, primary), settings: Self.settings)
            let gallery = try await store.createGallery(Fixtures.gallery("custody"))
            try await primary.halt()

            var generator = SeededGenerator(seed: 13)
            for attempt in 0..<3 {
                let started = ContinuousClock.now
                do {
                    _ = try await store.enrol(Fixtures.subject("s\(attempt)", templates: 1, &generator), in: gallery.id)
                    Issue.record("an enrolment succeeded with the primary down")
                } catch {
                    guard let galleryError = error as? GalleryError, case .unavailable(let seconds, let reason) = galleryError else {
                        Issue.record("expected unavailable, got \(error)")
                        continue
                    }
                    #expect(seconds >= 1)
                    #expect(reason.contains("no primary") || reason.contains("lost"), "\(reason)")
                }
                // Bounded by the lease timeout plus one search, never by the pool's own minute.
                #expect(started.duration(to: .now) < .seconds(5))
                await expectFailureKind(store) { (store) async throws(GalleryError) in try await store.galleries() }
            }
            #expect(store.primary.currentPrimary == nil)

            try await primary.resume()
            let deadline = ContinuousClock.now + .seconds(20)
            var enrolled = false
            while !enrolled && ContinuousClock.now < deadline {
                do {
                    _ = try await store.enrol(Fixtures.subject("back", templates: 1, &generator), in: gallery.id)
                    enrolled = true
                } catch {
                    guard let galleryError = error as? GalleryError, case .unavailable = galleryError else { throw error }
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            #expect(enrolled, "the store never came back")
            #expect(store.primary.currentPrimary == primary.endpoint)
            #expect(try await store.counts(in: gallery.id).subjects == 1)
            await store.close()
        }
    }

    @Test("a standby promoted while the old primary is down becomes the store's primary without a restart")
    func followsAPromotion() async throws {
        try await Self.withPair { standby, primary in
            let store = try await PostgresGalleryStore.open(location: Self.location(standby, primary), settings: Self.settings)
            #expect(try await store.claimLease("sweep", holder: "a", duration: .seconds(30)).holder == "a")
            try await primary.halt()
            await expectFailureKind(store) { (store) async throws(GalleryError) in
                try await store.claimLease("sweep", holder: "a", duration: .seconds(30))
            }
            try await standby.promote()
            // The promoted host holds none of the old primary's data (no replication in this
            // test): reaching it shows as the missing table, not as unavailable.
            let deadline = ContinuousClock.now + .seconds(10)
            var reached = false
            while !reached && ContinuousClock.now < deadline {
                do {
                    _ = try await store.claimLease("sweep", holder: "a", duration: .seconds(30))
                    reached = true
                } catch {
                    if let galleryError = error as? GalleryError, case .unavailable = galleryError {
                        try await Task.sleep(for: .milliseconds(100))
                        continue
                    }
                    reached = true
                    #expect(String(describing: error).contains("work_leases"), "\(error)")
                }
            }
            #expect(reached)
            #expect(store.primary.currentPrimary == standby.endpoint)
            await store.close()
        }
    }

    /// Expects `body` to throw ``GalleryError/unavailable(retryAfterSeconds:reason:)``.
    func expectFailureKind<T>(
        _ store: PostgresGalleryStore, sourceLocation: SourceLocation = #_sourceLocation,
        _ body: (PostgresGalleryStore) async throws(GalleryError) -> T
    ) async {
        do {
            _ = try await body(store)
            Issue.record("expected unavailable, but the call succeeded", sourceLocation: sourceLocation)
        } catch {
            guard case .unavailable = error else {
                Issue.record("expected unavailable, got \(error)", sourceLocation: sourceLocation)
                return
            }
        }
    }
}
