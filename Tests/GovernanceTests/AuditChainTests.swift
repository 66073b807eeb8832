import Foundation
import GRDB
import Gallery
import Governance
import Testing

/// A realistic chain: a gallery, three enrolments, searches with real cosine scores, a threshold
/// change and an erasure, each entry written the way the server writes it.
struct SampleChain {
    let gallery: GalleryRecord
    let subjects: [EnrolledSubject]
    let searchCandidates: [[AuditCandidate]]
    let entries: [AuditEntry]

    static let length = 9

    static func build(in store: any GalleryStore) async throws -> SampleChain {
        let log = AuditLog(store: store)
        let gallery = try await store.createGallery(
            Fixtures.gallery("custody"), companion: log.companion(for: .galleryCreated(by: Fixtures.admin)))
        var subjects: [EnrolledSubject] = []
        for (index, reference) in ["CUST-001", "CUST-002", "CUST-003"].enumerated() {
            subjects.append(
                try await store.enrol(
                    try Fixtures.subject(reference, axis: index), in: gallery.id,
                    companion: log.companion(for: .subjectEnrolled(by: Fixtures.enroller, galleryName: gallery.name))))
        }
        var searchCandidates: [[AuditCandidate]] = []
        for probeAxis in 0..<3 {
            let probe = Fixtures.template(axis: probeAxis, source: try Fixtures.photoDigest(probeAxis))
            let candidates = subjects.map { subject in
                let score = zip(probe.vector, subject.templates[0].vector).reduce(Float(0)) { $0 + $1.0 * $1.1 }
                return AuditCandidate(subjectID: subject.subject.id, score: score)
            }.sorted { $0.score > $1.score }
            searchCandidates.append(candidates)
            try await log.record(
                .search(
                    by: Fixtures.searcher, gallery: gallery, justification: Fixtures.justification,
                    probeSHA256: probe.sourceImageSHA256, parameters: ["maxCandidates": 3], candidates: candidates))
        }
        _ = try await store.setOperatingThreshold(
            0.45, of: gallery.id,
            companion: log.companion(for: .thresholdChanged(by: Fixtures.admin, reason: "NPL evaluation at FMR 1e-4")))
        _ = try await store.deleteSubject(
            subjects[2].subject.id,
            companion: log.companion(
                for: .subjectErased(by: Fixtures.enroller, galleryName: gallery.name, reason: "acquitted")))
        let entries = try await log.entries()
        return SampleChain(gallery: gallery, subjects: subjects, searchCandidates: searchCandidates, entries: entries)
    }
}

@Suite struct AuditChainTests {
    @Test func entriesChainAndDescribeTheirChanges() async throws {
        try await withGovernedStore { governed in
            let chain = try await SampleChain.build(in: governed.store)
            let entries = chain.entries
            #expect(entries.count == SampleChain.length)
            #expect(entries.map(\.sequence) == Array(1...Int64(SampleChain.length)))
            #expect(entries.map(\.action) == [
                .galleryCreated, .subjectEnrolled, .subjectEnrolled, .subjectEnrolled, .search, .search, .search,
                .thresholdChanged, .subjectErased,
            ])
            #expect(entries.first?.previousHash == AuditEntry.genesisHash)
            for (previous, entry) in zip(entries, entries.dropFirst()) {
                #expect(entry.previousHash == previous.entryHash)
            }
            #expect(entries.allSatisfy { $0.computedHash() == $0.entryHash })
            #expect(entries.allSatisfy { $0.galleryID == chain.gallery.id && $0.galleryName == "custody" })

            let enrolment = entries[1]
            let subject = chain.subjects[0]
            #expect(enrolment.actor == .key(Fixtures.enroller.keyID, .enroller))
            #expect(enrolment.result == JSONValue.object([
                "subjectID": .integer(subject.subject.id.rawValue),
                "templateIDs": [.integer(subject.templates[0].id.rawValue)],
                "sourceImageSHA256s": [.string(subject.templates[0].sourceImageSHA256)],
            ]).canonicalText)

            let search = entries[4]
            #expect(search.purpose == "missing-person")
            #expect(search.caseReference == "CASE-2026/0042")
            #expect(search.probeSHA256 == (try Fixtures.photoDigest(0)))
            #expect(search.parameters == #"{"maxCandidates":3}"#)
            let candidates = chain.searchCandidates[0]
            #expect(candidates.first?.subjectID == subject.subject.id)
            #expect(search.result == JSONValue.object([
                "candidates": .array(candidates.map { ["score": .number($0.score), "subjectID": .integer($0.subjectID.rawValue)] })
            ]).canonicalText)
            #expect(search.result.components(separatedBy: "\"score\":").count == 4)

            #expect(entries[7].parameters == #"{"operatingThreshold":0.45,"previousThreshold":0.363,"reason":"NPL evaluation at FMR 1e-4"}"#)
            #expect(entries[8].parameters == #"{"reason":"acquitted"}"#)

            // No template vector reaches the log: only identifiers and hashes.
            let everything = entries.map { $0.parameters + $0.result }.joined()
            #expect(!everything.contains("vector"))

            let verification = try await AuditVerifier.verify(AuditLog(store: governed.store))
            #expect(verification == .intact(entryCount: SampleChain.length, head: entries.last?.head))
        }
    }

    @Test func anEntryCommitsOnlyWithItsEnrolment() async throws {
        try await withGovernedStore { governed in
            let store = governed.store
            let log = AuditLog(store: store)
            let gallery = try await store.createGallery(
                Fixtures.gallery("custody"), companion: log.companion(for: .galleryCreated(by: Fixtures.admin)))
            let enrolling = try log.companion(for: .subjectEnrolled(by: Fixtures.enroller, galleryName: "custody"))
            _ = try await store.enrol(try Fixtures.subject("CUST-001", axis: 0), in: gallery.id, companion: enrolling)
            #expect(try await log.entries().map(\.action) == [.galleryCreated, .subjectEnrolled])

            // A failing enrolment (the reference is taken) leaves no audit entry.
            await #expect(throws: GalleryError.self) {
                try await store.enrol(try Fixtures.subject("CUST-001", axis: 1), in: gallery.id, companion: enrolling)
            }
            #expect(try await log.entries().count == 2)

            // A failing audit entry (an event that does not describe an enrolment) leaves no subject.
            let mismatched = try log.companion(for: .galleryCreated(by: Fixtures.admin))
            let second = try Fixtures.subject("CUST-002", axis: 1)
            var thrown: (any Error)?
            do {
                _ = try await store.enrol(second, in: gallery.id, companion: mismatched)
            } catch {
                thrown = error
            }
            guard case .companionRecordFailed(let table, let underlying)? = thrown as? GalleryError else {
                Issue.record("expected the audit entry to fail, got \(String(describing: thrown))")
                return
            }
            #expect(table == "audit_log")
            #expect((underlying as? GovernanceError)?.description
                == GovernanceError.invalidAuditEvent(reason: "galleryCreated cannot record an enrolment").description)
            #expect(try await store.counts(in: gallery.id) == GalleryCounts(subjects: 1, templates: 1))
            #expect(try await log.entries().count == 2)
            #expect(try await AuditVerifier.verify(log) == .intact(entryCount: 2, head: try await log.entries().last?.head))
        }
    }

    @Test func searchesAndThresholdChangesMustBeJustified() async throws {
        try await withGovernedStore { governed in
            let log = AuditLog(store: governed.store)
            let gallery = try await governed.store.createGallery(Fixtures.gallery("custody"))
            var unjustified = AuditEvent.search(
                by: Fixtures.searcher, gallery: gallery, justification: Fixtures.justification,
                probeSHA256: try Fixtures.photoDigest(0), candidates: [])
            unjustified.justification = nil
            await expectFailure(.invalidAuditEvent(reason: "search needs a purpose and case reference")) {
                try await log.record(unjustified)
            }
            var unhashed = unjustified
            unhashed.justification = Fixtures.justification
            unhashed.probeSHA256 = "not a digest"
            await expectFailure(.invalidAuditEvent(reason: "probe_sha256 must be 64 lower-case hex digits")) {
                try await log.record(unhashed)
            }
            await expectFailure(.invalidAuditEvent(reason: "a threshold change needs a reason")) {
                try log.companion(for: .thresholdChanged(by: Fixtures.admin, reason: " "))
            }
            #expect(try await log.entries().isEmpty)

            let entry = try await log.record(
                .verification(
                    by: Fixtures.searcher, gallery: gallery, justification: Fixtures.justification,
                    probeSHA256: try Fixtures.photoDigest(1), subjectID: SubjectRecord.ID(4), score: 0.71,
                    threshold: 0.363))
            #expect(entry.sequence == 1)
            #expect(entry.result == #"{"match":true,"score":0.71}"#)
            #expect(try await log.entries() == [entry])
        }
    }

    @Test func concurrentAppendsFromTwoProcessesMakeOneChain() async throws {
        try await withGovernedStore { governed in
            // The server and a CLI each hold their own store on the file.
            let logs = [AuditLog(store: governed.store), AuditLog(store: try governed.reopened())]
            let digests = try (0..<4).map(Fixtures.photoDigest)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<40 {
                    group.addTask {
                        try await logs[index % 2].record(
                            .detection(by: Fixtures.searcher, probeSHA256: digests[index % 4], faceCount: index))
                    }
                }
                try await group.waitForAll()
            }
            let entries = try await logs[0].entries()
            #expect(entries.map(\.sequence) == Array(1...40))
            #expect(Set(entries.map(\.result)).count == 40)
            #expect(try await AuditVerifier.verify(logs[1]) == .intact(entryCount: 40, head: entries.last?.head))
        }
    }

    /// The hash definition documented on ``AuditEntry``, checked against values a separate
    /// Python implementation of that definition computed (hashlib; see the test's comment).
    @Test func hashesFollowTheDocumentedEncoding() throws {
        // python3: F = lambda v: b"\0" if v is None else b"\1" + len(s := str(v).encode()).to_bytes(8, "big") + s
        //          sha256(b"".join(F(f) for f in ["biomatch-audit-v1", 1, 1764201600000, 7, "searcher", None,
        //                 "search", 3, "custody", "missing-person", "CASE-2026/0042", sha256(b"probe").hexdigest(),
        //                 '{"k":10}', '{"candidates":[{"score":0.73,"subjectID":5}]}', "0" * 64])).hexdigest()
        let first = """
            {"action":"search","case_reference":"CASE-2026/0042","entry_hash":"59c9c6cab12701ef3e368462c67e3a3b01bc44ad7b3686a2bcc05bfec2b8680f","gallery_id":3,"gallery_name":"custody","key_id":7,"parameters":"{\\"k\\":10}","previous_hash":"0000000000000000000000000000000000000000000000000000000000000000","probe_sha256":"ba9c736f19e7f60b7f6764adb0b7908c0a2b394e09b6c09863528c7f2bc86095","purpose":"missing-person","recorded_at_ms":1764201600000,"result":"{\\"candidates\\":[{\\"score\\":0.73,\\"subjectID\\":5}]}","role":"searcher","sequence":1,"system_actor":null}
            """
        // The same with fields: 2, 1764201600001, None, None, "cli", "keyCreated", None x5,
        // '{"galleries":"all","keyID":1,"name":"Ünïcode admin","role":"admin"}', '{}', <first hash>.
        let second = """
            {"action":"keyCreated","case_reference":null,"entry_hash":"87649d8dc90c04c70c9883aa3057804f5c46ade20e18385304c44f0b4f483a7d","gallery_id":null,"gallery_name":null,"key_id":null,"parameters":"{\\"galleries\\":\\"all\\",\\"keyID\\":1,\\"name\\":\\"Ünïcode admin\\",\\"role\\":\\"admin\\"}","previous_hash":"59c9c6cab12701ef3e368462c67e3a3b01bc44ad7b3686a2bcc05bfec2b8680f","probe_sha256":null,"purpose":null,"recorded_at_ms":1764201600001,"result":"{}","role":null,"sequence":2,"system_actor":"cli"}
            """
        let entries = try AuditExport.entries(fromLines: [first, second])
        #expect(entries.map { $0.computedHash() } == entries.map(\.entryHash))
        #expect(entries[1].actor == .system("cli"))
        #expect(entries[0].actor == .key(APIKey.ID(7), .searcher))
        // Export lines are canonical, so these hand-written lines come back byte for byte.
        #expect(entries.map(AuditExport.line(for:)) == [first, second])
        #expect(AuditVerifier.verify(exportLines: [first, second])
            == .intact(entryCount: 2, head: AuditHead(sequence: 2, hash: entries[1].entryHash)))
    }

    @Test func rowsCannotBeChangedWhileTheTriggersStand() async throws {
        try await withGovernedStore { governed in
            _ = try await SampleChain.build(in: governed.store)
            let registry = KeyRegistry(store: governed.store)
            let key = try await registry.create(name: "k", role: .admin, scope: .allGalleries, by: .system("cli"))
            _ = try await registry.revoke(key.key.id, by: .system("cli"))
            let database = try DatabaseQueue(path: governed.location.path)
            for statement in [
                "UPDATE audit_log SET result = '{}' WHERE position = 5",
                "DELETE FROM audit_log WHERE position = 9",
                "UPDATE api_keys SET role = 'admin'",
                "DELETE FROM api_key_revocations",
            ] {
                #expect(throws: DatabaseError.self, "\(statement)") {
                    try database.write { db in try db.execute(sql: statement) }
                }
            }
            #expect(try await AuditVerifier.verify(AuditLog(store: governed.store)).isIntact)
        }
    }
}
