/// Why a labelled dataset could not be read, evaluated or reported.
public enum EvaluationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Nothing exists at the dataset path.
    case datasetMissing(path: String)
    /// The dataset path is a file, not a folder of person folders.
    case datasetNotAFolder(path: String)
    /// A folder exists but its entries could not be listed.
    case unreadableFolder(path: String, reason: String)
    /// The dataset folder holds no person sub-folders.
    case noPersonFolders(path: String)
    /// A person's folder holds no image file (jpg, jpeg, png, pgm, ppm).
    case personWithoutImages(person: String, path: String)
    /// Fewer than two people had a usable template, so there are no impostor comparisons.
    case tooFewPeople(withTemplates: Int)
    /// No person had two usable templates, so there are no genuine comparisons.
    case noGenuineComparisons
    /// Calibration was asked of a score set without impostor scores.
    case noImpostorComparisons
    /// The groups file could not be read as UTF-8 text.
    case groupsFileUnreadable(path: String, reason: String)
    /// A line of the groups file is not `person,group`.
    case malformedGroupsLine(line: Int, text: String)
    /// The groups file names a person who has no folder in the dataset.
    case unknownPersonInGroups(person: String, line: Int)
    /// The groups file puts one person in two groups.
    case conflictingGroups(person: String, first: String, second: String, line: Int)
    /// The groups file labels nobody.
    case noLabelledPeople(path: String)
    /// A target rate (FMR, FPIR) outside the open interval (0, 1).
    case invalidTargetRate(name: String, value: Double)
    /// A threshold that is not a finite number.
    case invalidThreshold(Float)
    /// Fusion was asked for with fewer than two engines.
    case fusionNeedsTwoEngines
    /// The report files could not be written.
    case reportNotWritten(path: String, reason: String)

    /// One sentence for the CLI and logs.
    public var description: String {
        switch self {
        case let .datasetMissing(path):
            "No dataset at \(path)."
        case let .datasetNotAFolder(path):
            "\(path) is a file; a dataset is a folder with one sub-folder of images per person."
        case let .unreadableFolder(path, reason):
            "Cannot list the folder \(path): \(reason)."
        case let .noPersonFolders(path):
            "\(path) has no person folders; a dataset is a folder with one sub-folder of images per person."
        case let .personWithoutImages(person, path):
            "The folder of \(person) (\(path)) has no image file (jpg, jpeg, png, pgm or ppm)."
        case let .tooFewPeople(count):
            "Only \(count) person(s) yielded a face template; impostor comparisons need at least two."
        case .noGenuineComparisons:
            "No person yielded two face templates, so there is no genuine comparison."
        case .noImpostorComparisons:
            "There are no impostor comparisons to set a threshold from."
        case let .groupsFileUnreadable(path, reason):
            "Cannot read the groups file \(path): \(reason)."
        case let .malformedGroupsLine(line, text):
            "Line \(line) of the groups file is not 'person,group': \(text)"
        case let .unknownPersonInGroups(person, line):
            "Line \(line) of the groups file names \(person), who has no folder in the dataset."
        case let .conflictingGroups(person, first, second, line):
            "Line \(line) of the groups file puts \(person) in \(second), but an earlier line put them in \(first)."
        case let .noLabelledPeople(path):
            "The groups file \(path) labels nobody."
        case let .invalidTargetRate(name, value):
            "The target \(name) must lie strictly between 0 and 1, not \(value)."
        case let .invalidThreshold(value):
            "The threshold must be a finite number, not \(value)."
        case .fusionNeedsTwoEngines:
            "Fusion combines two or more engines; name at least two besides 'fusion'."
        case let .reportNotWritten(path, reason):
            "Cannot write the report to \(path): \(reason)."
        }
    }
}
