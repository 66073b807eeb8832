import FaceEngine
import Foundation
import Metrics
import Prometheus
import Synchronization

/// The service's metrics, recorded through swift-metrics into a Prometheus registry of its own
/// (not the process-wide bootstrap, so several servers in one process keep separate figures) and
/// exposed at `GET /metrics` in the Prometheus text format.
///
/// Series:
/// - `biomatch_http_requests_total{route,method,status}`: requests answered, by route template
///   (never the raw path, so no identifier becomes a label) and status.
/// - `biomatch_http_request_duration_seconds{route,method,status}`: histogram of the time to the
///   response head.
/// - `biomatch_engine_stage_duration_seconds{stage}`: histogram of each face-engine stage
///   (decode, detection pre/model/post, alignment, embedding pre/model) per analysed image.
/// - `biomatch_gallery_subjects{gallery}`, `biomatch_gallery_templates{gallery}`: gallery sizes,
///   read from the store at each scrape.
///
/// Instruments are created once per series and reused.
public final class ServerMetrics: Sendable {
    /// The registry the exposition is written from.
    public let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory

    private struct RequestSeries: Hashable {
        var route: String
        var method: String
        var status: Int
    }

    private struct RequestInstruments: Sendable {
        var count: Metrics.Counter
        var duration: Metrics.Timer
    }

    private struct GalleryGauges: Sendable {
        var subjects: Metrics.Gauge
        var templates: Metrics.Gauge
    }

    private let requests = Mutex<[RequestSeries: RequestInstruments]>([:])
    private let galleries = Mutex<[String: GalleryGauges]>([:])
    private let stageTimers: StageTimers

    /// The face-engine stages, one histogram series each.
    private struct StageTimers: Sendable {
        var decode, detectionPreprocessing, detectorModel, detectionPostprocessing: Metrics.Timer
        var alignment, embeddingPreprocessing, embedderModel: Metrics.Timer
    }

    /// Metrics in a new, empty registry.
    public init() {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // Requests take from a millisecond (health) to a few seconds (multi-image enrolment);
        // engine stages from microseconds to tens of milliseconds.
        factory.durationHistogramBuckets = [
            Self.requestDurationName: [1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000].map(Duration.milliseconds),
            Self.stageDurationName: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250].map { Duration.microseconds(Int64($0 * 1000)) },
        ]
        self.registry = registry
        self.factory = factory
        func stage(_ name: String) -> Metrics.Timer {
            Metrics.Timer(label: Self.stageDurationName, dimensions: [("stage", name)], preferredDisplayUnit: .seconds, factory: factory)
        }
        stageTimers = StageTimers(
            decode: stage("decode"), detectionPreprocessing: stage("detection_preprocessing"),
            detectorModel: stage("detector_model"), detectionPostprocessing: stage("detection_postprocessing"),
            alignment: stage("alignment"), embeddingPreprocessing: stage("embedding_preprocessing"),
            embedderModel: stage("embedder_model"))
    }

    static let requestCountName = "biomatch_http_requests_total"
    static let requestDurationName = "biomatch_http_request_duration_seconds"
    static let stageDurationName = "biomatch_engine_stage_duration_seconds"
    static let gallerySubjectsName = "biomatch_gallery_subjects"
    static let galleryTemplatesName = "biomatch_gallery_templates"

    /// Records one answered request.
    public func recordRequest(route: String, method: String, status: Int, duration: Duration) {
        let series = RequestSeries(route: route, method: method, status: status)
        let instruments = requests.withLock { requests in
            if let existing = requests[series] { return existing }
            let dimensions = [("route", route), ("method", method), ("status", String(status))]
            let created = RequestInstruments(
                count: Metrics.Counter(label: Self.requestCountName, dimensions: dimensions, factory: factory),
                duration: Metrics.Timer(
                    label: Self.requestDurationName, dimensions: dimensions, preferredDisplayUnit: .seconds, factory: factory))
            requests[series] = created
            return created
        }
        instruments.count.increment()
        instruments.duration.record(duration: duration)
    }

    /// Records the stage times of one analysed image.
    public func record(_ timings: StageTimings) {
        stageTimers.decode.record(duration: timings.decode)
        stageTimers.detectionPreprocessing.record(duration: timings.detectionPreprocessing)
        stageTimers.detectorModel.record(duration: timings.detectorModel)
        stageTimers.detectionPostprocessing.record(duration: timings.detectionPostprocessing)
        stageTimers.alignment.record(duration: timings.alignment)
        stageTimers.embeddingPreprocessing.record(duration: timings.embeddingPreprocessing)
        stageTimers.embedderModel.record(duration: timings.embedderModel)
    }

    /// Sets the gallery-size gauges to `sizes`, and removes the series of galleries no longer
    /// listed (erased ones).
    public func updateGallerySizes(_ sizes: [GallerySize]) {
        galleries.withLock { gauges in
            let current = Set(sizes.map(\.name))
            for (name, stale) in gauges where !current.contains(name) {
                stale.subjects.destroy()
                stale.templates.destroy()
                gauges[name] = nil
            }
            for size in sizes {
                let gauge = gauges[size.name] ?? {
                    let created = GalleryGauges(
                        subjects: Metrics.Gauge(label: Self.gallerySubjectsName, dimensions: [("gallery", size.name)], factory: factory),
                        templates: Metrics.Gauge(label: Self.galleryTemplatesName, dimensions: [("gallery", size.name)], factory: factory))
                    gauges[size.name] = created
                    return created
                }()
                gauge.subjects.record(size.subjects)
                gauge.templates.record(size.templates)
            }
        }
    }

    /// The Prometheus text exposition of every series.
    public func exposition() -> String {
        registry.emitToString()
    }
}

/// How many subjects and templates one gallery holds.
public struct GallerySize: Sendable, Hashable {
    /// The gallery's name.
    public var name: String
    /// Enrolled subjects.
    public var subjects: Int
    /// Stored templates.
    public var templates: Int

    /// Describes a gallery's size.
    public init(name: String, subjects: Int, templates: Int) {
        self.name = name
        self.subjects = subjects
        self.templates = templates
    }
}
