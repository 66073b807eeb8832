/// One recognition engine of a gallery: which engine makes its templates, the tag they carry and
/// their shape. A gallery names one or more; each subject holds templates of each.
///
/// The store knows engines only by these facts (it links no engine): it checks every template
/// against the entry whose ``templateModel`` the template carries.
public struct GalleryEngine: Codable, Sendable, Hashable {
    /// The engine's identifier in requests and reports ("sface", "dlib").
    public var identifier: String
    /// The tag every template of this engine carries (for example "sface-2021dec").
    public var templateModel: String
    /// Values in one template.
    public var templateLength: Int
    /// True when the engine's templates are unit vectors (compared by cosine); the store then
    /// refuses a template whose norm is not 1.
    public var unitLength: Bool
    /// The engine's operating threshold in its native units (a cosine, or a distance for a
    /// Euclidean engine); nil for the gallery's default engine, whose threshold is the gallery's
    /// ``GalleryRecord/operatingThreshold``.
    public var operatingThreshold: Float?
    /// The job making this engine's templates for subjects enrolled before it was added; while
    /// set, the engine is not searched (its index is incomplete). Nil once the job has finished.
    public var templatingJob: String?

    /// An engine entry from its parts.
    public init(
        identifier: String, templateModel: String, templateLength: Int, unitLength: Bool, operatingThreshold: Float? = nil,
        templatingJob: String? = nil
    ) {
        self.identifier = identifier
        self.templateModel = templateModel
        self.templateLength = templateLength
        self.unitLength = unitLength
        self.operatingThreshold = operatingThreshold
        self.templatingJob = templatingJob
    }

    /// True while the engine's templating job runs.
    public var isTemplating: Bool { templatingJob != nil }

    /// The identifier galleries made before engines were named are given (they hold SFace templates).
    public static let legacyIdentifier = "sface"

    /// The single engine of a gallery made before engines were named: SFace unit templates of
    /// the stored length, tagged `templateModel`.
    public static func legacy(templateModel: String) -> GalleryEngine {
        GalleryEngine(
            identifier: legacyIdentifier, templateModel: templateModel, templateLength: TemplateFormat.dimension,
            unitLength: true)
    }
}

extension GalleryRecord {
    /// The entry of the engine named `identifier`, if the gallery has it.
    public func engine(named identifier: String) -> GalleryEngine? {
        engines.first { $0.identifier == identifier }
    }

    /// The entry of the engine whose templates carry `templateModel`, if the gallery has it.
    public func engine(templateModel: String) -> GalleryEngine? {
        engines.first { $0.templateModel == templateModel }
    }

    /// The operating threshold of an engine of the gallery, in its native units: the gallery's
    /// own for the default engine, the entry's for the others (nil when the entry has none).
    public func operatingThreshold(of engine: String) -> Float? {
        engine == defaultEngine ? operatingThreshold : self.engine(named: engine)?.operatingThreshold
    }
}

/// The migration that gives galleries their engines, the same in both dialects: every gallery
/// made before it holds SFace templates, so it gets the single engine "sface" (its templates'
/// tag, the stored length, unit vectors) as its default; its templates keep their tags.
enum GalleryEngineMigration {
    static let identifier = "gallery.v5-gallery-engines"

    /// `text` is the dialect's text type.
    static func statements(text: String) -> [String] {
        [
            "ALTER TABLE galleries ADD COLUMN engines \(text) NOT NULL DEFAULT '[]'",
            "ALTER TABLE galleries ADD COLUMN default_engine \(text) NOT NULL DEFAULT '\(GalleryEngine.legacyIdentifier)'",
            """
            UPDATE galleries SET engines = '[{"identifier":"\(GalleryEngine.legacyIdentifier)","templateModel":"' || \
            model_identifier || '","templateLength":\(TemplateFormat.dimension),"unitLength":true}]'
            """,
        ]
    }

    /// The engines column as stored.
    static func encode(_ engines: [GalleryEngine]) throws(GalleryError) -> String {
        try StorageEncoding.json(engines)
    }

    /// The engines of a stored gallery (an empty list, which validation never stores, reads as
    /// the legacy engine).
    static func decode(_ text: String, modelIdentifier: String) throws(GalleryError) -> [GalleryEngine] {
        let engines = try StorageEncoding.decodeJSON([GalleryEngine].self, from: text)
        return engines.isEmpty ? [.legacy(templateModel: modelIdentifier)] : engines
    }
}
