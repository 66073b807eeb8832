import Foundation
import Gallery

/// Which galleries' searches become review cases: by the gallery's purpose.
public struct ReviewPolicy: Sendable, Hashable {
    /// Gallery purposes whose searches must be reviewed before any identification is reported.
    public var purposesRequiringReview: Set<GalleryPurpose>

    /// Custody and watchlist galleries: their candidates are investigative leads about people.
    public static let defaultPurposes: Set<GalleryPurpose> = [.custody, .watchlist]

    /// The environment variable that replaces the default: gallery purposes separated by commas
    /// (`custody,watchlist,immigration`), or `none`.
    public static let environmentKey = "BIOMATCH_REVIEW_PURPOSES"

    /// A policy for these purposes.
    public init(purposesRequiringReview: Set<GalleryPurpose> = ReviewPolicy.defaultPurposes) {
        self.purposesRequiringReview = purposesRequiringReview
    }

    /// The default, or the purposes listed in `BIOMATCH_REVIEW_PURPOSES`.
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ReviewError) -> ReviewPolicy {
        guard let listed = environment[environmentKey] else { return ReviewPolicy() }
        let names = listed.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        if names == ["none"] { return ReviewPolicy(purposesRequiringReview: []) }
        var purposes = Set<GalleryPurpose>()
        for name in names {
            guard let purpose = GalleryPurpose(rawValue: name) else {
                throw .invalidConfiguration(
                    key: environmentKey,
                    reason: "'\(name)' is not a gallery purpose (\(GalleryPurpose.allCases.map(\.rawValue).joined(separator: ", ")), or 'none')")
            }
            purposes.insert(purpose)
        }
        if purposes.isEmpty {
            throw .invalidConfiguration(key: environmentKey, reason: "lists no purpose; write 'none' to review nothing")
        }
        return ReviewPolicy(purposesRequiringReview: purposes)
    }

    /// Whether searches of `gallery` become review cases.
    public func requiresReview(_ gallery: GalleryRecord) -> Bool {
        purposesRequiringReview.contains(gallery.purpose)
    }
}
