import Foundation
import Gallery
import Imaging
import Synchronization

/// The aligned crop of one enrolled template, to be sealed and stored.
public struct EnrolmentCrop: Sendable, Equatable {
    /// The stored template the crop was computed from.
    public var templateID: TemplateRecord.ID
    /// The 112x112 aligned crop.
    public var crop: RGBImage

    /// Pairs a template with its crop.
    public init(templateID: TemplateRecord.ID, crop: RGBImage) {
        self.templateID = templateID
        self.crop = crop
    }
}

/// Enrolment crops, sealed by a ``CropVault``, in the store's `template_crops` table.
///
/// Each row references its template with `ON DELETE CASCADE`: erasing a subject or a gallery
/// removes its crops in the erasure's own transaction (and the SQLite store's `secure_delete`
/// zeroes the freed pages). Crops are written just after the enrolment that assigned the
/// template identifiers, in their own transaction; a crash in between leaves a template without
/// a crop (shown as missing), never a crop without a template.
public struct CropStore: Sendable {
    /// The store (opened with ``ReviewSchema/migrations(for:)``).
    public let store: any GalleryStore
    /// The vault that seals and opens the crops.
    public let vault: CropVault

    /// Crops on `store` under `vault`'s key.
    public init(store: any GalleryStore, vault: CropVault) {
        self.store = store
        self.vault = vault
    }

    /// Seals the crops and stores them, all in one transaction or none. Throws
    /// ``ReviewError/store(_:)`` if a template does not exist (any more) or already has a crop.
    public func storeEnrolmentCrops(_ crops: [EnrolmentCrop]) async throws(ReviewError) {
        guard !crops.isEmpty else { return }
        let storedAt = Clock.milliseconds()
        var records: [CompanionRecord] = []
        for crop in crops {
            let sealed: SealedCrop
            do { sealed = try vault.seal(crop.crop, for: .template(crop.templateID)) } catch { throw .crop(error) }
            let row: StoreRow = [
                "template_id": .integer(crop.templateID.rawValue), "key_fingerprint": .text(sealed.keyFingerprint),
                "sealed": .blob(sealed.combined), "stored_at_ms": .integer(storedAt),
            ]
            records.append(CompanionRecord(table: ReviewSchema.templateCropsTable, sequenceColumn: "template_id") { _ in row })
        }
        do { try await store.appendRecords(records) } catch { throw ReviewError.unwrap(error) }
    }

    /// The sealed crop stored for a template, or nil if it has none.
    public func sealedEnrolmentCrop(of template: TemplateRecord.ID) async throws(ReviewError) -> SealedCrop? {
        let rows: [StoreRow]
        do {
            rows = try await store.records(
                in: ReviewSchema.templateCropsTable, matching: ["template_id": .integer(template.rawValue)],
                orderedBy: "template_id", after: nil, limit: 1)
        } catch {
            throw .store(error)
        }
        guard let row = rows.first else { return nil }
        let reader = RowReader(row: row, table: ReviewSchema.templateCropsTable, context: "template \(template.rawValue)")
        return SealedCrop(keyFingerprint: try reader.text("key_fingerprint"), combined: try reader.blob("sealed"))
    }

    /// The crop of a template, opened. Throws ``ReviewError/cropMissing(_:)`` if none is stored,
    /// ``ReviewError/crop(_:)`` if it was sealed under another key or altered.
    public func enrolmentCrop(of template: TemplateRecord.ID) async throws(ReviewError) -> RGBImage {
        guard let sealed = try await sealedEnrolmentCrop(of: template) else { throw .cropMissing(.template(template)) }
        do { return try vault.open(sealed, for: .template(template)) } catch { throw .crop(error) }
    }
}

/// A value set inside a store transaction by one companion record and read by the next.
final class Captured<Value: Sendable>: Sendable {
    private let stored = Mutex<Value?>(nil)
    var value: Value? { stored.withLock { $0 } }
    func set(_ value: Value) { stored.withLock { $0 = value } }
}
