import ArgumentParser
import FaceEngine
import Foundation
import Gallery
import Governance
import Operations

extension SubjectCommand {
    /// `biomatch subject access GALLERY --reference R|--subject-id ID --purpose P --case-reference C --out page.html`.
    struct Access: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Everything held about one subject, and every audit entry naming them, as one HTML page.",
            discussion: """
                Writes a self-contained page (images inline, no scripts, nothing fetched): the subject's \
                record, each template with its engine, quality, vector and face crop, the enrolment images \
                as supplied, and every audit entry that names the subject (enrolment, added images, \
                searches where they were a candidate, verifications, review decisions, erasure, earlier \
                accesses) with its leaf index and inclusion proof. An erased subject is found by \
                --subject-id, the identifier the audit log keeps. The access is itself audited, with the \
                purpose and case reference given.
                """)

        @OptionGroup var databaseOptions: StoreOptions
        @Argument(help: "The gallery's name.") var gallery: String
        @Option(help: "The subject's external reference (an enrolled subject).") var reference: String?
        @Option(help: "The subject's identifier, as audit entries name it (also after erasure).") var subjectID: Int64?
        @Option(help: "Why: one of the access purposes (BIOMATCH_ACCESS_PURPOSES; default subject-access-request, regulator-inspection, complaint-investigation).")
        var purpose: String
        @Option(help: "The request's reference; recorded in the audit log.") var caseReference: String
        @Option(help: "The HTML page to write.") var out: String

        func validate() throws {
            if (reference == nil) == (subjectID == nil) { throw ValidationError("give exactly one of --reference and --subject-id") }
        }

        func run() async throws {
            let operations = try await databaseOptions.openOperations(
                engine: try FaceEngine(installation: .fromEnvironment(), configuration: FaceEngineConfiguration(keepsAlignedCrops: true)))
            let selector: SubjectSelector = reference.map { .reference($0) } ?? .id(SubjectRecord.ID(subjectID ?? 0))
            let disclosure = try await operations.accessSubject(
                SubjectAccessRequest(
                    gallery: gallery, subject: selector,
                    justification: StatedJustification(purpose: purpose, caseReference: caseReference)),
                by: StoreOptions.caller)
            let page = SubjectAccessPage(disclosure: disclosure, generatedAt: Date()).render()
            do {
                try Data(page.utf8).write(to: URL(filePath: out), options: .atomic)
            } catch {
                throw CommandFailure("Cannot write \(out): \((error as NSError).localizedDescription)")
            }
            let state = disclosure.subject == nil ? "erased" : "enrolled"
            print(
                "\(disclosure.subjectID) (\(state)): \(disclosure.templates.count) template(s), \(disclosure.images.count) image(s), "
                    + "\(disclosure.auditEntries.count) audit entries; access recorded as entry \(disclosure.accessSequence); wrote \(out)")
        }
    }
}
