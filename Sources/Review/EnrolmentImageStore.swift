import Foundation
import Gallery
import Governance
import Installation

/// An enrolment image to keep: the bytes as supplied and what enrolment found in them.
public struct KeptImage: Sendable, Equatable {
    /// The encoded image, exactly as supplied.
    public var bytes: [UInt8]
    /// SHA-256 of `bytes`, lower-case hex (the source hash its templates carry).
    public var sha256: String
    /// The face the templates were made from and its quality, as the enrolling component
    /// encodes them (JSON); a new engine starts from this face instead of detecting again.
    public var face: String

    /// An image to keep from its parts.
    public init(bytes: [UInt8], sha256: String, face: String) {
        self.bytes = bytes
        self.sha256 = sha256
        self.face = face
    }
}

/// A kept enrolment image, opened.
public struct EnrolmentImage: Sendable, Equatable {
    /// The row's identifier (increasing in storage order).
    public var id: Int64
    /// The subject it was enrolled for.
    public var subject: SubjectRecord.ID
    /// The image as supplied.
    public var image: KeptImage
}

/// Enrolment images kept sealed (AES-256-GCM under the ``CropVault`` key) in the store's
/// `enrolment_images` table, so a gallery can gain an engine later without the images being
/// supplied again.
///
/// Rows commit in the enrolment's own transaction (``companions(for:)``): a subject is never
/// stored without its kept images, nor an image without its subject. Each row references its
/// subject with `ON DELETE CASCADE`, so erasing the subject or its gallery erases its images in
/// the same transaction. The authenticated data binds a ciphertext to its subject and hash.
public struct EnrolmentImageStore: Sendable {
    /// The table.
    public static let table = "enrolment_images"

    /// The store (opened with ``migrations(for:)``).
    public let store: any GalleryStore
    /// The vault that seals and opens the images.
    public let vault: CropVault

    /// Images on `store` under `vault`'s key.
    public init(store: any GalleryStore, vault: CropVault) {
        self.store = store
        self.vault = vault
    }

    /// The table's migration (after the store's own: it references `subjects`).
    public static func migrations(for dialect: SQLDialect) -> [SchemaMigration] {
        let (integer, text, blob, strict) =
            switch dialect {
            case .sqlite: ("INTEGER", "TEXT", "BLOB", " STRICT")
            case .postgresql: ("bigint", "text", "bytea", "")
            }
        return [
            SchemaMigration(
                identifier: "review.v2-enrolment-images",
                statements: [
                    """
                    CREATE TABLE enrolment_images (
                        image_id \(integer) PRIMARY KEY CHECK (image_id > 0),
                        subject_id \(integer) NOT NULL REFERENCES subjects (id) ON DELETE CASCADE,
                        source_image_sha256 \(text) NOT NULL,
                        face \(text) NOT NULL,
                        key_fingerprint \(text) NOT NULL,
                        sealed \(blob) NOT NULL,
                        stored_at_ms \(integer) NOT NULL
                    )\(strict)
                    """,
                    "CREATE INDEX enrolment_images_subject ON enrolment_images (subject_id)",
                ])
        ]
    }

    /// Companion records that keep `images` with the enrolment or addition they accompany: each
    /// is sealed for the subject the change names, inside the change's transaction.
    public func companions(for images: [KeptImage]) -> [CompanionRecord] {
        let vault = vault
        return images.map { image in
            CompanionRecord(table: Self.table, sequenceColumn: "image_id") { context in
                let subject: SubjectRecord.ID
                switch context.change {
                case .subjectEnrolled(let enrolled)?: subject = enrolled.subject.id
                case .templatesAdded(let record, _)?: subject = record.id
                default: throw ReviewError.invalidConfiguration(key: Self.table, reason: "an image is kept only with an enrolment")
                }
                var next: Int64 = 1
                if case .integer(let last)? = context.previousRow?["image_id"] { next = last + 1 }
                let sealed = try vault.seal(bytes: image.bytes, for: .enrolmentImage(subject: subject, sha256: image.sha256))
                return [
                    "image_id": .integer(next), "subject_id": .integer(subject.rawValue),
                    "source_image_sha256": .text(image.sha256), "face": .text(image.face),
                    "key_fingerprint": .text(sealed.keyFingerprint), "sealed": .blob(sealed.combined),
                    "stored_at_ms": .integer(Clock.milliseconds()),
                ]
            }
        }
    }

    /// The kept images of a subject, opened, in storage order. Throws ``ReviewError/crop(_:)``
    /// when one was sealed under another key or altered.
    public func images(of subject: SubjectRecord.ID) async throws(ReviewError) -> [EnrolmentImage] {
        let rows: [StoreRow]
        do {
            rows = try await store.records(
                in: Self.table, matching: ["subject_id": .integer(subject.rawValue)], orderedBy: "image_id", after: nil,
                limit: 1_000)
        } catch {
            throw .store(error)
        }
        var images: [EnrolmentImage] = []
        for row in rows {
            let reader = RowReader(row: row, table: Self.table, context: "\(subject)")
            let sha256 = try reader.text("source_image_sha256")
            let sealed = SealedCrop(keyFingerprint: try reader.text("key_fingerprint"), combined: try reader.blob("sealed"))
            let bytes: [UInt8]
            do { bytes = try vault.openBytes(sealed, for: .enrolmentImage(subject: subject, sha256: sha256)) } catch {
                throw .crop(error)
            }
            images.append(
                EnrolmentImage(
                    id: try reader.integer("image_id"), subject: subject,
                    image: KeptImage(bytes: bytes, sha256: sha256, face: try reader.text("face"))))
        }
        return images
    }
}
