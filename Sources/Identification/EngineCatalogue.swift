import FaceEngine
import Gallery

/// The recognition engines a service can make templates with and search by: the detector's own
/// SFace (``FaceEngine``) and those of an optional registry. A gallery engine counts as installed
/// when an engine of that identifier makes templates of the same tag.
struct EngineCatalogue: Sendable {
    /// The shared detector, whose own recogniser (SFace) makes its analyses' templates.
    let faceEngine: FaceEngine
    /// Further engines, chosen once by the program.
    let registry: RecognitionEngineRegistry?

    /// The registry's engine for a gallery's entry, when installed with the same template tag.
    func engine(for entry: GalleryEngine) -> (any RecognitionEngine)? {
        guard let engine = try? registry?.engine(named: entry.identifier),
            engine.profile.templateModel == entry.templateModel
        else { return nil }
        return engine
    }

    /// The installed engine's profile for an identifier, from the registry.
    func profile(named identifier: String) -> RecognitionEngineProfile? {
        (try? registry?.engine(named: identifier))?.profile
    }

    /// True when the detector's own analysis already makes this entry's templates.
    func isDetectorRecogniser(_ entry: GalleryEngine) -> Bool {
        entry.templateModel == faceEngine.templateModelIdentifier
    }

    /// How an entry's templates compare, when its engine is installed here.
    func comparison(of entry: GalleryEngine) -> TemplateComparison? {
        if let engine = engine(for: entry) { return engine.profile.comparison }
        return isDetectorRecogniser(entry) ? .cosineSimilarity : nil
    }

    /// The index layouts of the gallery's engines installed here, in the gallery's order.
    func layouts(for record: GalleryRecord) -> [EngineIndexLayout] {
        record.engines.compactMap { entry in
            comparison(of: entry).map { EngineIndexLayout(engine: entry, comparison: $0) }
        }
    }

    /// The gallery entry for an installed engine named `identifier`; the detector's recogniser
    /// is "sface" when no registry names it.
    func galleryEngine(named identifier: String) -> GalleryEngine? {
        if let profile = profile(named: identifier) {
            return GalleryEngine(
                identifier: profile.identifier, templateModel: profile.templateModel, templateLength: profile.templateLength,
                unitLength: profile.comparison == .cosineSimilarity)
        }
        guard identifier == GalleryEngine.legacyIdentifier else { return nil }
        return .legacy(templateModel: faceEngine.templateModelIdentifier)
    }

    /// The identifiers of every engine a gallery may name here.
    var installedIdentifiers: [String] {
        var names = registry?.identifiers ?? []
        if !names.contains(GalleryEngine.legacyIdentifier) { names.insert(GalleryEngine.legacyIdentifier, at: 0) }
        return names
    }

    /// The same-subject threshold an engine publishes (SFace's 0.363 for the detector's own).
    func publishedThreshold(of identifier: String) -> Float {
        profile(named: identifier)?.sameSubjectThreshold ?? GalleryRecord.defaultOperatingThreshold
    }
}
