import Crypto
import Foundation
import Gallery

/// What an audit entry records.
public enum AuditAction: String, Sendable, Hashable, CaseIterable, Codable {
    /// A gallery was created.
    case galleryCreated
    /// A gallery's operating threshold changed; `parameters.reason` says why.
    case thresholdChanged
    /// A gallery and all its subjects and templates were erased.
    case galleryDeleted
    /// A subject was enrolled.
    case subjectEnrolled
    /// Templates were added to a subject.
    case templatesAdded
    /// A subject was erased on request.
    case subjectErased
    /// A 1:N search ran; `result.candidates` lists subject identifiers and scores.
    case search
    /// A 1:1 verification ran.
    case verify
    /// Two images were compared 1:1, neither of them enrolled.
    case compare
    /// Faces were detected in an image.
    case detect
    /// An API key was created.
    case keyCreated
    /// An API key was revoked.
    case keyRevoked
    /// A reviewer decided on a candidate.
    case reviewDecision
    /// A subject was erased because its retention period ended.
    case retentionErasure
    /// A gallery's engines or settings changed: an engine added (its templating job started),
    /// its templates completed, an engine dropped, a fusion calibration or engine threshold
    /// recorded. `parameters.change` says which.
    case galleryReconfigured
    /// Everything held about one subject was disclosed (a subject access request);
    /// `parameters.subjectID` names them, the purpose and case reference say why.
    case subjectAccessed

    /// The kind of gallery change the action accompanies, or nil for actions appended on their own.
    var expectedChange: ExpectedChange? {
        switch self {
        case .galleryCreated: .galleryCreated
        case .thresholdChanged: .thresholdChanged
        case .galleryDeleted: .galleryDeleted
        case .subjectEnrolled: .subjectEnrolled
        case .templatesAdded: .templatesAdded
        case .subjectErased, .retentionErasure: .subjectDeleted
        case .galleryReconfigured: .galleryReconfigured
        case .search, .verify, .compare, .detect, .keyCreated, .keyRevoked, .reviewDecision, .subjectAccessed: nil
        }
    }

    enum ExpectedChange {
        case galleryCreated, thresholdChanged, galleryDeleted, subjectEnrolled, templatesAdded, subjectDeleted
        case galleryReconfigured
    }
}

/// Who caused an audited action.
public enum AuditActor: Sendable, Hashable, CustomStringConvertible {
    /// A request made with this API key, which had this role.
    case key(APIKey.ID, Role)
    /// The system itself, named by component: `cli` (a local operator), `bootstrap`, `retention`.
    case system(String)

    public var description: String {
        switch self {
        case .key(let id, let role): "\(id) (\(role))"
        case .system(let component): "system (\(component))"
        }
    }
}

/// One entry of the audit chain, as stored.
///
/// Columns of the `audit_log` table, in hash order (after the storage-only `position`):
///
/// | column | type | meaning |
/// |---|---|---|
/// | `position` | integer | storage order, not hashed; equals `sequence` unless rows were moved |
/// | `sequence` | integer | 1, 2, 3, … with no gaps |
/// | `recorded_at_ms` | integer | milliseconds since 1970-01-01 UTC |
/// | `key_id` | integer or null | the API key, null for system actions |
/// | `role` | text or null | the key's role when it acted |
/// | `system_actor` | text or null | the component, for system actions |
/// | `action` | text | an ``AuditAction`` raw value |
/// | `gallery_id` | integer or null | the gallery's store identifier |
/// | `gallery_name` | text or null | its name |
/// | `purpose` | text or null | the stated purpose (searches, verifications) |
/// | `case_reference` | text or null | the stated case reference |
/// | `probe_sha256` | text or null | SHA-256 of the probe image bytes, lower-case hex |
/// | `parameters` | text | canonical JSON object (see ``JSONValue``) |
/// | `result` | text | canonical JSON object |
/// | `previous_hash` | text | the previous entry's `entry_hash`; 64 zeros for the first |
/// | `entry_hash` | text | this entry's hash, lower-case hex |
///
/// **The hash** (version 1): `entry_hash` = lower-case hex of SHA-256 over the concatenation
/// of `F("biomatch-audit-v1")` and `F(column)` for each column from `sequence` to
/// `previous_hash` in the order above, where `F(null)` is the single byte `0x00` and `F(value)`
/// is the byte `0x01`, the UTF-8 length of the value's text as an unsigned 64-bit big-endian
/// integer, then that text. An integer's text is its decimal form (`-` for negatives, no
/// leading zeros). So in Python:
///
/// ```
/// F = lambda v: b"\0" if v is None else b"\1" + len(s := str(v).encode()).to_bytes(8, "big") + s
/// sha256(F("biomatch-audit-v1") + F(seq) + F(ms) + ... + F(previous_hash)).hexdigest()
/// ```
///
/// Images and templates never enter the log: only their SHA-256 digests.
public struct AuditEntry: Sendable, Hashable {
    /// Position in the chain, from 1.
    public var sequence: Int64
    /// When the entry was written, in milliseconds since 1970 UTC (the hashed form).
    public var recordedAtMilliseconds: Int64
    /// Who acted.
    public var actor: AuditActor
    /// What they did.
    public var action: AuditAction
    /// The gallery concerned, by store identifier.
    public var galleryID: GalleryRecord.ID?
    /// The gallery concerned, by name.
    public var galleryName: String?
    /// The stated purpose of a search or verification.
    public var purpose: String?
    /// The stated case reference of a search or verification.
    public var caseReference: String?
    /// SHA-256 of the probe image, lower-case hex.
    public var probeSHA256: String?
    /// The request's parameters, canonical JSON.
    public var parameters: String
    /// The outcome (subject identifiers and scores, erased identifiers…), canonical JSON.
    public var result: String
    /// The previous entry's ``entryHash`` (``AuditEntry/genesisHash`` for the first entry).
    public var previousHash: String
    /// This entry's hash.
    public var entryHash: String

    /// The `previous_hash` of the first entry: 64 zeros.
    public static let genesisHash = String(repeating: "0", count: 64)

    /// When the entry was written.
    public var recordedAt: Date { Date(timeIntervalSince1970: Double(recordedAtMilliseconds) / 1000) }

    /// The head of the chain this entry ends, for anchoring elsewhere.
    public var head: AuditHead { AuditHead(sequence: sequence, hash: entryHash) }

    /// The hash the entry's fields give (equal to ``entryHash`` unless someone changed them).
    public func computedHash() -> String { AuditRow(self, position: sequence).computedHash() }
}

/// A point of the chain, written down elsewhere (a ticket, a printout, another system) so that
/// later verification can prove the log still holds it: the hash chain alone cannot notice the
/// newest entries being dropped, or the whole chain being rewritten.
public struct AuditHead: Sendable, Hashable, CustomStringConvertible {
    /// The entry's sequence number.
    public var sequence: Int64
    /// Its `entry_hash`.
    public var hash: String

    /// Names a chain position.
    public init(sequence: Int64, hash: String) {
        self.sequence = sequence
        self.hash = hash
    }

    /// Parses `SEQUENCE:HASH`.
    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let sequence = Int64(parts[0]), sequence > 0,
            parts[1].utf8.count == 64, [UInt8](hexadecimal: String(parts[1])) != nil
        else { return nil }
        self.init(sequence: sequence, hash: parts[1].lowercased())
    }

    /// `SEQUENCE:HASH`.
    public var description: String { "\(sequence):\(hash)" }
}

/// An audit row exactly as stored, columns untyped beyond integer/text, so that tampered rows
/// can still be hashed, exported and reported rather than failing to decode.
struct AuditRow: Sendable, Hashable {
    var position: Int64
    var sequence: Int64
    var recordedAtMilliseconds: Int64
    var keyID: Int64?
    var role: String?
    var systemActor: String?
    var action: String
    var galleryID: Int64?
    var galleryName: String?
    var purpose: String?
    var caseReference: String?
    var probeSHA256: String?
    var parameters: String
    var result: String
    var previousHash: String
    var entryHash: String

    static let hashDomain = "biomatch-audit-v1"

    /// The hashed fields in order: integers as decimal text.
    var hashedFields: [String?] {
        [
            Self.hashDomain, String(sequence), String(recordedAtMilliseconds), keyID.map { String($0) }, role,
            systemActor, action, galleryID.map { String($0) }, galleryName, purpose, caseReference, probeSHA256,
            parameters, result, previousHash,
        ]
    }

    func computedHash() -> String {
        var hasher = SHA256()
        for field in hashedFields {
            guard let field else {
                hasher.update(data: [0])
                continue
            }
            let bytes = Array(field.utf8)
            var header: [UInt8] = [1]
            withUnsafeBytes(of: UInt64(bytes.count).bigEndian) { header.append(contentsOf: $0) }
            hasher.update(data: header)
            hasher.update(data: bytes)
        }
        return Array(hasher.finalize()).hexadecimal
    }

    init(
        position: Int64, sequence: Int64, recordedAtMilliseconds: Int64, keyID: Int64?, role: String?,
        systemActor: String?, action: String, galleryID: Int64?, galleryName: String?, purpose: String?,
        caseReference: String?, probeSHA256: String?, parameters: String, result: String, previousHash: String,
        entryHash: String
    ) {
        self.position = position
        self.sequence = sequence
        self.recordedAtMilliseconds = recordedAtMilliseconds
        self.keyID = keyID
        self.role = role
        self.systemActor = systemActor
        self.action = action
        self.galleryID = galleryID
        self.galleryName = galleryName
        self.purpose = purpose
        self.caseReference = caseReference
        self.probeSHA256 = probeSHA256
        self.parameters = parameters
        self.result = result
        self.previousHash = previousHash
        self.entryHash = entryHash
    }

    init(_ entry: AuditEntry, position: Int64) {
        var keyID: Int64?
        var role: String?
        var systemActor: String?
        switch entry.actor {
        case .key(let id, let keyRole):
            keyID = id.rawValue
            role = keyRole.rawValue
        case .system(let component):
            systemActor = component
        }
        self.init(
            position: position, sequence: entry.sequence, recordedAtMilliseconds: entry.recordedAtMilliseconds,
            keyID: keyID, role: role, systemActor: systemActor, action: entry.action.rawValue,
            galleryID: entry.galleryID?.rawValue, galleryName: entry.galleryName, purpose: entry.purpose,
            caseReference: entry.caseReference, probeSHA256: entry.probeSHA256, parameters: entry.parameters,
            result: entry.result, previousHash: entry.previousHash, entryHash: entry.entryHash)
    }

    /// The typed entry, or a description of the first field that does not decode.
    func entry() throws(GovernanceError) -> AuditEntry {
        func malformed(_ reason: String) -> GovernanceError {
            .malformedRow(table: GovernanceSchema.auditTable, reason: "position \(position): \(reason)")
        }
        guard let action = AuditAction(rawValue: action) else { throw malformed("unknown action '\(action)'") }
        let actor: AuditActor
        switch (keyID, role, systemActor) {
        case (let id?, let roleName?, nil):
            guard let role = Role(rawValue: roleName) else { throw malformed("unknown role '\(roleName)'") }
            actor = .key(APIKey.ID(id), role)
        case (nil, nil, let component?):
            actor = .system(component)
        default:
            throw malformed("names neither a key with its role nor a system actor")
        }
        return AuditEntry(
            sequence: sequence, recordedAtMilliseconds: recordedAtMilliseconds, actor: actor, action: action,
            galleryID: galleryID.map(GalleryRecord.ID.init(rawValue:)), galleryName: galleryName, purpose: purpose,
            caseReference: caseReference, probeSHA256: probeSHA256, parameters: parameters, result: result,
            previousHash: previousHash, entryHash: entryHash)
    }

    // MARK: Store rows

    /// The row as the store takes it.
    var storeRow: StoreRow {
        func text(_ value: String?) -> StoreValue { value.map(StoreValue.text) ?? .null }
        func integer(_ value: Int64?) -> StoreValue { value.map(StoreValue.integer) ?? .null }
        return [
            "position": .integer(position), "sequence": .integer(sequence),
            "recorded_at_ms": .integer(recordedAtMilliseconds), "key_id": integer(keyID), "role": text(role),
            "system_actor": text(systemActor), "action": .text(action), "gallery_id": integer(galleryID),
            "gallery_name": text(galleryName), "purpose": text(purpose), "case_reference": text(caseReference),
            "probe_sha256": text(probeSHA256), "parameters": .text(parameters), "result": .text(result),
            "previous_hash": .text(previousHash), "entry_hash": .text(entryHash),
        ]
    }

    /// Reads a stored row; throws only if a column is missing or of the wrong type.
    init(_ row: StoreRow) throws(GovernanceError) {
        let reader = ColumnReader(row: row, table: GovernanceSchema.auditTable)
        let position = try reader.integer("position")
        let context = "position \(position)"
        self.init(
            position: position, sequence: try reader.integer("sequence", context),
            recordedAtMilliseconds: try reader.integer("recorded_at_ms", context),
            keyID: try reader.optionalInteger("key_id", context), role: try reader.optionalText("role", context),
            systemActor: try reader.optionalText("system_actor", context), action: try reader.text("action", context),
            galleryID: try reader.optionalInteger("gallery_id", context),
            galleryName: try reader.optionalText("gallery_name", context),
            purpose: try reader.optionalText("purpose", context),
            caseReference: try reader.optionalText("case_reference", context),
            probeSHA256: try reader.optionalText("probe_sha256", context),
            parameters: try reader.text("parameters", context), result: try reader.text("result", context),
            previousHash: try reader.text("previous_hash", context), entryHash: try reader.text("entry_hash", context))
    }

    // MARK: Export lines

    /// The export line: a canonical JSON object keyed by column name, without `position`.
    var exportLine: String {
        func text(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }
        func integer(_ value: Int64?) -> JSONValue { value.map(JSONValue.integer) ?? .null }
        let object: JSONValue = [
            "sequence": .integer(sequence), "recorded_at_ms": .integer(recordedAtMilliseconds),
            "key_id": integer(keyID), "role": text(role), "system_actor": text(systemActor), "action": .string(action),
            "gallery_id": integer(galleryID), "gallery_name": text(galleryName), "purpose": text(purpose),
            "case_reference": text(caseReference), "probe_sha256": text(probeSHA256), "parameters": .string(parameters),
            "result": .string(result), "previous_hash": .string(previousHash), "entry_hash": .string(entryHash),
        ]
        return object.canonicalText
    }

    /// Reads an export line; `line` (from 1) becomes the row's position.
    init(exportLine text: String, line: Int) throws(GovernanceError) {
        let exported: ExportedAuditRow
        do {
            exported = try JSONDecoder().decode(ExportedAuditRow.self, from: Data(text.utf8))
        } catch {
            throw .malformedExport(line: line, reason: Self.describe(error))
        }
        self.init(
            position: Int64(line), sequence: exported.sequence, recordedAtMilliseconds: exported.recordedAtMilliseconds,
            keyID: exported.keyID, role: exported.role, systemActor: exported.systemActor, action: exported.action,
            galleryID: exported.galleryID, galleryName: exported.galleryName, purpose: exported.purpose,
            caseReference: exported.caseReference, probeSHA256: exported.probeSHA256,
            parameters: exported.parameters, result: exported.result, previousHash: exported.previousHash,
            entryHash: exported.entryHash)
    }

    private static func describe(_ error: any Error) -> String {
        switch error as? DecodingError {
        case .keyNotFound(let key, _)?: "'\(key.stringValue)' is missing"
        case .typeMismatch(_, let context)?, .valueNotFound(_, let context)?:
            "'\(context.codingPath.map(\.stringValue).joined(separator: "."))' has the wrong type"
        case .dataCorrupted(let context)?: "not JSON (\(context.debugDescription))"
        default: String(describing: error)
        }
    }
}

/// An export line as JSON, keys named like the columns.
private struct ExportedAuditRow: Decodable {
    var sequence: Int64
    var recordedAtMilliseconds: Int64
    var keyID: Int64?
    var role: String?
    var systemActor: String?
    var action: String
    var galleryID: Int64?
    var galleryName: String?
    var purpose: String?
    var caseReference: String?
    var probeSHA256: String?
    var parameters: String
    var result: String
    var previousHash: String
    var entryHash: String

    enum CodingKeys: String, CodingKey {
        case sequence, role, action, purpose, parameters, result
        case recordedAtMilliseconds = "recorded_at_ms"
        case keyID = "key_id"
        case systemActor = "system_actor"
        case galleryID = "gallery_id"
        case galleryName = "gallery_name"
        case caseReference = "case_reference"
        case probeSHA256 = "probe_sha256"
        case previousHash = "previous_hash"
        case entryHash = "entry_hash"
    }
}

/// Reads typed columns from a store row, naming the table and column when one is missing.
struct ColumnReader {
    let row: StoreRow
    let table: String

    private func failure(_ column: String, _ context: String, _ problem: String) -> GovernanceError {
        .malformedRow(table: table, reason: (context.isEmpty ? "" : context + ": ") + "\(column) \(problem)")
    }

    func integer(_ column: String, _ context: String = "") throws(GovernanceError) -> Int64 {
        guard let value = try optionalInteger(column, context) else { throw failure(column, context, "is null") }
        return value
    }

    func optionalInteger(_ column: String, _ context: String = "") throws(GovernanceError) -> Int64? {
        switch row[column] {
        case .integer(let value)?: return value
        case .null?: return nil
        case nil: throw failure(column, context, "is missing")
        default: throw failure(column, context, "is not an integer")
        }
    }

    func text(_ column: String, _ context: String = "") throws(GovernanceError) -> String {
        guard let value = try optionalText(column, context) else { throw failure(column, context, "is null") }
        return value
    }

    func optionalText(_ column: String, _ context: String = "") throws(GovernanceError) -> String? {
        switch row[column] {
        case .text(let value)?: return value
        case .null?: return nil
        case nil: throw failure(column, context, "is missing")
        default: throw failure(column, context, "is not text")
        }
    }
}
