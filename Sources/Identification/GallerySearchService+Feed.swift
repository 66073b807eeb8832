import Foundation
import Gallery
import Matching

extension GallerySearchService {
    /// Every feed entry up to this position is reflected in the indexes.
    public var feedPosition: ChangeFeedPosition { cursor.withLock { $0 } }

    /// How often the store's feed was found to differ from the one followed (changes lost in a
    /// failover), each time followed by a rebuild of every index from the store.
    public var feedDivergenceCount: Int { feedDivergences.withLock { $0 } }

    /// Applies every change committed before the call that the indexes do not reflect yet:
    /// galleries created or erased, thresholds, subjects enrolled or erased, templates added (their
    /// vectors read from the store by identifier). Applying an entry the index already reflects
    /// (the service's own change, or one applied before) changes nothing, so catching up is
    /// always safe. One catch-up runs at a time; concurrent calls wait and continue from where
    /// the previous one stopped. Returns the position reached.
    @discardableResult
    public func catchUp() async throws(IdentificationError) -> ChangeFeedPosition {
        try await feedGate.run { () async throws(IdentificationError) -> ChangeFeedPosition in
            var position = feedPosition
            // The first read starts one entry early, at the last entry applied, to check it is
            // still the store's: no extra round trip.
            var expected = lastApplied.withLock { $0 }.flatMap { $0.position == position ? $0 : nil }
            while true {
                var entries: [ChangeFeedEntry]
                let from = expected.map { ChangeFeedPosition($0.position.rawValue - 1) } ?? position
                do throws(GalleryError) { entries = try await store.changes(after: from, limit: Self.feedBatchSize) } catch {
                    throw .store(error)
                }
                if let applied = expected {
                    guard entries.first == applied else { return try await resynchronise(divergedAt: applied.position) }
                    entries.removeFirst()
                    expected = nil
                }
                guard let last = entries.last else { break }
                try await tracked { () async throws(IdentificationError) in try await apply(entries) }
                position = last.position
                cursor.withLock { $0 = position }
                lastApplied.withLock { $0 = last }
                for index in indexes.withLock({ Array($0.values) }) { index.advance(to: position) }
                if entries.count < Self.feedBatchSize - 1 { break }
            }
            return position
        }
    }

    /// The store's feed no longer holds the last entry applied (a failover to a standby that had
    /// not received it): changes this node applied were lost with the old primary, and the
    /// positions after them may name other changes now. Only the store's current state can be
    /// trusted, so every gallery's index is rebuilt from it and followed from the head read first.
    private func resynchronise(divergedAt position: ChangeFeedPosition) async throws(IdentificationError) -> ChangeFeedPosition {
        let head: ChangeFeedPosition
        let galleries: [GalleryRecord]
        do {
            head = try await store.changeFeedHead()
            galleries = try await store.galleries()
        } catch {
            throw .store(error)
        }
        feedDivergences.withLock { $0 += 1 }
        var rebuilt: [String: GalleryIndex] = [:]
        for gallery in galleries {
            snapshots?.remove(gallery.id)
            let revision: Int64
            do { revision = try await store.revision(of: gallery.id) } catch {
                if case .unknownGallery = error { continue }
                throw .store(error)
            }
            let index = try await GalleryIndex.rebuild(
                gallery, layouts: catalogue.layouts(for: gallery), encoding: indexEncoding, from: store)
            index.setRevision(revision, position: head)
            rebuilt[gallery.name] = index
        }
        let entryAtHead: ChangeFeedEntry?
        do { entryAtHead = try await store.changes(after: ChangeFeedPosition(head.rawValue - 1), limit: 1).first } catch {
            throw .store(error)
        }
        indexes.withLock { $0 = rebuilt }
        cursor.withLock { $0 = head }
        lastApplied.withLock { $0 = entryAtHead?.position == head ? entryAtHead : nil }
        return head
    }

    /// Applies a batch of entries in order, reading the subjects and vectors they need first
    /// (one read each for the batch, and only for changes the indexes lack).
    private func apply(_ entries: [ChangeFeedEntry]) async throws(IdentificationError) {
        var wantedSubjects: [SubjectRecord.ID] = []
        var wantedTemplates: [TemplateRecord.ID] = []
        for entry in entries where entry.kind == .subjectEnrolled || entry.kind == .templatesAdded {
            // A gallery without an index yet may be created earlier in this batch: read its changes too.
            let index = index(id: entry.gallery)
            if let index, index.order(of: entry) == .applied { continue }
            let missing = entry.templates.filter { index?.contains($0) != true }
            if let index, missing.isEmpty, entry.kind == .templatesAdded || entry.subject.map(index.holds) == true { continue }
            if entry.kind == .subjectEnrolled, let subject = entry.subject { wantedSubjects.append(subject) }
            wantedTemplates += missing
        }
        var subjects: [SubjectRecord.ID: SubjectRecord] = [:]
        var vectors: [TemplateRecord.ID: StoredVector] = [:]
        do {
            for chunk in wantedSubjects.chunked(Self.feedBatchSize) {
                for subject in try await store.subjectRecords(chunk) { subjects[subject.id] = subject }
            }
            for chunk in wantedTemplates.chunked(Self.feedBatchSize) {
                let batch = try await store.templateVectors(chunk)
                for (offset, id) in batch.templateIDs.enumerated() {
                    vectors[id] = StoredVector(model: batch.modelIdentifiers[offset], vector: Array(batch.vector(at: offset)))
                }
            }
        } catch {
            throw .store(error)
        }
        for entry in entries {
            try await apply(entry, subjects: subjects, vectors: vectors)
        }
    }

    private func apply(
        _ entry: ChangeFeedEntry, subjects: [SubjectRecord.ID: SubjectRecord],
        vectors: [TemplateRecord.ID: StoredVector]
    ) async throws(IdentificationError) {
        switch entry.kind {
        case .galleryCreated:
            try await adoptGallery(entry)
            return
        case .galleryDeleted:
            indexes.withLock { indexes in
                for (name, index) in indexes where index.record.id == entry.gallery { indexes.removeValue(forKey: name) }
            }
            snapshots?.remove(entry.gallery)
            return
        case .thresholdChanged, .subjectEnrolled, .templatesAdded, .subjectErased:
            break
        }
        // A gallery erased since (or never seen because it was erased before its creation was read).
        guard let index = index(id: entry.gallery) else { return }
        switch index.order(of: entry) {
        case .applied:
            return
        case .gap:
            // Changes are missing from the feed: only the store's current state can be trusted.
            snapshots?.remove(entry.gallery)
            try await replaceWithRebuild(index)
            return
        case .next:
            break
        }
        switch entry.kind {
        case .thresholdChanged:
            // Any change of the gallery's settings: its threshold, calibration or engines (a
            // change of engines rebuilds the index with the new engines' layouts).
            let record: GalleryRecord
            do { record = try await store.gallery(entry.gallery) } catch {
                if case .unknownGallery = error { break }
                throw .store(error)
            }
            try await adopt(record, into: index)
        case .subjectEnrolled, .templatesAdded:
            guard let subject = entry.subject else { break }
            let owner = GalleryIndex.owner(subject)
            // Each template joins the index of the engine its tag names.
            let templates = entry.templates.compactMap { id in
                vectors[id].map { GalleryIndex.IndexedTemplate(id: id, owner: subject, model: $0.model, vector: $0.vector) }
            }
            // A subject erased since its enrolment was read is left out: its erasure follows in the feed.
            if entry.kind == .subjectEnrolled {
                guard let record = subjects[subject] else { break }
                try index.add(subject: record, templates: templates)
            } else if !templates.isEmpty {
                try index.add(subject: nil, templates: templates, of: owner)
            }
        case .subjectErased:
            if let subject = entry.subject { index.remove(subject: subject, templates: entry.templates) }
            // The snapshot still holds the erased templates.
            snapshots?.remove(entry.gallery)
        case .galleryCreated, .galleryDeleted:
            break
        }
        index.advance(past: entry)
    }

    /// Gives a gallery created elsewhere an empty index (its subjects follow in the feed),
    /// unless the service has it already or it was erased since.
    private func adoptGallery(_ entry: ChangeFeedEntry) async throws(IdentificationError) {
        if let existing = index(id: entry.gallery) {
            existing.advance(past: entry)
            return
        }
        let record: GalleryRecord
        do { record = try await store.gallery(entry.gallery) } catch {
            if case .unknownGallery = error { return }
            throw .store(error)
        }
        let index = try GalleryIndex(record: record, layouts: catalogue.layouts(for: record), encoding: indexEncoding)
        index.setRevision(entry.galleryRevision ?? 0, position: entry.position)
        indexes.withLock { indexes in
            // Names are unique among live galleries: a larger identifier is the newer gallery.
            if let existing = indexes[record.name], existing.record.id.rawValue >= record.id.rawValue { return }
            indexes[record.name] = index
        }
    }
}

/// A template read for a feed entry: its tag (which engine's index it joins) and vector.
private struct StoredVector {
    var model: String
    var vector: [Float]
}

extension Array {
    /// Consecutive slices of at most `size` elements.
    fileprivate func chunked(_ size: Int) -> [[Element]] {
        stride(from: 0, to: count, by: size).map { Array(self[$0..<Swift.min($0 + size, count)]) }
    }
}
