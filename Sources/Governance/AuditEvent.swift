import Foundation
import Gallery

/// What a caller asks the audit log to record; the log adds the sequence number, time and hashes,
/// and, for gallery changes, the facts of the change (identifiers, counts, thresholds).
public struct AuditEvent: Sendable, Hashable {
    /// What happened.
    public var action: AuditAction
    /// Who did it.
    public var actor: AuditActor
    /// The gallery, by identifier (filled in from the change for gallery changes).
    public var galleryID: GalleryRecord.ID?
    /// The gallery, by name (filled in from the change where the change names it).
    public var galleryName: String?
    /// Purpose and case reference; required for searches and verifications.
    public var justification: SearchJustification?
    /// SHA-256 of the probe image bytes, lower-case hex; required for searches and verifications.
    public var probeSHA256: String?
    /// The request's parameters.
    public var parameters: [String: JSONValue]
    /// The outcome.
    public var result: [String: JSONValue]

    /// Describes an event.
    public init(
        action: AuditAction, actor: AuditActor, galleryID: GalleryRecord.ID? = nil, galleryName: String? = nil,
        justification: SearchJustification? = nil, probeSHA256: String? = nil,
        parameters: [String: JSONValue] = [:], result: [String: JSONValue] = [:]
    ) {
        self.action = action
        self.actor = actor
        self.galleryID = galleryID
        self.galleryName = galleryName
        self.justification = justification
        self.probeSHA256 = probeSHA256
        self.parameters = parameters
        self.result = result
    }

    /// Checks what can be checked before the store is touched.
    func validate() throws(GovernanceError) {
        if let probeSHA256, !Self.isSHA256(probeSHA256) {
            throw .invalidAuditEvent(reason: "probe_sha256 must be 64 lower-case hex digits")
        }
        if case .system(let component) = actor, component.isEmpty {
            throw .invalidAuditEvent(reason: "a system actor needs a name")
        }
        switch action {
        case .compare:
            if justification == nil {
                throw .invalidAuditEvent(reason: "compare needs a purpose and case reference")
            }
            if probeSHA256 == nil {
                throw .invalidAuditEvent(reason: "compare needs the first image's SHA-256")
            }
        case .search, .verify:
            if justification == nil {
                throw .invalidAuditEvent(reason: "\(action.rawValue) needs a purpose and case reference")
            }
            if probeSHA256 == nil {
                throw .invalidAuditEvent(reason: "\(action.rawValue) needs the probe image's SHA-256")
            }
            if galleryName == nil {
                throw .invalidAuditEvent(reason: "\(action.rawValue) needs the gallery name")
            }
        case .subjectAccessed:
            if justification == nil {
                throw .invalidAuditEvent(reason: "a subject access needs a purpose and case reference")
            }
            if galleryName == nil {
                throw .invalidAuditEvent(reason: "a subject access needs the gallery name")
            }
            guard case .integer? = parameters["subjectID"] else {
                throw .invalidAuditEvent(reason: "a subject access needs the subject's identifier")
            }
        case .thresholdChanged:
            guard case .string(let reason)? = parameters["reason"],
                !reason.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
            else {
                throw .invalidAuditEvent(reason: "a threshold change needs a reason")
            }
        default:
            break
        }
        if let justification {
            _ = try PurposePolicy.checkedCaseReference(justification.caseReference)
            if justification.purpose.isEmpty {
                throw .invalidAuditEvent(reason: "the purpose is empty")
            }
        }
    }

    static func isSHA256(_ text: String) -> Bool {
        text.utf8.count == 64
            && text.utf8.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) }
    }

    /// Adds the facts of `change` and checks that it is the change the action records.
    func completed(with change: GalleryChange?) throws(GovernanceError) -> AuditEvent {
        var event = self
        func mismatch() -> GovernanceError {
            .invalidAuditEvent(
                reason: "\(action.rawValue) cannot record \(change.map { String(describing: $0.kind) } ?? "an action without a gallery change")")
        }
        func setGallery(_ id: GalleryRecord.ID, name: String?) throws(GovernanceError) {
            if let stated = event.galleryID, stated != id {
                throw .invalidAuditEvent(reason: "the event names \(stated) but the change concerns \(id)")
            }
            event.galleryID = id
            if let name { event.galleryName = name }
        }
        func templateFacts(_ templates: [TemplateRecord]) {
            event.result["templateIDs"] = .array(templates.map { .integer($0.id.rawValue) })
            event.result["sourceImageSHA256s"] = .array(templates.map { .string($0.sourceImageSHA256) })
        }
        switch (action.expectedChange, change) {
        case (nil, nil):
            break
        case (.galleryCreated?, .galleryCreated(let gallery)?):
            try setGallery(gallery.id, name: gallery.name)
            event.parameters["purpose"] = .string(gallery.purpose.rawValue)
            event.parameters["retentionDays"] = gallery.retention.days.map { .integer(Int64($0)) } ?? .null
            event.parameters["operatingThreshold"] = .number(gallery.operatingThreshold)
            event.parameters["modelIdentifier"] = .string(gallery.modelIdentifier)
            event.parameters["engines"] = .array(gallery.engines.map { .string($0.identifier) })
            event.parameters["defaultEngine"] = .string(gallery.defaultEngine)
        case (.thresholdChanged?, .thresholdChanged(let gallery, let previous)?):
            try setGallery(gallery.id, name: gallery.name)
            event.parameters["previousThreshold"] = .number(previous)
            event.parameters["operatingThreshold"] = .number(gallery.operatingThreshold)
        case (.galleryDeleted?, .galleryDeleted(let erasure)?):
            try setGallery(erasure.gallery.id, name: erasure.gallery.name)
            event.result["subjectsErased"] = .integer(Int64(erasure.counts.subjects))
            event.result["templatesErased"] = .integer(Int64(erasure.counts.templates))
        case (.subjectEnrolled?, .subjectEnrolled(let enrolled)?):
            try setGallery(enrolled.subject.galleryID, name: nil)
            event.result["subjectID"] = .integer(enrolled.subject.id.rawValue)
            templateFacts(enrolled.templates)
        case (.templatesAdded?, .templatesAdded(let subject, let templates)?):
            try setGallery(subject.galleryID, name: nil)
            event.result["subjectID"] = .integer(subject.id.rawValue)
            templateFacts(templates)
        case (.subjectDeleted?, .subjectDeleted(let erasure)?):
            try setGallery(erasure.subject.galleryID, name: nil)
            event.result["subjectID"] = .integer(erasure.subject.id.rawValue)
            event.result["templateIDs"] = .array(erasure.templateIDs.map { .integer($0.rawValue) })
        case (.galleryReconfigured?, .galleryReconfigured(let receipt)?):
            try setGallery(receipt.gallery.id, name: receipt.gallery.name)
            event.parameters.merge(Self.facts(of: receipt.change)) { stated, _ in stated }
            event.result["engines"] = .array(
                receipt.gallery.engines.map { entry in
                    ["engine": .string(entry.identifier), "templating": .bool(entry.isTemplating)]
                })
            event.result["templatesRemoved"] = .integer(Int64(receipt.removedTemplates))
        default:
            throw mismatch()
        }
        return event
    }
}

extension GalleryChange {
    /// The change's name, for messages.
    var kind: String {
        switch self {
        case .galleryCreated: "a gallery creation"
        case .thresholdChanged: "a threshold change"
        case .galleryDeleted: "a gallery deletion"
        case .subjectEnrolled: "an enrolment"
        case .templatesAdded: "added templates"
        case .subjectDeleted: "a subject erasure"
        case .galleryReconfigured: "a gallery reconfiguration"
        }
    }
}

extension AuditEvent {
    /// The parameters that describe a reconfiguration.
    static func facts(of change: GalleryReconfiguration) -> [String: JSONValue] {
        switch change {
        case let .addEngine(entry):
            ["change": "engine-added", "engine": .string(entry.identifier), "job": entry.templatingJob.map { .string($0) } ?? .null]
        case let .engineTemplated(engine):
            ["change": "engine-templated", "engine": .string(engine)]
        case let .dropEngine(engine):
            ["change": "engine-dropped", "engine": .string(engine)]
        case let .settings(settings):
            [
                "change": "settings", "keepsEnrolmentImages": .bool(settings.keepsEnrolmentImages),
                "fusionThreshold": settings.fusion.map { .number($0.threshold) } ?? .null,
            ]
        case let .fusionCalibration(fusion):
            [
                "change": "fusion-calibration", "fusionThreshold": fusion.map { .number($0.threshold) } ?? .null,
                "targetFalseMatchRate": fusion.map { .number($0.targetFalseMatchRate) } ?? .null,
                "engines": fusion.map { .array($0.statistics.keys.sorted().map(JSONValue.string)) } ?? .null,
                "source": fusion.map { .string($0.source) } ?? .null,
            ]
        case let .engineThreshold(engine, threshold):
            ["change": "engine-threshold", "engine": .string(engine), "threshold": threshold.map { .number($0) } ?? .null]
        }
    }

    /// A change to a gallery's engines or settings (the facts come from the change).
    public static func galleryReconfigured(by principal: some AuditActing) -> AuditEvent {
        AuditEvent(action: .galleryReconfigured, actor: principal.auditActor)
    }

    /// The end of an engine's templating job, recorded by the job itself (system actor
    /// `engine-job`) with the job's identifier and figures.
    public static func engineTemplated(job: String, figures: [String: JSONValue]) -> AuditEvent {
        AuditEvent(
            action: .galleryReconfigured, actor: .system("engine-job"), parameters: ["job": .string(job)], result: figures)
    }

    /// A change to a gallery's engines or settings, with the reason given for it (a calibration
    /// or an engine's threshold: what it was measured on).
    public static func galleryReconfigured(by principal: some AuditActing, reason: String) -> AuditEvent {
        AuditEvent(action: .galleryReconfigured, actor: principal.auditActor, parameters: ["reason": .string(reason)])
    }
}

/// One candidate of a search, as the audit log records it.
public struct AuditCandidate: Sendable, Hashable {
    /// The candidate subject.
    public var subjectID: SubjectRecord.ID
    /// Its similarity to the probe.
    public var score: Float

    /// Describes a candidate.
    public init(subjectID: SubjectRecord.ID, score: Float) {
        self.subjectID = subjectID
        self.score = score
    }

    var json: JSONValue { ["subjectID": .integer(subjectID.rawValue), "score": .number(score)] }
}

extension AuditEvent {
    /// A gallery creation by `principal` (the gallery's settings come from the change).
    public static func galleryCreated(by principal: some AuditActing) -> AuditEvent {
        AuditEvent(action: .galleryCreated, actor: principal.auditActor)
    }

    /// A threshold change and the reason given for it.
    public static func thresholdChanged(by principal: some AuditActing, reason: String) -> AuditEvent {
        AuditEvent(action: .thresholdChanged, actor: principal.auditActor, parameters: ["reason": .string(reason)])
    }

    /// A gallery erasure.
    public static func galleryDeleted(by principal: some AuditActing, galleryName: String) -> AuditEvent {
        AuditEvent(action: .galleryDeleted, actor: principal.auditActor, galleryName: galleryName)
    }

    /// An enrolment into the named gallery.
    public static func subjectEnrolled(by principal: some AuditActing, galleryName: String) -> AuditEvent {
        AuditEvent(action: .subjectEnrolled, actor: principal.auditActor, galleryName: galleryName)
    }

    /// Templates added to a subject of the named gallery.
    public static func templatesAdded(by principal: some AuditActing, galleryName: String) -> AuditEvent {
        AuditEvent(action: .templatesAdded, actor: principal.auditActor, galleryName: galleryName)
    }

    /// A subject erased on request, with the reason given.
    public static func subjectErased(by principal: some AuditActing, galleryName: String, reason: String) -> AuditEvent {
        AuditEvent(
            action: .subjectErased, actor: principal.auditActor, galleryName: galleryName,
            parameters: ["reason": .string(reason)])
    }

    /// A subject erased by the retention sweeper.
    public static func retentionErasure(galleryName: String?, retainedUntil: Date) -> AuditEvent {
        AuditEvent(
            action: .retentionErasure, actor: .system("retention"), galleryName: galleryName,
            parameters: ["retainedUntilMilliseconds": .integer(Int64((retainedUntil.timeIntervalSince1970 * 1000).rounded()))])
    }

    /// A 1:N search and the candidates it returned, best first.
    public static func search(
        by principal: some AuditActing, gallery: GalleryRecord, justification: SearchJustification, probeSHA256: String,
        parameters: [String: JSONValue] = [:], candidates: [AuditCandidate]
    ) -> AuditEvent {
        AuditEvent(
            action: .search, actor: principal.auditActor, galleryID: gallery.id, galleryName: gallery.name,
            justification: justification, probeSHA256: probeSHA256, parameters: parameters,
            result: ["candidates": .array(candidates.map(\.json))])
    }

    /// A 1:1 verification of a probe against an enrolled subject.
    public static func verification(
        by principal: some AuditActing, gallery: GalleryRecord, justification: SearchJustification, probeSHA256: String,
        subjectID: SubjectRecord.ID, score: Float, threshold: Float, engine: String? = nil, isMatch: Bool? = nil
    ) -> AuditEvent {
        var parameters: [String: JSONValue] = ["subjectID": .integer(subjectID.rawValue), "threshold": .number(threshold)]
        // Entries written before galleries had engines name none (their engine was SFace).
        if let engine { parameters["engine"] = .string(engine) }
        return AuditEvent(
            action: .verify, actor: principal.auditActor, galleryID: gallery.id, galleryName: gallery.name,
            justification: justification, probeSHA256: probeSHA256, parameters: parameters,
            result: ["score": .number(score), "match": .bool(isMatch ?? (score >= threshold))])
    }

    /// A 1:1 comparison of two images, neither enrolled; `probeSHA256` is the first image's hash.
    public static func comparison(
        by principal: some AuditActing, justification: SearchJustification, probeSHA256: String,
        otherImageSHA256: String, score: Float, threshold: Float, engine: String = "sface", isMatch: Bool? = nil
    ) -> AuditEvent {
        AuditEvent(
            action: .compare, actor: principal.auditActor, justification: justification, probeSHA256: probeSHA256,
            parameters: [
                "otherImageSHA256": .string(otherImageSHA256), "threshold": .number(threshold), "engine": .string(engine),
            ],
            result: ["score": .number(score), "match": .bool(isMatch ?? (score >= threshold))])
    }

    /// A face detection on an image.
    public static func detection(by principal: some AuditActing, probeSHA256: String, faceCount: Int) -> AuditEvent {
        AuditEvent(
            action: .detect, actor: principal.auditActor, probeSHA256: probeSHA256,
            result: ["faces": .integer(Int64(faceCount))])
    }

    /// A reviewer's decision on one candidate of the search recorded at `searchSequence`.
    public static func reviewDecision(
        by principal: some AuditActing, gallery: GalleryRecord, searchSequence: Int64, subjectID: SubjectRecord.ID,
        decision: String, note: String? = nil
    ) -> AuditEvent {
        var parameters: [String: JSONValue] = [
            "searchSequence": .integer(searchSequence), "subjectID": .integer(subjectID.rawValue),
        ]
        if let note { parameters["note"] = .string(note) }
        return AuditEvent(
            action: .reviewDecision, actor: principal.auditActor, galleryID: gallery.id, galleryName: gallery.name,
            parameters: parameters, result: ["decision": .string(decision)])
    }
}
