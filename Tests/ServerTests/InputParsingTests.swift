import Foundation
import Governance
import Testing
@testable import Server

@Suite struct MultipartFormTests {
    func parse(_ text: String, boundary: String = "b") throws(RequestError) -> MultipartForm {
        try MultipartForm(body: Array(text.utf8), boundary: boundary)
    }

    @Test func partsKeepTheirNamesFilesAndBytes() throws {
        let form = try parse(
            "preamble\r\n--b\r\nContent-Disposition: form-data; name=\"reference\"\r\n\r\nP-1\r\n"
                + "--b\r\nContent-Disposition: form-data; name=\"images\"; filename=\"a.jpg\"\r\nContent-Type: Image/JPEG\r\n\r\n"
                + "\u{1}\r\n--\r\nx\r\n--b\r\nContent-Disposition: form-data; name=images\r\n\r\n\r\n--b--\r\nepilogue")
        #expect(form.parts.map(\.name) == ["reference", "images", "images"])
        #expect(try form.text("reference") == "P-1")
        #expect(form.parts[1].filename == "a.jpg")
        #expect(form.parts[1].contentType == "image/jpeg")
        // A CRLF followed by dashes inside a part is data unless the boundary follows.
        #expect(form.parts[1].body == Array("\u{1}\r\n--\r\nx".utf8))
        #expect(form.parts[2].body.isEmpty)
    }

    @Test func malformedBodiesAreRefused() {
        let bodies = [
            "no boundary at all",
            "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nunterminated",
            "--b\r\n\r\nno headers\r\n--b--",
            "--b\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nx\r\n--b--",
            "--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--",
            "--b\r\nno colon here\r\n\r\nx\r\n--b--",
            "--bX\r\n",
        ]
        for body in bodies {
            #expect(throws: RequestError.self, "\(body)") { try parse(body) }
        }
        #expect(throws: RequestError.self) { try parse("--\r\n", boundary: "") }
        let many = (0...MultipartForm.maximumParts).map { "--b\r\nContent-Disposition: form-data; name=\"p\($0)\"\r\n\r\nx\r\n" }
        #expect(throws: RequestError.malformedMultipart(reason: "more than \(MultipartForm.maximumParts) parts")) {
            try parse(many.joined() + "--b--")
        }
    }

    @Test func repeatedTextFieldsAreRefused() throws {
        let form = try parse(
            "--b\r\nContent-Disposition: form-data; name=\"k\"\r\n\r\n1\r\n--b\r\nContent-Disposition: form-data; name=\"k\"\r\n\r\n2\r\n--b--")
        #expect(throws: RequestError.invalidField(pointer: "#k", reason: "given more than once")) { try form.text("k") }
    }
}

@Suite struct IncomingBodyTests {
    @Test func mediaTypesAreParsedWithParameters() {
        let parsed = IncomingBody.parseMediaType(#"Multipart/Form-Data; Boundary="a b"; charset=utf-8"#)
        #expect(parsed?.type == "multipart/form-data")
        #expect(parsed?.parameters == ["boundary": "a b", "charset": "utf-8"])
        #expect(IncomingBody.parseMediaType("nonsense") == nil)
    }

    @Test func jsonDecodingFailuresPointAtTheMember() {
        struct Body: Decodable {
            struct Inner: Decodable { var value: Int }
            var name: String
            var inner: Inner
        }
        #expect(throws: RequestError.invalidField(pointer: "/inner/value", reason: "expected an integer")) {
            try IncomingBody.decodeJSON(Body.self, from: Array(#"{"name":"a","inner":{"value":"x"}}"#.utf8))
        }
        #expect(throws: RequestError.invalidField(pointer: "/name", reason: "required")) {
            try IncomingBody.decodeJSON(Body.self, from: Array(#"{"inner":{"value":1}}"#.utf8))
        }
        #expect(throws: RequestError.malformedJSON(pointer: nil, reason: "not valid JSON")) {
            try IncomingBody.decodeJSON(Body.self, from: Array("{".utf8))
        }
        #expect(throws: RequestError.emptyBody) { try IncomingBody.decodeJSON(Body.self, from: []) }
    }

    @Test func base64AcceptsDataURLsAndLineBreaks() throws {
        #expect(try FormInput.decodeBase64("data:image/png;base64,AAEC\nAw==", pointer: "/image") == [0, 1, 2, 3])
        #expect(throws: RequestError.invalidField(pointer: "/image", reason: "not valid base64")) {
            try FormInput.decodeBase64("***", pointer: "/image")
        }
    }
}

@Suite struct ConfigurationTests {
    @Test func defaultsAreLoopbackAndTwentyMebibytes() {
        let (configuration, problems) = ServerConfiguration.fromEnvironment([:])
        #expect(configuration == ServerConfiguration())
        #expect(configuration.host == "127.0.0.1")
        #expect(configuration.maximumBodyBytes == 20 * 1024 * 1024)
        #expect(problems.isEmpty)
    }

    @Test func environmentOverridesAndBadValuesAreReported() {
        let (configuration, problems) = ServerConfiguration.fromEnvironment([
            "BIOMATCH_PORT": "9000", "BIOMATCH_MAX_BODY_BYTES": "1048576", "BIOMATCH_RATE_LIMIT": "2.5",
            "BIOMATCH_RATE_BURST": "-3", "BIOMATCH_HOST": "",
        ])
        #expect(configuration.port == 9000)
        #expect(configuration.maximumBodyBytes == 1_048_576)
        #expect(configuration.rateLimit.requestsPerSecond == 2.5)
        #expect(configuration.rateLimit.burst == RateLimit().burst)
        #expect(configuration.host == "127.0.0.1")
        #expect(problems.count == 2)
    }
}

@Suite struct RateLimiterTests {
    @Test func aBurstIsAllowedThenTheCallerWaits() {
        let limiter = RateLimiter(limit: RateLimit(requestsPerSecond: 0.5, burst: 3))
        let key = Governance.APIKey.ID(1)
        for _ in 0..<3 { #expect(limiter.acquire(for: key) == nil) }
        let wait = limiter.acquire(for: key)
        // One token refills in 2 s at 0.5/s; a little has refilled already.
        #expect(wait == 2 || wait == 1)
        #expect(limiter.acquire(for: Governance.APIKey.ID(2)) == nil)
    }
}
