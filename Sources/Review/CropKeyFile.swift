import Crypto
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reading, and on first use creating, the crop key file.
enum CropKeyFile {
    /// Decodes base64 text (surrounding whitespace ignored) into a 256-bit key.
    static func decode(_ text: String, source: String) throws(CropError) -> SymmetricKey {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let bytes = Data(base64Encoded: trimmed) else {
            throw .malformedKey(source: source, reason: "not base64")
        }
        guard bytes.count == 32 else {
            throw .malformedKey(source: source, reason: "decodes to \(bytes.count) bytes; 32 are needed")
        }
        return SymmetricKey(data: bytes)
    }

    /// The key in `file`, creating the file (mode 0600, folder 0700) with a new random key if it
    /// does not exist. Two processes starting together agree on one key: the new key is written
    /// to a private temporary file and linked into place, which fails if the file appeared
    /// meanwhile, and the loser reads the winner's key.
    static func loadOrCreate(at file: URL) throws(CropError) -> (SymmetricKey, created: Bool) {
        if let key = try load(file) { return (key, false) }
        let folder = file.deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(
                at: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw .keyFileUnavailable(path: folder.path, reason: "\(error)")
        }
        let temporary = folder.appending(path: ".crop.key.\(UUID().uuidString)")
        defer { unlink(temporary.path) }
        try write(Data((CropVault.generateKeyText() + "\n").utf8), to: temporary)
        if link(temporary.path, file.path) != 0 {
            let code = errno
            guard code == EEXIST else { throw .keyFileUnavailable(path: file.path, reason: Self.message(code)) }
            guard let key = try load(file) else {
                throw .keyFileUnavailable(path: file.path, reason: "it vanished while being created")
            }
            return (key, false)
        }
        // Make the new name durable before any crop depends on the key.
        let folderDescriptor = open(folder.path, O_RDONLY | O_DIRECTORY)
        if folderDescriptor >= 0 {
            fsync(folderDescriptor)
            close(folderDescriptor)
        }
        guard let key = try load(file) else {
            throw .keyFileUnavailable(path: file.path, reason: "it vanished after being created")
        }
        return (key, true)
    }

    /// The key in `file`, or nil if there is no such file.
    private static func load(_ file: URL) throws(CropError) -> SymmetricKey? {
        var status = stat()
        if lstat(file.path, &status) != 0 {
            let code = errno
            if code == ENOENT { return nil }
            throw .keyFileUnavailable(path: file.path, reason: message(code))
        }
        guard status.st_mode & S_IFMT == S_IFREG else {
            throw .keyFileUnavailable(path: file.path, reason: "not a regular file")
        }
        let mode = UInt16(status.st_mode & 0o7777)
        if mode & 0o077 != 0 { throw .insecureKeyFile(path: file.path, mode: mode) }
        let contents: Data
        do { contents = try Data(contentsOf: file) } catch {
            throw .keyFileUnavailable(path: file.path, reason: "\(error)")
        }
        guard let text = String(data: contents, encoding: .utf8) else {
            throw .malformedKey(source: file.path, reason: "not UTF-8 text")
        }
        return try decode(text, source: file.path)
    }

    /// Writes `bytes` to a new file with mode 0600 and syncs it.
    private static func write(_ bytes: Data, to file: URL) throws(CropError) {
        let descriptor = open(file.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw .keyFileUnavailable(path: file.path, reason: message(errno)) }
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        do {
            try handle.write(contentsOf: bytes)
            try handle.synchronize()
        } catch {
            throw .keyFileUnavailable(path: file.path, reason: "\(error)")
        }
    }

    private static func message(_ code: Int32) -> String { String(cString: strerror(code)) }
}
