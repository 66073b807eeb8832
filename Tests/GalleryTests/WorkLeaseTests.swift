import Foundation
import Gallery
import Testing

/// Work leases: one holder at a time, renewals, release, and takeover once a lease expires.
@Suite struct WorkLeaseTests {
    @Test("a lease has one holder; it renews it, releases it, and loses it to another once it expires", arguments: StoreBackend.allCases)
    func oneHolderAtATime(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            // Timed from before the call: on a loaded machine the call itself may take seconds.
            let before = Date()
            let first = try await store.claimLease("sweep", holder: "node-a", duration: .seconds(30))
            #expect(first.holder == "node-a")
            #expect(first.expiresAt >= before.addingTimeInterval(29))
            let refused = try await store.claimLease("sweep", holder: "node-b", duration: .seconds(30))
            #expect(refused.holder == "node-a", "a held lease is not taken")
            #expect(refused.expiresAt == first.expiresAt)
            let renewed = try await store.claimLease("sweep", holder: "node-a", duration: .seconds(60))
            #expect(renewed.holder == "node-a" && renewed.expiresAt > first.expiresAt)
            // Another lease name is independent.
            #expect(try await store.claimLease("other", holder: "node-b", duration: .seconds(30)).holder == "node-b")

            try await store.releaseLease("sweep", holder: "node-b")
            #expect(try await store.claimLease("sweep", holder: "node-b", duration: .seconds(1)).holder == "node-a",
                    "only the holder releases")
            try await store.releaseLease("sweep", holder: "node-a")
            // Long enough that the next claim surely lands inside it, even on a loaded machine.
            let shortLease = try await store.claimLease("sweep", holder: "node-b", duration: .seconds(20))
            #expect(shortLease.holder == "node-b")

            // node-b dies without releasing: its lease runs out and node-a takes over.
            #expect(try await store.claimLease("sweep", holder: "node-a", duration: .seconds(30)).holder == "node-b")
            let untilExpiry = shortLease.expiresAt.timeIntervalSinceNow + 0.5
            if untilExpiry > 0 { try await Task.sleep(for: .milliseconds(Int(untilExpiry * 1000))) }
            #expect(try await store.claimLease("sweep", holder: "node-a", duration: .seconds(30)).holder == "node-a")
        }
    }

    @Test("of many concurrent claims on a free lease exactly one wins", arguments: StoreBackend.allCases)
    func concurrentClaims(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            let winners = try await withThrowingTaskGroup(of: String?.self) { group in
                for node in 0..<12 {
                    group.addTask {
                        let lease = try await store.claimLease("sweep", holder: "node-\(node)", duration: .seconds(30))
                        return lease.holder == "node-\(node)" ? lease.holder : nil
                    }
                }
                var winners: [String] = []
                for try await winner in group { if let winner { winners.append(winner) } }
                return winners
            }
            #expect(winners.count == 1)
        }
    }

    @Test("bad names, holders and durations are refused", arguments: StoreBackend.allCases)
    func refusals(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            await expectFailure(.invalidInput(field: "lease name", reason: "must have 1-200 characters")) { () async throws(GalleryError) in
                try await store.claimLease("", holder: "a", duration: .seconds(1))
            }
            await expectFailure(.invalidInput(field: "lease holder", reason: "must have 1-200 characters")) { () async throws(GalleryError) in
                try await store.claimLease("sweep", holder: "", duration: .seconds(1))
            }
            await expectFailure(
                .invalidInput(field: "lease duration", reason: "must lie in (0, 86400.0 seconds], got 0.0 seconds")
            ) { () async throws(GalleryError) in
                try await store.claimLease("sweep", holder: "a", duration: .zero)
            }
        }
    }
}
