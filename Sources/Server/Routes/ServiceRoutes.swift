import Gallery
import Hummingbird
import Operations

/// The public routes: `/openapi.json` and `/metrics` (`/health` is ``HealthController``).
///
/// `/metrics` asks for no key. Scrapers are infrastructure that holds no API key of a person, and
/// the exposition holds no personal data: route labels are templates (`/v1/galleries/{gallery}`),
/// never raw paths, so no subject reference reaches a label; only gallery names and counts,
/// request counts and latencies do. The server binds loopback by default; a deployment that
/// exposes it keeps `/metrics` to its monitoring network.
struct ServiceRoutes {
    let operations: MatcherOperations
    let metrics: ServerMetrics
    let openAPIDocument: [UInt8]

    func addRoutes(to router: Router<APIRequestContext>) {
        router.get("openapi.json") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: openAPIDocument)))
        }
        router.get("metrics") { _, _ in
            // With the store unreachable (a failover) the gauges keep their last values: metrics
            // must answer while the database does not.
            if let sizes = try? await gallerySizes() { metrics.updateGallerySizes(sizes) }
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: metrics.exposition())))
        }
    }

    /// Every gallery's size, read from the store (what the gauges report).
    func gallerySizes() async throws -> [GallerySize] {
        var sizes: [GallerySize] = []
        for gallery in try await operations.store.galleries() {
            // A gallery erased meanwhile is left out.
            guard let counts = try? await operations.store.counts(in: gallery.id) else { continue }
            sizes.append(GallerySize(name: gallery.name, subjects: counts.subjects, templates: counts.templates))
        }
        return sizes
    }
}
