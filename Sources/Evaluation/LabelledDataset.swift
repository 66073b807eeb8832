import Foundation

/// A labelled face dataset on disk: one sub-folder per person, that person's photos inside.
///
/// People and photos are kept in natural order (`s2` before `s10`, `2.pgm` before `10.pgm`),
/// so "the first photo of each person" means the same file on every machine. Hidden entries,
/// files beside the person folders (such as `groups.csv`) and files that are not images are
/// ignored; nested folders inside a person folder are not searched.
public struct LabelledDataset: Sendable, Equatable {
    /// One person's folder.
    public struct Person: Sendable, Equatable {
        /// The folder name, which is the person's label.
        public var name: String
        /// The person's image files, in natural order.
        public var images: [URL]

        /// A person from their label and image files.
        public init(name: String, images: [URL]) {
            self.name = name
            self.images = images
        }
    }

    /// File extensions read as images, in lower case.
    public static let imageExtensions: Set<String> = ["jpg", "jpeg", "png", "pgm", "ppm"]

    /// The dataset folder.
    public let root: URL
    /// Everyone in the dataset, in natural order of folder name.
    public let people: [Person]

    /// A dataset from already listed people (for tests and callers with their own layout).
    public init(root: URL, people: [Person]) {
        self.root = root
        self.people = people
    }

    /// Lists the dataset at `root`.
    /// - Throws: ``EvaluationError/datasetMissing(path:)``, ``EvaluationError/datasetNotAFolder(path:)``,
    ///   ``EvaluationError/unreadableFolder(path:reason:)``, ``EvaluationError/noPersonFolders(path:)``,
    ///   or ``EvaluationError/personWithoutImages(person:path:)`` for a person folder with no image.
    public static func load(from root: URL) throws(EvaluationError) -> LabelledDataset {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root.path, isDirectory: &isFolder) else {
            throw .datasetMissing(path: root.path)
        }
        guard isFolder.boolValue else { throw .datasetNotAFolder(path: root.path) }

        let personFolders = try entries(of: root).filter(isFolderEntry)
        guard !personFolders.isEmpty else { throw .noPersonFolders(path: root.path) }

        var people: [Person] = []
        for folder in personFolders {
            let images = try entries(of: folder).filter { entry in
                !isFolderEntry(entry) && imageExtensions.contains(entry.pathExtension.lowercased())
            }
            guard !images.isEmpty else {
                throw .personWithoutImages(person: folder.lastPathComponent, path: folder.path)
            }
            people.append(Person(name: folder.lastPathComponent, images: images))
        }
        return LabelledDataset(root: root, people: people)
    }

    /// Number of image files across all people.
    public var imageCount: Int { people.reduce(0) { $0 + $1.images.count } }

    /// The labels of all people.
    public var personNames: [String] { people.map(\.name) }

    /// `file`'s path below ``root`` ("s1/1.pgm"), for reports.
    public func relativePath(of file: URL) -> String {
        let rootComponents = root.standardizedFileURL.pathComponents
        let fileComponents = file.standardizedFileURL.pathComponents
        guard fileComponents.starts(with: rootComponents) else { return file.path }
        return fileComponents.dropFirst(rootComponents.count).joined(separator: "/")
    }

    /// The visible entries of `folder`, in natural order of name.
    private static func entries(of folder: URL) throws(EvaluationError) -> [URL] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
        } catch {
            throw .unreadableFolder(path: folder.path, reason: (error as NSError).localizedDescription)
        }
        return names
            .filter { !$0.hasPrefix(".") }
            .sorted(by: NaturalOrder.areInIncreasingOrder)
            .map { folder.appending(path: $0) }
    }

    /// Whether `entry` is a folder, following symbolic links.
    private static func isFolderEntry(_ entry: URL) -> Bool {
        var isFolder: ObjCBool = false
        return FileManager.default.fileExists(atPath: entry.path, isDirectory: &isFolder) && isFolder.boolValue
    }
}
