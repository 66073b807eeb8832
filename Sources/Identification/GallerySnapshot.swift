#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Gallery
import Installation
import Matching

/// A gallery's index saved in a snapshot folder, as a manifest and an index file per engine:
///
/// - `gallery-<id>-r<revision>.index` (a gallery of one engine) or
///   `gallery-<id>-r<revision>-<engine>.index` (one per engine of a gallery of several): the
///   template index (``IndexSnapshot``, checksummed).
/// - `gallery-<id>.manifest`: which gallery, store revision, change-feed position and template
///   model the snapshot reflects, the name of its index file, and the subject facts searches
///   report (reference and attributes per subject), so loading reads no subject rows.
///
/// The index file is written first and the manifest last, each to a temporary file that is
/// synced and renamed over the old one; the manifest names its index file by revision, so a
/// crash between the two renames leaves the old pair consistent (or the new index unnamed).
/// A snapshot is used as it is when its revision equals the store's, which changes with every
/// committed change to the gallery's subjects and templates; an older one that records its feed
/// position is used too, and brought up to date from the change feed (format 1 has no position).
struct GallerySnapshotFolder: Sendable {
    let directory: URL

    private static let manifestSignature: [UInt8] = Array("BIOMGAL".utf8) + [0x1A]
    /// The manifest format written for a gallery of one engine: 2 adds the change-feed position
    /// to format 1, which is still read.
    static let manifestVersion: UInt32 = 2
    /// The manifest format written for a gallery of several engines: format 2 with, instead of
    /// one model and index file, a list of engines each with its template model, index file and
    /// template count.
    static let engineListVersion: UInt32 = 3
    /// Manifest headers longer than this are refused unread (names and identifiers are short).
    private static let headerLimit = 1 << 20
    private static let digestLength = 64

    /// The gallery's creation time as the store keeps it (whole milliseconds).
    private static func milliseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1000).rounded())
    }

    func manifestFile(of gallery: GalleryRecord.ID) -> URL {
        directory.appending(path: "gallery-\(gallery.rawValue).manifest")
    }

    /// The index file of a revision: of the gallery's only engine when `engine` is nil.
    func indexFileName(of gallery: GalleryRecord.ID, revision: Int64, engine: String? = nil) -> String {
        "gallery-\(gallery.rawValue)-r\(revision)\(engine.map { "-\($0)" } ?? "").index"
    }

    // MARK: Loading

    /// The gallery's index as saved, if the snapshot is of exactly this gallery and model and
    /// reflects `storeRevision`, or an earlier revision at a recorded feed position (the caller
    /// then catches up from the feed); otherwise why not (the caller rebuilds).
    func load(
        _ record: GalleryRecord, layouts: [EngineIndexLayout], encoding: IndexEncoding, storeRevision: Int64
    ) -> SnapshotLoad {
        let path = manifestFile(of: record.id).path
        guard FileManager.default.fileExists(atPath: path) else { return .unavailable(.missing) }
        let file: SnapshotFile
        do { file = try SnapshotFile(readingFrom: path) } catch { return .unavailable(.unusable(error.description)) }
        let header: ManifestHeader
        do { header = try readHeader(file) } catch { return .unavailable(.unusable(error.description)) }
        guard header.galleryID == record.id.rawValue, header.galleryName == record.name,
            header.galleryCreatedAt == Self.milliseconds(record.createdAt)
        else {
            return .unavailable(.unusable("it belongs to another gallery (id \(header.galleryID), '\(header.galleryName)')"))
        }
        guard header.revision == storeRevision || (header.revision < storeRevision && header.feedPosition != nil) else {
            return .unavailable(.stale(snapshotRevision: header.revision, storeRevision: storeRevision))
        }
        var engines: [String: GalleryIndex.EngineTemplates] = [:]
        for layout in layouts {
            // Formats 1 and 2 hold the index of a gallery's only engine.
            let entry = header.engines.first {
                $0.identifier == layout.engine.identifier || ($0.identifier == nil && record.engines.count == 1)
            }
            guard let entry, entry.model == layout.engine.templateModel else {
                return .unavailable(
                    .unusable(
                        "it holds no index of engine '\(layout.engine.identifier)' (\(layout.engine.templateModel)); it holds "
                            + header.engines.map { "'\($0.model)'" }.joined(separator: ", ")))
            }
            let expectedFile = indexFileName(of: record.id, revision: header.revision, engine: entry.identifier)
            guard entry.indexFile == expectedFile else {
                return .unavailable(.unusable("the manifest names index file '\(entry.indexFile)'"))
            }
            switch loadIndex(entry, layout: layout, encoding: encoding) {
            case let .loaded(templates): engines[layout.engine.identifier] = GalleryIndex.EngineTemplates(layout: layout, index: templates)
            case let .unusable(reason): return .unavailable(.unusable(reason))
            }
        }
        let subjects: SubjectDirectory
        do { subjects = try readSubjects(file, header: header) } catch { return .unavailable(.unusable(error.description)) }
        return .loaded(
            GalleryIndex(record: record, engines: engines, subjects: subjects), revision: header.revision,
            position: header.feedPosition)
    }

    private enum IndexLoad {
        case loaded(FlatIndex)
        case unusable(String)
    }

    /// One engine's index file, checked against its manifest entry and the service's layout.
    private func loadIndex(_ entry: ManifestHeader.Engine, layout: EngineIndexLayout, encoding: IndexEncoding) -> IndexLoad {
        let loaded: any TemplateIndex
        do {
            loaded = try IndexSnapshot.load(from: directory.appending(path: entry.indexFile).path)
        } catch {
            return .unusable(error.description)
        }
        guard let templates = loaded as? FlatIndex, templates.dimension == layout.dimension else {
            return .unusable("the index file holds another kind of index")
        }
        guard templates.encoding == encoding.flatEncoding else {
            return .unusable("its index is encoded \(templates.encoding.rawValue), the service holds \(encoding)")
        }
        guard UInt64(templates.count) == entry.templateCount else {
            return .unusable("the index holds \(templates.count) templates, the manifest \(entry.templateCount)")
        }
        return .loaded(templates)
    }

    private struct ManifestHeader {
        var galleryID: Int64
        var galleryName: String
        var galleryCreatedAt: Int64
        var revision: Int64
        var feedPosition: ChangeFeedPosition?
        /// One entry per engine (formats 1 and 2: one, of the gallery's only engine, unnamed).
        var engines: [Engine]
        var subjectCount: UInt64
        var subjectsOffset: Int
        var subjectsLength: Int
        var subjectsDigest: String

        struct Engine {
            /// Nil in formats 1 and 2.
            var identifier: String?
            var model: String
            var indexFile: String
            var templateCount: UInt64
        }
    }

    /// Signature, version and header length (16 bytes), the header, its SHA-256 (hex), then the
    /// subjects section whose length and SHA-256 the header records.
    private func readHeader(_ file: SnapshotFile) throws(SnapshotFileError) -> ManifestHeader {
        var reader = ByteReader(try file.read(at: 0, count: 16, path: file.path), path: file.path)
        guard try reader.bytes(8) == Self.manifestSignature else { throw .malformed(path: file.path, reason: "not a gallery manifest") }
        let version = try reader.uint32()
        guard (1...Self.engineListVersion).contains(version) else {
            throw .malformed(path: file.path, reason: "manifest format \(version), this build reads 1 to \(Self.engineListVersion)")
        }
        let headerLength = Int(try reader.uint32())
        guard headerLength <= Self.headerLimit else { throw .malformed(path: file.path, reason: "header of \(headerLength) bytes") }
        let headerBytes = try file.read(at: 16, count: headerLength + Self.digestLength, path: file.path)
        let body = headerBytes[0..<headerLength]
        let recorded = String(decoding: headerBytes[headerLength...], as: UTF8.self)
        guard FileDigest.sha256(of: body) == recorded else { throw .malformed(path: file.path, reason: "header checksum mismatch") }
        var header = ByteReader(Array(body), path: file.path)
        let galleryID = try header.int64()
        let galleryName = try header.string()
        let galleryCreatedAt = try header.int64()
        let revision = try header.int64()
        let feedPosition = version >= 2 ? ChangeFeedPosition(try header.int64()) : nil
        var engines: [ManifestHeader.Engine] = []
        if version >= Self.engineListVersion {
            let count = try header.uint32()
            for _ in 0..<count {
                engines.append(
                    ManifestHeader.Engine(
                        identifier: try header.string(), model: try header.string(), indexFile: try header.string(),
                        templateCount: try header.uint64()))
            }
        } else {
            engines.append(
                ManifestHeader.Engine(
                    identifier: nil, model: try header.string(), indexFile: try header.string(), templateCount: try header.uint64()))
        }
        let subjectCount = try header.uint64()
        let subjectsLength = try header.uint64()
        let subjectsDigest = try header.string()
        let subjectsOffset = 16 + headerLength + Self.digestLength
        guard subjectsLength <= UInt64(Int.max - subjectsOffset),
            UInt64(file.size) == UInt64(subjectsOffset) + subjectsLength
        else {
            throw .malformed(path: file.path, reason: "\(file.size) bytes, the header describes \(UInt64(subjectsOffset) &+ subjectsLength)")
        }
        return ManifestHeader(
            galleryID: galleryID, galleryName: galleryName, galleryCreatedAt: galleryCreatedAt, revision: revision,
            feedPosition: feedPosition, engines: engines, subjectCount: subjectCount, subjectsOffset: subjectsOffset, subjectsLength: Int(subjectsLength),
            subjectsDigest: subjectsDigest)
    }

    /// Each subject: owner (8 bytes), reference, attribute count (4 bytes), then key and value
    /// of each attribute; strings are a 4-byte length and UTF-8 bytes.
    private func readSubjects(_ file: SnapshotFile, header: ManifestHeader) throws(SnapshotFileError) -> SubjectDirectory {
        let bytes = try file.read(at: header.subjectsOffset, count: header.subjectsLength, path: file.path)
        guard FileDigest.sha256(of: bytes) == header.subjectsDigest else {
            throw .malformed(path: file.path, reason: "subjects checksum mismatch")
        }
        var reader = ByteReader(bytes, path: file.path)
        var subjects = SubjectDirectory()
        // Each subject takes at least 16 bytes, which bounds a damaged count.
        let bounded = Int(min(header.subjectCount, UInt64(bytes.count / 16)))
        subjects.reserveCapacity(bounded, referenceBytes: bounded == 0 ? 0 : bytes.count / bounded - 16)
        for _ in 0..<header.subjectCount {
            let owner = OwnerID(try reader.uint64())
            let reference = try reader.string()
            let attributeCount = try reader.uint32()
            var attributes: [String: String] = [:]
            for _ in 0..<attributeCount {
                let key = try reader.string()
                attributes[key] = try reader.string()
            }
            guard subjects.set(GalleryIndex.Subject(reference: reference, attributes: attributes), for: owner) else {
                throw .malformed(path: file.path, reason: "subject \(owner.rawValue) listed twice")
            }
        }
        guard reader.isAtEnd else { throw .malformed(path: file.path, reason: "bytes after the last subject") }
        return subjects
    }

    // MARK: Writing

    /// Saves `index` as the snapshot of `revision` at feed `position`, replacing the gallery's
    /// previous snapshot. Erased templates are compacted away first, so no removed vector reaches the disk.
    func write(_ index: GalleryIndex, revision: Int64, position: ChangeFeedPosition) throws(SnapshotFileError) {
        let record = index.record
        // A gallery of one engine keeps format 2 and its file names; several need format 3.
        let single = index.singleEngineTemplates
        let saved: [(identifier: String?, templates: GalleryIndex.EngineTemplates)] =
            single.map { [(nil, $0)] }
            ?? record.engines.compactMap { entry in index.templates(of: entry.identifier).map { (entry.identifier, $0) } }
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw .cannotWrite(path: directory.path, reason: "\(error)")
        }
        index.compactIfNeeded()
        var indexFiles: [String] = []
        var templateCounts: [Int] = []
        for (identifier, templates) in saved {
            let indexFile = indexFileName(of: record.id, revision: revision, engine: identifier)
            let indexPath = directory.appending(path: indexFile).path
            do { try IndexSnapshot.save(templates.index, to: indexPath) } catch {
                throw .cannotWrite(path: indexPath, reason: error.description)
            }
            indexFiles.append(indexFile)
            templateCounts.append(templates.index.count)
        }
        let subjects = index.subjectSnapshot()

        var section = ByteWriter()
        subjects.forEach { owner, subject in
            section.uint64(owner.rawValue)
            section.string(subject.reference)
            section.uint32(UInt32(subject.attributes.count))
            for (key, value) in subject.attributes.sorted(by: { $0.key < $1.key }) {
                section.string(key)
                section.string(value)
            }
        }
        var header = ByteWriter()
        header.int64(record.id.rawValue)
        header.string(record.name)
        header.int64(Self.milliseconds(record.createdAt))
        header.int64(revision)
        header.int64(position.rawValue)
        if single != nil {
            header.string(record.modelIdentifier)
            header.string(indexFiles[0])
            header.uint64(UInt64(templateCounts[0]))
        } else {
            header.uint32(UInt32(saved.count))
            for (offset, (identifier, templates)) in saved.enumerated() {
                header.string(identifier ?? "")
                header.string(templates.layout.engine.templateModel)
                header.string(indexFiles[offset])
                header.uint64(UInt64(templateCounts[offset]))
            }
        }
        header.uint64(UInt64(subjects.count))
        header.uint64(UInt64(section.bytes.count))
        header.string(FileDigest.sha256(of: section.bytes))
        var manifest = ByteWriter()
        manifest.bytes += Self.manifestSignature
        manifest.uint32(single != nil ? Self.manifestVersion : Self.engineListVersion)
        manifest.uint32(UInt32(header.bytes.count))
        manifest.bytes += header.bytes
        manifest.bytes += Array(FileDigest.sha256(of: header.bytes).utf8)
        manifest.bytes += section.bytes
        try SnapshotFile.writeAtomically(manifest.bytes, to: manifestFile(of: record.id).path)
        SnapshotFile.syncDirectory(directory.path)
        removeIndexFiles(of: record.id, except: Set(indexFiles))
    }

    // MARK: Removal

    /// Removes the gallery's snapshot (manifest first, so a half-removed snapshot is never used).
    func remove(_ gallery: GalleryRecord.ID) {
        unlink(manifestFile(of: gallery).path)
        unlink(manifestFile(of: gallery).path + ".partial")
        removeIndexFiles(of: gallery, except: [])
        SnapshotFile.syncDirectory(directory.path)
    }

    /// Removes the snapshots of galleries the store no longer has.
    func removeSnapshots(notIn galleries: Set<GalleryRecord.ID>) {
        for id in Set(snapshotFiles().map(\.gallery)) where !galleries.contains(id) { remove(id) }
    }

    private func removeIndexFiles(of gallery: GalleryRecord.ID, except kept: Set<String>) {
        for file in snapshotFiles() where file.gallery == gallery && file.isIndex && !kept.contains(file.name) {
            unlink(directory.appending(path: file.name).path)
        }
    }

    private func snapshotFiles() -> [(name: String, gallery: GalleryRecord.ID, isIndex: Bool)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.compactMap { name in
            guard name.hasPrefix("gallery-") else { return nil }
            let rest = name.dropFirst("gallery-".count)
            let digits = rest.prefix { $0.isASCII && $0.isNumber }
            guard let id = Int64(digits) else { return nil }
            let suffix = rest.dropFirst(digits.count)
            if suffix.hasPrefix(".manifest") { return (name, GalleryRecord.ID(id), false) }
            if suffix.hasPrefix("-r"), suffix.contains(".index") { return (name, GalleryRecord.ID(id), true) }
            return nil
        }
    }
}

/// A gallery's index from its snapshot, or why there is none to use.
enum SnapshotLoad {
    /// The index, the revision it reflects and, in format 2, the feed position it was saved at.
    case loaded(GalleryIndex, revision: Int64, position: ChangeFeedPosition?)
    case unavailable(RebuildReason)
}

/// Why a snapshot file could not be read or written.
enum SnapshotFileError: Error, CustomStringConvertible {
    case cannotRead(path: String, errno: Int32)
    case truncated(path: String)
    case malformed(path: String, reason: String)
    case cannotWrite(path: String, reason: String)

    var description: String {
        switch self {
        case let .cannotRead(path, code): "cannot read \(path): \(String(cString: strerror(code)))"
        case let .truncated(path): "\(path) is truncated"
        case let .malformed(path, reason): "\(path): \(reason)"
        case let .cannotWrite(path, reason): "cannot write \(path): \(reason)"
        }
    }
}

/// Positioned reads of one file, and atomic whole-file writes.
private final class SnapshotFile {
    let path: String
    let size: Int
    private let descriptor: Int32

    init(readingFrom path: String) throws(SnapshotFileError) {
        self.path = path
        descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw .cannotRead(path: path, errno: errno) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            let code = errno
            close(descriptor)
            throw .cannotRead(path: path, errno: code)
        }
        size = Int(status.st_size)
    }

    deinit { close(descriptor) }

    func read(at offset: Int, count: Int, path: String) throws(SnapshotFileError) -> [UInt8] {
        guard offset >= 0, count >= 0, offset <= size, count <= size - offset else { throw .truncated(path: path) }
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let got = bytes.withUnsafeMutableBytes { buffer in
                pread(descriptor, buffer.baseAddress! + done, count - done, off_t(offset + done))
            }
            if got < 0 {
                if errno == EINTR { continue }
                throw .cannotRead(path: path, errno: errno)
            }
            guard got > 0 else { throw .truncated(path: path) }
            done += got
        }
        return bytes
    }

    /// Writes `bytes` to `path.partial`, syncs it and renames it over `path`.
    static func writeAtomically(_ bytes: [UInt8], to path: String) throws(SnapshotFileError) {
        let temporary = path + ".partial"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard descriptor >= 0 else { throw .cannotWrite(path: temporary, reason: String(cString: strerror(errno))) }
        var done = 0
        var failure: Int32 = 0
        while done < bytes.count {
            let written = bytes.withUnsafeBytes { buffer in
                write(descriptor, buffer.baseAddress! + done, bytes.count - done)
            }
            if written < 0 {
                if errno == EINTR { continue }
                failure = errno
                break
            }
            done += written
        }
        if failure == 0, fsync(descriptor) != 0 { failure = errno }
        if close(descriptor) != 0, failure == 0 { failure = errno }
        if failure == 0, rename(temporary, path) != 0 { failure = errno }
        if failure != 0 {
            unlink(temporary)
            throw .cannotWrite(path: path, reason: String(cString: strerror(failure)))
        }
    }

    /// Makes renames in `directory` durable; best effort (a lost rename only costs a rebuild).
    static func syncDirectory(_ directory: String) {
        let descriptor = open(directory, O_RDONLY)
        guard descriptor >= 0 else { return }
        _ = fsync(descriptor)
        close(descriptor)
    }
}

/// Little-endian fields appended to a byte array.
private struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func uint32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
    mutating func uint64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
    mutating func int64(_ value: Int64) { uint64(UInt64(bitPattern: value)) }

    mutating func string(_ value: String) {
        let utf8 = Array(value.utf8)
        uint32(UInt32(utf8.count))
        bytes += utf8
    }
}

/// Little-endian fields read from a byte array, every read bounds-checked.
private struct ByteReader {
    private let storage: [UInt8]
    private let path: String
    private var position = 0

    init(_ bytes: [UInt8], path: String) {
        storage = bytes
        self.path = path
    }

    var isAtEnd: Bool { position == storage.count }

    mutating func bytes(_ count: Int) throws(SnapshotFileError) -> [UInt8] {
        guard count <= storage.count - position else { throw .malformed(path: path, reason: "a field runs past the end") }
        defer { position += count }
        return Array(storage[position..<position + count])
    }

    mutating func uint32() throws(SnapshotFileError) -> UInt32 {
        guard 4 <= storage.count - position else { throw .malformed(path: path, reason: "a field runs past the end") }
        defer { position += 4 }
        return storage.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: position, as: UInt32.self)) }
    }

    mutating func uint64() throws(SnapshotFileError) -> UInt64 {
        guard 8 <= storage.count - position else { throw .malformed(path: path, reason: "a field runs past the end") }
        defer { position += 8 }
        return storage.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: position, as: UInt64.self)) }
    }

    mutating func int64() throws(SnapshotFileError) -> Int64 { Int64(bitPattern: try uint64()) }

    mutating func string() throws(SnapshotFileError) -> String {
        let count = Int(try uint32())
        guard count <= storage.count - position else { throw .malformed(path: path, reason: "a string runs past the end") }
        defer { position += count }
        return storage.withUnsafeBufferPointer { String(decoding: $0[position..<position + count], as: UTF8.self) }
    }
}
