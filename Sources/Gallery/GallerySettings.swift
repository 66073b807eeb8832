import Foundation

/// A gallery's settings beyond its engines and threshold, stored as JSON so a new setting needs
/// no migration. A setting missing from the stored JSON takes its default.
public struct GallerySettings: Codable, Sendable, Hashable {
    /// Whether enrolment images are kept, sealed, so an engine added later can make its templates
    /// from them (re-templating). On by default; without it, a new engine needs the images
    /// supplied again.
    public var keepsEnrolmentImages: Bool
    /// The fused comparison's calibration for this gallery, when `biomatch calibrate` recorded
    /// one; nil: the engines' published impostor statistics and the built-in fused threshold.
    public var fusion: FusionCalibration?

    /// Settings from their parts; the defaults are those of a new gallery.
    public init(keepsEnrolmentImages: Bool = true, fusion: FusionCalibration? = nil) {
        self.keepsEnrolmentImages = keepsEnrolmentImages
        self.fusion = fusion
    }

    private enum CodingKeys: String, CodingKey { case keepsEnrolmentImages, fusion }

    /// Decodes stored settings; absent keys take their defaults.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        keepsEnrolmentImages = try container.decodeIfPresent(Bool.self, forKey: .keepsEnrolmentImages) ?? true
        fusion = try container.decodeIfPresent(FusionCalibration.self, forKey: .fusion)
    }
}

/// How a gallery fuses its engines' scores: each engine's similarity is normalised against its
/// impostor distribution, the normalised scores are averaged, and the average is compared with
/// ``threshold``. Recorded by `biomatch calibrate --engine fusion --gallery G`.
public struct FusionCalibration: Codable, Sendable, Hashable {
    /// One engine's impostor similarity distribution.
    public struct Statistics: Codable, Sendable, Hashable {
        /// Mean impostor similarity.
        public var mean: Float
        /// Standard deviation of impostor similarities (positive).
        public var deviation: Float

        /// Statistics from their parts.
        public init(mean: Float, deviation: Float) {
            self.mean = mean
            self.deviation = deviation
        }
    }

    /// Each engine's impostor statistics, by engine identifier.
    public var statistics: [String: Statistics]
    /// The fused score at or above which a comparison reads as the same person.
    public var threshold: Float
    /// The false-match rate the threshold was chosen for.
    public var targetFalseMatchRate: Double
    /// What the calibration was measured on (dataset and counts), for the record.
    public var source: String

    /// A calibration from its parts.
    public init(statistics: [String: Statistics], threshold: Float, targetFalseMatchRate: Double, source: String) {
        self.statistics = statistics
        self.threshold = threshold
        self.targetFalseMatchRate = targetFalseMatchRate
        self.source = source
    }
}

/// A change to a gallery's engines or settings, made by ``GalleryStore/reconfigureGallery(_:_:companion:)``.
public enum GalleryReconfiguration: Sendable, Hashable {
    /// Adds an engine. Its ``GalleryEngine/templatingJob`` names the job that makes the
    /// templates of subjects already enrolled; until that job ends, the engine is not searched.
    case addEngine(GalleryEngine)
    /// The templating job of an engine has finished: the engine is searched from now on.
    case engineTemplated(String)
    /// Removes an engine (never the default) with every template it made.
    case dropEngine(String)
    /// Replaces the gallery's settings.
    case settings(GallerySettings)
    /// Records the fused comparison's calibration (nil: back to the engines' published impostor
    /// statistics and the built-in fused threshold), leaving the other settings as they are.
    case fusionCalibration(FusionCalibration?)
    /// Sets the operating threshold of an engine other than the default, in its native units
    /// (nil: the engine's published threshold).
    case engineThreshold(String, Float?)

    /// True when the change alters which engines the gallery holds or searches: the indexes
    /// need rebuilding and the gallery's revision advances.
    public var changesEngines: Bool {
        switch self {
        case .addEngine, .engineTemplated, .dropEngine: true
        case .settings, .fusionCalibration, .engineThreshold: false
        }
    }
}

/// What a reconfiguration did.
public struct GalleryReconfigurationReceipt: Sendable, Hashable {
    /// The gallery as it stands afterwards.
    public var gallery: GalleryRecord
    /// The change made.
    public var change: GalleryReconfiguration
    /// Templates removed (only when an engine was dropped).
    public var removedTemplates: Int

    /// A receipt from its parts.
    public init(gallery: GalleryRecord, change: GalleryReconfiguration, removedTemplates: Int) {
        self.gallery = gallery
        self.change = change
        self.removedTemplates = removedTemplates
    }
}

/// Templates for one enrolled subject, added by ``GalleryStore/addMissingTemplates(_:in:companion:)``.
public struct TemplateAddition: Sendable, Hashable {
    /// The subject.
    public var subject: SubjectRecord.ID
    /// Its new templates.
    public var templates: [NewTemplate]

    /// An addition from its parts.
    public init(subject: SubjectRecord.ID, templates: [NewTemplate]) {
        self.subject = subject
        self.templates = templates
    }
}

extension GalleryRecord {
    /// The gallery after `change`, checked like a new gallery's engines.
    /// - Throws: ``GalleryError/invalidInput(field:reason:)`` for an engine the gallery already
    ///   has (adding) or lacks (the others), for dropping the default engine, or for a
    ///   calibration or threshold out of range.
    public func reconfigured(by change: GalleryReconfiguration) throws(GalleryError) -> GalleryRecord {
        var updated = self
        switch change {
        case let .addEngine(entry):
            guard engine(named: entry.identifier) == nil else {
                throw .invalidInput(field: "engine", reason: "gallery '\(name)' already has engine '\(entry.identifier)'")
            }
            updated.engines.append(entry)
        case let .engineTemplated(identifier):
            let position = try position(of: identifier)
            updated.engines[position].templatingJob = nil
        case let .dropEngine(identifier):
            let position = try position(of: identifier)
            guard identifier != defaultEngine else {
                throw .invalidInput(
                    field: "engine", reason: "'\(identifier)' is gallery '\(name)''s default engine and cannot be dropped")
            }
            updated.engines.remove(at: position)
            // The fused threshold was fitted with the dropped engine's scores: it no longer holds.
            if updated.settings.fusion?.statistics[identifier] != nil { updated.settings.fusion = nil }
        case let .settings(settings):
            if let fusion = settings.fusion { try Self.validate(fusion) }
            updated.settings = settings
        case let .fusionCalibration(fusion):
            if let fusion { try Self.validate(fusion) }
            updated.settings.fusion = fusion
        case let .engineThreshold(identifier, threshold):
            let position = try position(of: identifier)
            guard identifier != defaultEngine else {
                throw .invalidInput(
                    field: "engine", reason: "the default engine's threshold is the gallery's operating threshold")
            }
            updated.engines[position].operatingThreshold = threshold
        }
        try InputValidation.validate(engines: updated.engines, defaultEngine: updated.defaultEngine)
        return updated
    }

    /// A calibration's figures: a finite threshold, a target FMR in (0, 1), and for each engine
    /// a finite mean and a positive deviation.
    private static func validate(_ fusion: FusionCalibration) throws(GalleryError) {
        guard fusion.threshold.isFinite else {
            throw .invalidInput(field: "fusion", reason: "the fused threshold must be finite")
        }
        guard fusion.targetFalseMatchRate > 0, fusion.targetFalseMatchRate < 1 else {
            throw .invalidInput(field: "fusion", reason: "the target false-match rate must lie strictly between 0 and 1")
        }
        for (engine, statistics) in fusion.statistics {
            guard statistics.mean.isFinite, statistics.deviation.isFinite, statistics.deviation > 0 else {
                throw .invalidInput(
                    field: "fusion", reason: "engine '\(engine)''s impostor statistics need a finite mean and a positive deviation")
            }
        }
    }

    private func position(of identifier: String) throws(GalleryError) -> Int {
        guard let position = engines.firstIndex(where: { $0.identifier == identifier }) else {
            throw .invalidInput(
                field: "engine",
                reason: "gallery '\(name)' has no engine '\(identifier)' (it has \(engines.map(\.identifier).joined(separator: ", ")))")
        }
        return position
    }
}

/// The migration that gives galleries their settings column, the same in both dialects
/// (`{}`: every setting at its default).
enum GallerySettingsMigration {
    static let identifier = "gallery.v6-gallery-settings"

    static func statements(text: String) -> [String] {
        ["ALTER TABLE galleries ADD COLUMN settings \(text) NOT NULL DEFAULT '{}'"]
    }

    static func encode(_ settings: GallerySettings) throws(GalleryError) -> String {
        try StorageEncoding.json(settings)
    }

    static func decode(_ text: String) throws(GalleryError) -> GallerySettings {
        try StorageEncoding.decodeJSON(GallerySettings.self, from: text)
    }
}

/// Which engine made a template from which image: a subject holds at most one template per
/// origin once re-templating is involved (``GalleryStore/addMissingTemplates(_:in:companion:)``).
struct TemplateOrigin: Hashable {
    var model: String
    var sourceImageSHA256: String

    init(model: String, sourceImageSHA256: String) {
        self.model = model
        self.sourceImageSHA256 = sourceImageSHA256.lowercased()
    }

    init(_ template: NewTemplate) {
        self.init(model: template.modelIdentifier, sourceImageSHA256: template.sourceImageSHA256)
    }
}
