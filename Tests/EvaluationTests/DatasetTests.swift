import Evaluation
import Foundation
import Testing

/// A fresh folder under the system's temporary folder, removed by `cleanUp`.
struct ScratchFolder {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appending(path: "biomatch-evaluation-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    /// Writes `text` to `relativePath`, creating folders on the way.
    @discardableResult
    func write(_ text: String, to relativePath: String) throws -> URL {
        let file = url.appending(path: relativePath)
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: file)
        return file
    }

    func makeFolder(_ relativePath: String) throws {
        try FileManager.default.createDirectory(at: url.appending(path: relativePath), withIntermediateDirectories: true)
    }

    func cleanUp() {
        try? FileManager.default.removeItem(at: url)
    }
}

@Suite("Reading labelled datasets and group files")
struct DatasetTests {
    @Test("people and images in natural order; hidden entries, loose files and non-images ignored")
    func listing() throws {
        let folder = try ScratchFolder()
        defer { folder.cleanUp() }
        for person in ["s10", "s2", "s1"] {
            for photo in ["10.pgm", "2.PGM", "1.jpg"] { try folder.write("x", to: "\(person)/\(photo)") }
        }
        try folder.write("x", to: "s1/notes.txt")
        try folder.write("x", to: "s1/.hidden.png")
        try folder.write("s1,a", to: "groups.csv")
        try folder.makeFolder(".cache")
        try folder.makeFolder("s2/nested")
        let dataset = try LabelledDataset.load(from: folder.url)
        #expect(dataset.personNames == ["s1", "s2", "s10"])
        #expect(dataset.people[0].images.map(\.lastPathComponent) == ["1.jpg", "2.PGM", "10.pgm"])
        #expect(dataset.imageCount == 9)
        #expect(dataset.relativePath(of: dataset.people[2].images[2]) == "s10/10.pgm")
    }

    @Test("missing dataset, a file instead of a folder, no person folders, a person without images")
    func datasetErrors() throws {
        let folder = try ScratchFolder()
        defer { folder.cleanUp() }
        let missing = folder.url.appending(path: "absent")
        #expect(throws: EvaluationError.datasetMissing(path: missing.path)) { try LabelledDataset.load(from: missing) }
        let file = try folder.write("x", to: "file.txt")
        #expect(throws: EvaluationError.datasetNotAFolder(path: file.path)) { try LabelledDataset.load(from: file) }
        #expect(throws: EvaluationError.noPersonFolders(path: folder.url.path)) { try LabelledDataset.load(from: folder.url) }
        try folder.write("x", to: "alice/1.png")
        try folder.write("x", to: "bob/readme.md")
        #expect(throws: EvaluationError.personWithoutImages(person: "bob", path: folder.url.appending(path: "bob").path)) {
            try LabelledDataset.load(from: folder.url)
        }
    }

    @Test("groups file: header, BOM, quotes, comments, blank lines and CRLF are tolerated; unlabelled people listed")
    func groupsParsing() throws {
        let text = "\u{FEFF}Person,Group\r\n# comment\r\n\r\n s1 , female\r\n\"s2\",\"male\"\r\ns1,female\r\n"
        let labels = try GroupLabels(parsing: text, knownPeople: ["s1", "s2", "s3"])
        #expect(labels.groupOfPerson == ["s1": "female", "s2": "male"])
        #expect(labels.groups == ["female", "male"])
        #expect(labels.unlabelled(among: ["s1", "s2", "s3"]) == ["s3"])
        // A person actually named like a header word is data, not a header.
        let named = try GroupLabels(parsing: "name,g1\nx,g2", knownPeople: ["name", "x"])
        #expect(named.groupOfPerson == ["name": "g1", "x": "g2"])
    }

    @Test("groups file errors: unknown person, conflicting groups, malformed line, nobody labelled, unreadable file")
    func groupsErrors() throws {
        let known: Set<String> = ["s1", "s2"]
        #expect(throws: EvaluationError.unknownPersonInGroups(person: "s9", line: 2)) {
            try GroupLabels(parsing: "s1,a\ns9,b", knownPeople: known)
        }
        #expect(throws: EvaluationError.conflictingGroups(person: "s1", first: "a", second: "b", line: 3)) {
            try GroupLabels(parsing: "person,group\ns1,a\ns1,b", knownPeople: known)
        }
        #expect(throws: EvaluationError.malformedGroupsLine(line: 1, text: "s1,a,extra")) {
            try GroupLabels(parsing: "s1,a,extra", knownPeople: known)
        }
        #expect(throws: EvaluationError.malformedGroupsLine(line: 2, text: "s2,")) {
            try GroupLabels(parsing: "s1,a\ns2,", knownPeople: known)
        }
        #expect(throws: EvaluationError.noLabelledPeople(path: "g.csv")) {
            try GroupLabels(parsing: "person,group\n\n", knownPeople: known, source: "g.csv")
        }
        let folder = try ScratchFolder()
        defer { folder.cleanUp() }
        try folder.write("x", to: "s1/1.png")
        let dataset = try LabelledDataset.load(from: folder.url)
        let latin1 = folder.url.appending(path: "latin1.csv")
        try Data([0x73, 0x31, 0x2C, 0xE9, 0xFF]).write(to: latin1)
        #expect(throws: EvaluationError.groupsFileUnreadable(path: latin1.path, reason: "it is not UTF-8 text")) {
            try GroupLabels.load(from: latin1, for: dataset)
        }
        let absent = folder.url.appending(path: "absent.csv")
        #expect {
            try GroupLabels.load(from: absent, for: dataset)
        } throws: { error in
            guard case let .groupsFileUnreadable(path, _) = error as? EvaluationError else { return false }
            return path == absent.path
        }
    }

    @Test("ratios across groups: largest over smallest, with a zero replaced by one error in that group's comparisons")
    func rateRatios() {
        func group(_ name: String, falseMatches: Int, of impostors: Int) -> GroupRates {
            GroupRates(
                name: name, people: 3,
                rates: ErrorRates(
                    threshold: 0.5, falseMatches: falseMatches, impostorComparisons: impostors, falseNonMatches: 0,
                    genuineComparisons: 10))
        }
        let plain = RateRatio(
            groups: [group("a", falseMatches: 4, of: 1000), group("b", falseMatches: 1, of: 1000), group("c", falseMatches: 2, of: 1000)],
            rate: \.falseMatchRate, comparisons: \.impostorComparisons)
        #expect(plain.highestGroup == "a")
        #expect(plain.lowestGroup == "b")
        #expect(plain.ratio == 4)
        #expect(plain.ratioWithZeroAsOneError == nil)
        // Two groups without errors: the one with fewer comparisons (larger 1/N) bounds the ratio.
        let zero = RateRatio(
            groups: [group("a", falseMatches: 3, of: 1000), group("b", falseMatches: 0, of: 500), group("c", falseMatches: 0, of: 2000)],
            rate: \.falseMatchRate, comparisons: \.impostorComparisons)
        #expect(zero.lowestGroup == "b")
        #expect(zero.lowest == 0)
        #expect(zero.ratio == nil)
        #expect(zero.ratioWithZeroAsOneError == 0.003 * 500)
        let none = RateRatio(
            groups: [group("a", falseMatches: 0, of: 10), group("b", falseMatches: 0, of: 10)],
            rate: \.falseMatchRate, comparisons: \.impostorComparisons)
        #expect(none.highest == 0)
        #expect(none.ratio == nil && none.ratioWithZeroAsOneError == nil)
        // A group without comparisons has no rate and takes no part; one group alone has no ratio.
        let single = RateRatio(
            groups: [group("a", falseMatches: 1, of: 10), group("b", falseMatches: 0, of: 0)],
            rate: \.falseMatchRate, comparisons: \.impostorComparisons)
        #expect(single.ratio == nil && single.highestGroup == nil)
    }
}
