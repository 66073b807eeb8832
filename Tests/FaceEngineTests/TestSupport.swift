import FaceEngine
import Foundation
import Imaging
import Installation

/// What every test reads from: the installation, decoded photos, and one engine per configuration.
enum TestSupport {
    static let installation = Installation.fromEnvironment()

    /// The default engine, loaded once for all tests (sessions are safe to share).
    static let engine: Result<FaceEngine, FaceEngineError> = Result { () throws(FaceEngineError) in
        try FaceEngine(installation: installation, configuration: FaceEngineConfiguration(keepsAlignedCrops: true))
    }

    /// An engine that detects at the image's own size (no 640 cap), like OpenCV's `native` run.
    static let nativeSizeEngine: Result<FaceEngine, FaceEngineError> = Result { () throws(FaceEngineError) in
        try FaceEngine(
            installation: installation,
            configuration: FaceEngineConfiguration(maximumDetectionSide: 100_000, keepsAlignedCrops: true))
    }

    /// An engine that frames every image with 32 px of black before detection (OpenCV's `border_32` run).
    static let borderEngine: Result<FaceEngine, FaceEngineError> = Result { () throws(FaceEngineError) in
        try FaceEngine(installation: installation, configuration: FaceEngineConfiguration(detectionBorder: 32))
    }

    /// The file under `$BIOMATCH_HOME/testdata`.
    static func testDataFile(_ relativePath: String) -> URL {
        installation.home.appending(path: "testdata").appending(path: relativePath)
    }

    /// The encoded bytes of a test file.
    static func bytes(_ relativePath: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: testDataFile(relativePath)))
    }

    /// A decoded test image.
    static func image(_ relativePath: String) throws -> RGBImage {
        try ImageDecoder().decode(bytes(relativePath))
    }
}
