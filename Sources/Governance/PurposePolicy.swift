import Foundation
import Gallery

/// A reason a search or verification may be run, and the kinds of gallery it may search.
public struct SearchPurpose: Sendable, Hashable {
    /// The name requests state, for example "missing-person".
    public var name: String
    /// The gallery purposes this purpose may search.
    public var galleryPurposes: Set<GalleryPurpose>

    /// Describes a purpose; by default it may search every kind of gallery.
    public init(_ name: String, galleryPurposes: Set<GalleryPurpose> = Set(GalleryPurpose.allCases)) {
        self.name = name
        self.galleryPurposes = galleryPurposes
    }
}

/// Why a search was run: a configured purpose and the case it serves. Both are written to the
/// audit log with the search.
public struct SearchJustification: Sendable, Hashable, Codable {
    /// The stated purpose, one of the configured names.
    public var purpose: String
    /// The case, investigation or request the search serves (trimmed).
    public var caseReference: String

    /// Pairs a purpose with a case reference; use ``PurposePolicy/justify(purpose:caseReference:gallery:)``
    /// to check them.
    public init(purpose: String, caseReference: String) {
        self.purpose = purpose
        self.caseReference = caseReference
    }
}

/// The purposes searches and verifications may state, and the check every such request passes.
public struct PurposePolicy: Sendable, Hashable {
    /// The configured purposes, in the order they are listed to callers.
    public var purposes: [SearchPurpose]

    /// The longest case reference accepted, in characters.
    public static let maximumCaseReferenceLength = 200

    /// The environment variable that replaces the default list: purpose names separated by commas.
    public static let environmentKey = "BIOMATCH_SEARCH_PURPOSES"

    /// The defaults: each purpose may search the kinds of gallery that plausibly serve it
    /// (every purpose may search `other` galleries, which hold evaluation data).
    public static let defaultPurposes: [SearchPurpose] = [
        SearchPurpose("criminal-investigation", galleryPurposes: [.custody, .watchlist, .other]),
        SearchPurpose("immigration-check", galleryPurposes: [.immigration, .other]),
        SearchPurpose("missing-person", galleryPurposes: [.custody, .immigration, .watchlist, .other]),
        SearchPurpose("safeguarding", galleryPurposes: [.custody, .watchlist, .other]),
        SearchPurpose("fraud-prevention", galleryPurposes: [.immigration, .other]),
    ]

    /// A policy with these purposes.
    public init(purposes: [SearchPurpose] = PurposePolicy.defaultPurposes) {
        self.purposes = purposes
    }

    /// The defaults, or the names listed in `BIOMATCH_SEARCH_PURPOSES`. A listed name that is a
    /// default keeps its gallery restrictions; any other name may search every gallery.
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> PurposePolicy {
        guard let listed = environment[environmentKey] else { return PurposePolicy() }
        let names = listed.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        var seen = Set<String>()
        let purposes = names.filter { seen.insert($0).inserted }.map { name in
            defaultPurposes.first { $0.name == name } ?? SearchPurpose(name)
        }
        return PurposePolicy(purposes: purposes)
    }

    /// The configured purpose names.
    public var names: [String] { purposes.map(\.name) }

    /// Checks a request's purpose and case reference, and that the purpose may search `gallery`
    /// (when given). Throws ``GovernanceError/unknownPurpose(_:allowed:)``,
    /// ``GovernanceError/purposeNotForGallery(_:galleryPurpose:)`` or
    /// ``GovernanceError/invalidCaseReference(reason:)``.
    public func justify(
        purpose: String?, caseReference: String?, gallery: GalleryRecord? = nil
    ) throws(GovernanceError) -> SearchJustification {
        let statedPurpose = purpose?.trimmingCharacters(in: .whitespaces) ?? ""
        guard let configured = purposes.first(where: { $0.name == statedPurpose }) else {
            throw .unknownPurpose(statedPurpose, allowed: names)
        }
        if let gallery, !configured.galleryPurposes.contains(gallery.purpose) {
            throw .purposeNotForGallery(statedPurpose, galleryPurpose: gallery.purpose)
        }
        let reference = try Self.checkedCaseReference(caseReference)
        return SearchJustification(purpose: statedPurpose, caseReference: reference)
    }

    /// The trimmed reference, if it is non-empty, short enough and free of control characters.
    static func checkedCaseReference(_ caseReference: String?) throws(GovernanceError) -> String {
        let reference = caseReference?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        if reference.isEmpty {
            throw .invalidCaseReference(reason: "a case reference is required")
        }
        if reference.count > maximumCaseReferenceLength {
            throw .invalidCaseReference(reason: "longer than \(maximumCaseReferenceLength) characters")
        }
        if reference.unicodeScalars.contains(where: { CharacterSet.controlCharacters.contains($0) }) {
            throw .invalidCaseReference(reason: "contains control characters")
        }
        return reference
    }
}
