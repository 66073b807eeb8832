import Foundation
import Gallery

extension PurposePolicy {
    /// The environment variable that replaces the default purposes of subject access: names
    /// separated by commas.
    public static let accessEnvironmentKey = "BIOMATCH_ACCESS_PURPOSES"

    /// Why everything held about a subject may be disclosed: the subject's own request (UK GDPR
    /// Art. 15, DPA 2018 s.45), a regulator's inspection, or a complaint being investigated.
    public static let defaultAccessPurposes: [SearchPurpose] = [
        SearchPurpose("subject-access-request"), SearchPurpose("regulator-inspection"),
        SearchPurpose("complaint-investigation"),
    ]

    /// The purposes a subject access may state: the defaults, or the names listed in
    /// `BIOMATCH_ACCESS_PURPOSES`. Each applies to every kind of gallery.
    public static func subjectAccess(
        _ environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> PurposePolicy {
        guard let listed = environment[accessEnvironmentKey] else { return PurposePolicy(purposes: defaultAccessPurposes) }
        var seen = Set<String>()
        let names = listed.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && seen.insert($0).inserted }
        return PurposePolicy(purposes: names.map { SearchPurpose($0) })
    }
}

extension AuditEvent {
    /// A disclosure of everything held about a subject, with why (purpose and case reference)
    /// and what was disclosed (counts only: the log never holds the data itself).
    public static func subjectAccessed(
        by principal: some AuditActing, galleryName: String, galleryID: GalleryRecord.ID?, subjectID: Int64,
        justification: SearchJustification, selector: String, disclosed: [String: JSONValue]
    ) -> AuditEvent {
        AuditEvent(
            action: .subjectAccessed, actor: principal.auditActor, galleryID: galleryID, galleryName: galleryName,
            justification: justification, parameters: ["subjectID": .integer(subjectID), "selector": .string(selector)],
            result: disclosed)
    }
}
