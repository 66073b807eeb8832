import Foundation
import Gallery
import Governance
import Testing

@Suite struct ExportTests {
    @Test func anExportRoundTripsAndVerifies() async throws {
        try await withGovernedStore { governed in
            let chain = try await SampleChain.build(in: governed.store)
            let log = AuditLog(store: governed.store)
            var lines: [String] = []
            let count = try await log.export { lines += $0 }
            #expect(count == SampleChain.length)
            #expect(lines.count == SampleChain.length)
            #expect(lines.allSatisfy { !$0.contains("\n") })

            // Written to a file and read back, the lines give the same entries and verdict.
            let file = governed.directory.appending(path: "audit.jsonl")
            try (lines.joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
            let readBack = try String(contentsOf: file, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
            #expect(try AuditExport.entries(fromLines: readBack) == chain.entries)
            let verdict = AuditVerifier.verify(exportLines: readBack)
            #expect(verdict == .intact(entryCount: SampleChain.length, head: chain.entries.last?.head))
            #expect(verdict == (try await AuditVerifier.verify(log)))
        }
    }

    @Test func anIncrementalExportContinuesTheChain() async throws {
        try await withGovernedStore { governed in
            let chain = try await SampleChain.build(in: governed.store)
            let log = AuditLog(store: governed.store)
            var tail: [String] = []
            try await log.export(after: 4) { tail += $0 }
            #expect(try AuditExport.entries(fromLines: tail) == Array(chain.entries.dropFirst(4)))
            #expect(AuditVerifier.verify(exportLines: tail, startingAfter: chain.entries[3].head)
                == .intact(entryCount: SampleChain.length - 4, head: chain.entries.last?.head))
            // Joined to the wrong predecessor, the first line does not link.
            #expect(AuditVerifier.verify(exportLines: tail, startingAfter: chain.entries[2].head)
                == .broken(.removed(sequence: 4), intactEntries: 0))
            let forged = AuditHead(sequence: 4, hash: String(repeating: "a", count: 64))
            #expect(AuditVerifier.verify(exportLines: tail, startingAfter: forged)
                == .broken(.unlinked(sequence: 5), intactEntries: 0))
        }
    }

    @Test func malformedLinesAreNamed() async {
        await expectFailure(.malformedExport(line: 2, reason: "'sequence' is missing")) {
            try AuditExport.entries(fromLines: ["", #"{"action":"search"}"#])
        }
        let verdict = AuditVerifier.verify(exportLines: ["not json"])
        guard case .broken(.unreadable(let sequence, _), 0) = verdict else {
            Issue.record("expected an unreadable first line, got \(verdict)")
            return
        }
        #expect(sequence == 1)
        #expect(AuditHead("3:" + String(repeating: "b", count: 64)) == AuditHead(sequence: 3, hash: String(repeating: "b", count: 64)))
        #expect(AuditHead("3:abc") == nil)
        #expect(AuditHead("0:" + String(repeating: "b", count: 64)) == nil)
    }
}
