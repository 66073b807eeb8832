import FaceEngine
import Foundation
import Gallery
import Identification
import Installation

/// Shared engine, ORL photos and temporary SQLite galleries for the identification tests.
enum Support {
    static let installation = Installation.fromEnvironment()

    /// One engine for all tests: its sessions are safe to share.
    static let engine: Result<FaceEngine, FaceEngineError> = Result { () throws(FaceEngineError) in
        try FaceEngine(installation: installation)
    }

    /// The people enrolled by the tests: ORL subjects s1...s10.
    static let people = Array(1...10)

    static func reference(_ person: Int) -> String { "orl-s\(person)" }

    /// The bytes of ORL photo `photo` (1...10) of `person` (1...40).
    static func orl(_ person: Int, _ photo: Int) throws -> [UInt8] {
        Array(try Data(contentsOf: installation.orlFacesDirectory.appending(path: "s\(person)/\(photo).pgm")))
    }

    /// A fresh SQLite file in its own temporary folder; the folder is removed by `cleanUp`.
    static func temporaryDatabase() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appending(path: "identification-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder.appending(path: "biomatch.sqlite")
    }

    static func cleanUp(_ database: URL) {
        try? FileManager.default.removeItem(at: database.deletingLastPathComponent())
    }

    /// A service over a new database with gallery `name` holding photo 1 of every person.
    static func enrolledService(database: URL, gallery name: String = "orl") async throws -> GallerySearchService {
        let service = try await GallerySearchService.open(
            store: try SQLiteGalleryStore(location: database), engine: try engine.get())
        _ = try await service.createGallery(name: name, purpose: .custody)
        for person in people {
            try await service.enrol(
                gallery: name, reference: reference(person), attributes: ["group": person <= 5 ? "a" : "b"],
                images: [try orl(person, 1)])
        }
        return service
    }
}
