import Foundation
import Gallery
import Testing

/// The behaviour every GalleryStore must have, run against SQLite and PostgreSQL alike.
@Suite struct GalleryStoreTests {
    @Test(arguments: StoreBackend.allCases)
    func galleryLifecycle(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            #expect(try await store.galleries().isEmpty)
            let custody = try await store.createGallery(
                NewGallery(
                    name: "custody-north", description: "North custody suite", purpose: .custody,
                    retention: .daysAfterEnrolment(2190), modelIdentifier: Fixtures.model))
            let watchlist = try await store.createGallery(
                Fixtures.gallery("watchlist-a", purpose: .watchlist))

            #expect(custody.name == "custody-north")
            #expect(custody.description == "North custody suite")
            #expect(custody.purpose == .custody)
            #expect(custody.retention == .daysAfterEnrolment(2190))
            #expect(custody.operatingThreshold == GalleryRecord.defaultOperatingThreshold)
            #expect(custody.modelIdentifier == Fixtures.model)
            #expect(abs(custody.createdAt.timeIntervalSinceNow) < 60)
            #expect(watchlist.id != custody.id)

            #expect(try await store.galleries() == [custody, watchlist])
            #expect(try await store.gallery(custody.id) == custody)
            #expect(try await store.gallery(named: "watchlist-a") == watchlist)

            let raised = try await store.setOperatingThreshold(0.42, of: watchlist.id)
            #expect(raised.operatingThreshold == 0.42)
            #expect(try await store.gallery(watchlist.id).operatingThreshold == 0.42)

            let erasure = try await store.deleteGallery(custody.id)
            #expect(erasure.gallery == custody)
            #expect(erasure.counts == GalleryCounts(subjects: 0, templates: 0))
            #expect(try await store.galleries() == [raised])
            await expectFailure(.unknownGallery(custody.id)) { () async throws(GalleryError) in
                try await store.gallery(custody.id)
            }
            await expectFailure(.unknownGalleryName("custody-north")) { () async throws(GalleryError) in
                try await store.gallery(named: "custody-north")
            }
        }
    }

    @Test(arguments: StoreBackend.allCases)
    func enrolmentStoresEverythingExactly(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            var generator = SeededGenerator(seed: 1)
            let gallery = try await store.createGallery(Fixtures.gallery("custody"))
            let retainUntil = Date(timeIntervalSince1970: 1_900_000_000.123)
            let new = Fixtures.subject(
                "PNC-0001", templates: 3, &generator,
                attributes: ["demographic.sex": "female", "demographic.ageBand": "30-39", "station": "Leeds"],
                retainUntil: retainUntil)

            let enrolled = try await store.enrol(new, in: gallery.id)
            #expect(enrolled.subject.galleryID == gallery.id)
            #expect(enrolled.subject.externalReference == "PNC-0001")
            #expect(enrolled.subject.attributes == new.attributes)
            #expect(enrolled.subject.demographics == ["sex": "female", "ageBand": "30-39"])
            #expect(enrolled.subject.retainUntil == Date(timeIntervalSince1970: 1_900_000_000.123))
            #expect(enrolled.subject.createdAt == enrolled.subject.updatedAt)
            #expect(enrolled.templates.count == 3)
            #expect(enrolled.templates.map(\.id) == enrolled.templates.map(\.id).sorted())
            for (stored, original) in zip(enrolled.templates, new.templates) {
                #expect(stored.subjectID == enrolled.subject.id)
                // Bit-exact: the blob is the vector's own little-endian bytes.
                #expect(stored.vector.map(\.bitPattern) == original.vector.map(\.bitPattern))
                #expect(stored.quality == original.quality)
                #expect(stored.sourceImageSHA256 == original.sourceImageSHA256)
                #expect(abs(stored.capturedAt.timeIntervalSince(original.capturedAt)) < 0.001)
                #expect(stored.modelIdentifier == Fixtures.model)
            }

            // Everything read back equals what enrolment returned, by id and by reference.
            #expect(try await store.subject(enrolled.subject.id) == enrolled)
            #expect(try await store.subject(reference: "PNC-0001", in: gallery.id) == enrolled)
            #expect(try await store.counts(in: gallery.id) == GalleryCounts(subjects: 1, templates: 3))

            // An upper-case digest is accepted and stored lower-case.
            var upper = Fixtures.template(&generator)
            upper.sourceImageSHA256 = upper.sourceImageSHA256.uppercased()
            let added = try await store.addTemplates([upper], to: enrolled.subject.id)
            #expect(added.count == 1)
            #expect(added[0].sourceImageSHA256 == upper.sourceImageSHA256.lowercased())
            #expect(added[0].id > enrolled.templates.last!.id)

            let reread = try await store.subject(enrolled.subject.id)
            #expect(reread.templates == enrolled.templates + added)
            #expect(reread.subject.updatedAt >= enrolled.subject.updatedAt)
            #expect(reread.subject.createdAt == enrolled.subject.createdAt)
            #expect(try await store.counts(in: gallery.id) == GalleryCounts(subjects: 1, templates: 4))

            // Template qualities in one read: ids that do not exist are left out, not an error.
            let everyTemplate = reread.templates
            let missingTemplate = TemplateRecord.ID(everyTemplate.map(\.id.rawValue).max()! + 1_000)
            let qualities = try await store.templateQualities([everyTemplate[2].id, missingTemplate, everyTemplate[0].id])
            #expect(qualities == [everyTemplate[2].id: everyTemplate[2].quality, everyTemplate[0].id: everyTemplate[0].quality])
            #expect(try await store.templateQualities([]).isEmpty)

            // The same reference may be used in another gallery.
            let other = try await store.createGallery(Fixtures.gallery("immigration", purpose: .immigration))
            let twin = try await store.enrol(Fixtures.subject("PNC-0001", templates: 1, &generator), in: other.id)
            #expect(twin.subject.id != enrolled.subject.id)
            await expectFailure(.unknownExternalReference("PNC-0002", gallery: gallery.id)) {
                () async throws(GalleryError) in
                try await store.subject(reference: "PNC-0002", in: gallery.id)
            }
        }
    }

    @Test(arguments: StoreBackend.allCases)
    func badInputChangesNothing(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            var generator = SeededGenerator(seed: 2)
            let gallery = try await store.createGallery(Fixtures.gallery("custody"))
            let existing = try await store.enrol(Fixtures.subject("A-1", templates: 2, &generator), in: gallery.id)
            let galleriesBefore = try await store.galleries()
            let countsBefore = try await store.counts(in: gallery.id)

            func subject(replacingSecondTemplateWith template: NewTemplate) -> NewSubject {
                var subject = Fixtures.subject("A-2", templates: 2, &generator)
                subject.templates[1] = template
                return subject
            }

            // A bad second template sinks the whole enrolment, whichever check catches it.
            var short = Fixtures.template(&generator)
            short.vector.removeLast()
            await expectFailure(.wrongTemplateDimension(expected: 128, actual: 127)) { () async throws(GalleryError) in
                try await store.enrol(subject(replacingSecondTemplateWith: short), in: gallery.id)
            }
            let foreign = Fixtures.template(&generator, model: "arcface-r100")
            await expectFailure(.wrongModelIdentifier(expected: Fixtures.model, actual: "arcface-r100")) {
                () async throws(GalleryError) in
                try await store.enrol(subject(replacingSecondTemplateWith: foreign), in: gallery.id)
            }
            var doubled = Fixtures.template(&generator)
            doubled.vector = doubled.vector.map { $0 * 2 }
            let doubledError = await failure { () async throws(GalleryError) in
                try await store.enrol(subject(replacingSecondTemplateWith: doubled), in: gallery.id)
            }
            guard case .templateNotNormalised(let norm)? = doubledError else {
                Issue.record("expected templateNotNormalised, got \(String(describing: doubledError))")
                return
            }
            #expect(abs(norm - 2) < 0.001)
            var poisoned = Fixtures.template(&generator)
            poisoned.vector[5] = .nan
            let poisonedError = await failure { () async throws(GalleryError) in
                try await store.enrol(subject(replacingSecondTemplateWith: poisoned), in: gallery.id)
            }
            guard case .templateNotNormalised? = poisonedError else {
                Issue.record("expected templateNotNormalised, got \(String(describing: poisonedError))")
                return
            }
            var badDigest = Fixtures.template(&generator)
            badDigest.sourceImageSHA256 = "not-a-digest"
            await expectFailure(.invalidInput(field: "sourceImageSHA256", reason: "must be 64 hexadecimal digits")) {
                () async throws(GalleryError) in
                try await store.enrol(subject(replacingSecondTemplateWith: badDigest), in: gallery.id)
            }
            await expectFailure(.duplicateExternalReference("A-1", gallery: gallery.id)) {
                () async throws(GalleryError) in
                try await store.enrol(Fixtures.subject("A-1", templates: 1, &generator), in: gallery.id)
            }
            let missingGallery = GalleryRecord.ID(gallery.id.rawValue + 1000)
            await expectFailure(.unknownGallery(missingGallery)) { () async throws(GalleryError) in
                try await store.enrol(Fixtures.subject("A-3", templates: 1, &generator), in: missingGallery)
            }
            await expectFailure(.invalidInput(field: "templates", reason: "at least one template is required")) {
                () async throws(GalleryError) in
                try await store.enrol(NewSubject(externalReference: "A-4", templates: []), in: gallery.id)
            }
            await expectFailure(.invalidInput(field: "externalReference", reason: "must not be empty")) {
                () async throws(GalleryError) in
                try await store.enrol(Fixtures.subject(" ", templates: 1, &generator), in: gallery.id)
            }

            // Adding templates: one bad template in a batch adds none.
            await expectFailure(.wrongModelIdentifier(expected: Fixtures.model, actual: "arcface-r100")) {
                () async throws(GalleryError) in
                try await store.addTemplates([Fixtures.template(&generator), foreign], to: existing.subject.id)
            }
            await expectFailure(.wrongTemplateDimension(expected: 128, actual: 127)) { () async throws(GalleryError) in
                try await store.addTemplates([short], to: existing.subject.id)
            }
            let missingSubject = SubjectRecord.ID(existing.subject.id.rawValue + 1000)
            await expectFailure(.unknownSubject(missingSubject)) { () async throws(GalleryError) in
                try await store.addTemplates([Fixtures.template(&generator)], to: missingSubject)
            }
            await expectFailure(.unknownSubject(missingSubject)) { () async throws(GalleryError) in
                try await store.deleteSubject(missingSubject)
            }

            // Galleries.
            await expectFailure(.duplicateGalleryName("custody")) { () async throws(GalleryError) in
                try await store.createGallery(Fixtures.gallery("custody", purpose: .watchlist))
            }
            await expectFailure(.invalidInput(field: "name", reason: "must not be empty")) { () async throws(GalleryError) in
                try await store.createGallery(Fixtures.gallery(""))
            }
            await expectFailure(
                .invalidInput(field: "retention", reason: "days after enrolment must be positive, not 0")
            ) { () async throws(GalleryError) in
                try await store.createGallery(Fixtures.gallery("zero-days", retention: .daysAfterEnrolment(0)))
            }
            await expectFailure(
                .invalidInput(field: "operatingThreshold", reason: "must be a cosine in [-1, 1], not 1.5")
            ) { () async throws(GalleryError) in
                try await store.setOperatingThreshold(1.5, of: gallery.id)
            }
            await expectFailure(
                .invalidInput(field: "operatingThreshold", reason: "must be a cosine in [-1, 1], not nan")
            ) { () async throws(GalleryError) in
                try await store.setOperatingThreshold(.nan, of: gallery.id)
            }
            await expectFailure(.unknownGallery(missingGallery)) { () async throws(GalleryError) in
                try await store.setOperatingThreshold(0.5, of: missingGallery)
            }
            await expectFailure(.unknownGallery(missingGallery)) { () async throws(GalleryError) in
                try await store.deleteGallery(missingGallery)
            }
            await expectFailure(.invalidInput(field: "limit", reason: "must be between 1 and 10000, not 0")) {
                () async throws(GalleryError) in
                try await store.subjects(in: gallery.id, after: nil, limit: 0)
            }

            #expect(try await store.galleries() == galleriesBefore)
            #expect(try await store.counts(in: gallery.id) == countsBefore)
            #expect(try await store.subject(existing.subject.id) == existing)
            #expect(try await store.subjects(in: gallery.id, after: nil, limit: 10).subjects == [existing.subject])
        }
    }

    @Test(arguments: StoreBackend.allCases)
    func subjectsPageInIdentifierOrder(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            var generator = SeededGenerator(seed: 3)
            let gallery = try await store.createGallery(Fixtures.gallery("paged"))
            let other = try await store.createGallery(Fixtures.gallery("other"))
            var enrolled: [SubjectRecord] = []
            for index in 0..<23 {
                enrolled.append(
                    try await store.enrol(Fixtures.subject("P-\(index)", templates: 1, &generator), in: gallery.id).subject)
                // Interleave another gallery's subjects: paging must skip them.
                _ = try await store.enrol(Fixtures.subject("O-\(index)", templates: 1, &generator), in: other.id)
            }
            var seen: [SubjectRecord] = []
            var cursor: SubjectRecord.ID?
            var pages = 0
            repeat {
                let page = try await store.subjects(in: gallery.id, after: cursor, limit: 10)
                seen += page.subjects
                cursor = page.nextCursor
                pages += 1
            } while cursor != nil
            #expect(pages == 3)
            #expect(seen == enrolled)
            let exact = try await store.subjects(in: gallery.id, after: enrolled[12].id, limit: 10)
            #expect(exact.subjects == Array(enrolled[13...22]))
            #expect(exact.nextCursor == nil)
        }
    }

    @Test(arguments: StoreBackend.allCases)
    func deletionErasesSubjectAndTemplates(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            var generator = SeededGenerator(seed: 4)
            let gallery = try await store.createGallery(Fixtures.gallery("custody"))
            let kept = try await store.enrol(Fixtures.subject("K", templates: 2, &generator), in: gallery.id)
            let erased = try await store.enrol(Fixtures.subject("E", templates: 3, &generator), in: gallery.id)
            let extra = try await store.addTemplates([Fixtures.template(&generator)], to: erased.subject.id)

            let current = try await store.subject(erased.subject.id).subject
            let receipt = try await store.deleteSubject(erased.subject.id)
            #expect(receipt.subject == current)
            #expect(receipt.templateIDs == (erased.templates + extra).map(\.id))
            #expect(try await store.templateQualities(receipt.templateIDs).isEmpty)

            await expectFailure(.unknownSubject(erased.subject.id)) { () async throws(GalleryError) in
                try await store.subject(erased.subject.id)
            }
            #expect(try await store.counts(in: gallery.id) == GalleryCounts(subjects: 1, templates: 2))
            var streamed: [TemplateRecord.ID] = []
            for try await batch in store.templateBatches(in: gallery.id, batchSize: 100) {
                streamed += batch.templateIDs
            }
            #expect(streamed == kept.templates.map(\.id))
            // The reference is free again once erased.
            let again = try await store.enrol(Fixtures.subject("E", templates: 1, &generator), in: gallery.id)
            #expect(again.subject.id > erased.subject.id)

            // Erasing the gallery takes everything with it.
            let galleryErasure = try await store.deleteGallery(gallery.id)
            #expect(galleryErasure.counts == GalleryCounts(subjects: 2, templates: 3))
            await expectFailure(.unknownSubject(kept.subject.id)) { () async throws(GalleryError) in
                try await store.subject(kept.subject.id)
            }
        }
    }

    @Test(arguments: StoreBackend.allCases)
    func retentionFindsExpiredSubjects(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            var generator = SeededGenerator(seed: 5)
            let thirtyDays = try await store.createGallery(
                Fixtures.gallery("thirty-days", retention: .daysAfterEnrolment(30)))
            let indefinite = try await store.createGallery(Fixtures.gallery("indefinite"))
            let day: TimeInterval = 86_400

            let plain = try await store.enrol(Fixtures.subject("T-1", templates: 1, &generator), in: thirtyDays.id)
            let now = plain.subject.createdAt
            // A subject date earlier than the gallery rule wins; a later one does not extend it.
            let early = try await store.enrol(
                Fixtures.subject("T-2", templates: 1, &generator, retainUntil: now + 5 * day), in: thirtyDays.id)
            let late = try await store.enrol(
                Fixtures.subject("T-3", templates: 1, &generator, retainUntil: now + 90 * day), in: thirtyDays.id)
            let forever = try await store.enrol(Fixtures.subject("I-1", templates: 1, &generator), in: indefinite.id)
            let dated = try await store.enrol(
                Fixtures.subject("I-2", templates: 1, &generator, retainUntil: now + 10 * day), in: indefinite.id)

            func expired(afterDays days: Double) async throws -> [SubjectRecord.ID] {
                try await store.expiredSubjects(asOf: now + days * day, limit: 100).map(\.id)
            }
            #expect(try await expired(afterDays: -1) == [])
            #expect(try await expired(afterDays: 6) == [early.subject.id])
            #expect(try await expired(afterDays: 11) == [early.subject.id, dated.subject.id])
            #expect(try await expired(afterDays: 31) ==
                [plain.subject.id, early.subject.id, late.subject.id].sorted() + [dated.subject.id])
            #expect(try await expired(afterDays: 10_000).contains(forever.subject.id) == false)
            #expect(try await store.expiredSubjects(asOf: now + 31 * day, limit: 2).map(\.id) ==
                [plain.subject.id, early.subject.id])

            // A sweeper erases what it finds; nothing is found again.
            for subject in try await store.expiredSubjects(asOf: now + 31 * day, limit: 100) {
                _ = try await store.deleteSubject(subject.id)
            }
            #expect(try await expired(afterDays: 31) == [])
            #expect(try await store.counts(in: thirtyDays.id) == GalleryCounts(subjects: 0, templates: 0))
            #expect(try await store.counts(in: indefinite.id) == GalleryCounts(subjects: 1, templates: 1))
        }
    }

    @Test(arguments: StoreBackend.allCases)
    func templateStreamCoversGalleryInIdentifierOrder(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            var generator = SeededGenerator(seed: 6)
            let gallery = try await store.createGallery(Fixtures.gallery("streamed"))
            let other = try await store.createGallery(Fixtures.gallery("other"))
            var expected: [TemplateRecord] = []
            for index in 0..<12 {
                let subject = try await store.enrol(
                    Fixtures.subject("S-\(index)", templates: 1 + index % 3, &generator), in: gallery.id)
                expected += subject.templates
                _ = try await store.enrol(Fixtures.subject("X-\(index)", templates: 2, &generator), in: other.id)
            }
            var batchSizes: [Int] = []
            var ids: [TemplateRecord.ID] = []
            var subjects: [SubjectRecord.ID] = []
            var vectors: [Float] = []
            for try await batch in store.templateBatches(in: gallery.id, batchSize: 7) {
                batchSizes.append(batch.count)
                ids += batch.templateIDs
                subjects += batch.subjectIDs
                vectors += batch.vectors
                #expect(batch.vector(at: 0).count == TemplateFormat.dimension)
            }
            #expect(expected.count == 24)
            #expect(batchSizes == [7, 7, 7, 3])
            #expect(ids == expected.map(\.id))
            #expect(subjects == expected.map(\.subjectID))
            #expect(vectors.map(\.bitPattern) == expected.flatMap(\.vector).map(\.bitPattern))

            let empty = try await store.createGallery(Fixtures.gallery("empty"))
            var emptyBatches = 0
            for try await _ in store.templateBatches(in: empty.id) { emptyBatches += 1 }
            #expect(emptyBatches == 0)
            let missing = GalleryRecord.ID(empty.id.rawValue + 100)
            await expectFailure(.unknownGallery(missing)) { () async throws(GalleryError) in
                for try await _ in store.templateBatches(in: missing) {}
            }
        }
    }
}

/// The error `body` fails with, or nil if it succeeds.
func failure<T>(_ body: () async throws(GalleryError) -> T) async -> GalleryError? {
    do {
        _ = try await body()
        return nil
    } catch {
        return error
    }
}

/// What `body` returned or failed with.
func outcome<T>(_ body: () async throws(GalleryError) -> T) async -> Result<T, GalleryError> {
    do {
        return .success(try await body())
    } catch {
        return .failure(error)
    }
}
