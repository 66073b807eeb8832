import Evaluation
import Foundation
import Gallery
import Governance
import Imaging
import Operations

/// A subject access disclosure as one self-contained HTML page: inline CSS, images as `data:`
/// URIs, no scripts, nothing fetched. Every value from the store or the log is escaped.
struct SubjectAccessPage {
    let disclosure: SubjectDisclosure
    let generatedAt: Date

    func render() -> String {
        let title = "Subject access: \(disclosure.galleryName), subject \(disclosure.subjectID.rawValue)"
        return """
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <title>\(escapeHTML(title))</title>
            <style>\(Self.style)</style>
            </head>
            <body>
            <h1>\(escapeHTML(title))</h1>
            \(summary())
            \(imagesSection())
            \(templatesSection())
            \(auditSection())
            <p class="note">Generated \(escapeHTML(Self.time(generatedAt))) by BioMatch. Each audit entry's hash is \
            computed as docs/audit-log.md describes; an entry's inclusion proof shows it is in the log whose \
            checkpoint is given above, so it cannot be removed or changed later without that showing.</p>
            </body>
            </html>
            """
    }

    private func summary() -> String {
        var rows: [(String, String)] = [
            ("Gallery", disclosure.galleryName + (disclosure.gallery == nil ? " (erased)" : "")),
            ("Subject identifier", String(disclosure.subjectID.rawValue)),
        ]
        if let subject = disclosure.subject {
            rows.append(("Status", "enrolled"))
            rows.append(("Reference", subject.externalReference))
            let attributes = subject.attributes.sorted { $0.key < $1.key }.map { "\($0.key) = \($0.value)" }
            rows.append(("Attributes", attributes.isEmpty ? "none" : attributes.joined(separator: "; ")))
            rows.append(("Enrolled", Self.time(subject.createdAt)))
            rows.append(("Last changed", Self.time(subject.updatedAt)))
            rows.append(("Kept until", subject.retainUntil.map(Self.time) ?? "the gallery's retention rule"))
        } else {
            let erasure = disclosure.erasure
            let how = switch erasure?.relation {
            case .erasedOnRequest?: "erased on request"
            case .erasedByRetention?: "erased when its retention period ended"
            case .galleryErased?: "erased with its gallery"
            default: "no longer held"
            }
            rows.append(("Status", how + (erasure.map { " (audit entry \($0.entry.sequence), \(Self.time($0.entry.recordedAt)))" } ?? "")))
            rows.append(("Held now", "nothing but the audit entries below: the record, templates, images and crops were deleted"))
        }
        rows.append(("Templates", String(disclosure.templates.count)))
        rows.append(("Enrolment images kept", String(disclosure.images.count)))
        rows.append(("Audit entries naming the subject", String(disclosure.auditEntries.count)))
        rows.append(("This access", "purpose \(disclosure.justification.purpose), case \(disclosure.justification.caseReference), audit entry \(disclosure.accessSequence)"))
        if let checkpoint = disclosure.checkpoint {
            rows.append(("Checkpoint", "tree size \(checkpoint.checkpoint.size), root \(checkpoint.checkpoint.rootHash.base64EncodedString())"))
        } else {
            rows.append(("Checkpoint", "none yet: the entries carry no inclusion proof"))
        }
        let body = rows.map { "<tr><th>\(escapeHTML($0.0))</th><td>\(escapeHTML($0.1))</td></tr>" }.joined()
        var section = "<section><h2>Summary</h2><table class=\"facts\">\(body)</table>"
        if let checkpoint = disclosure.checkpoint {
            section += "<details><summary>Signed checkpoint</summary><pre>\(escapeHTML(checkpoint.note))</pre></details>"
        }
        return section + "</section>"
    }

    private func imagesSection() -> String {
        if let problem = disclosure.imagesProblem {
            return "<section><h2>Enrolment images</h2><p>Kept, but they could not be opened: \(escapeHTML(problem))</p></section>"
        }
        guard !disclosure.images.isEmpty else {
            return "<section><h2>Enrolment images</h2><p>None kept.</p></section>"
        }
        let figures = disclosure.images.map { kept in
            "<figure>\(Self.imageTag(bytes: kept.image.bytes, alt: "enrolment image"))"
                + "<figcaption>SHA-256 <code>\(escapeHTML(kept.image.sha256))</code>, \(kept.image.bytes.count) bytes</figcaption></figure>"
        }
        return "<section><h2>Enrolment images (as supplied)</h2><div class=\"images\">\(figures.joined())</div></section>"
    }

    private func templatesSection() -> String {
        guard !disclosure.templates.isEmpty else {
            return "<section><h2>Templates</h2><p>None held.</p></section>"
        }
        let rows = disclosure.templates.map { held -> String in
            let template = held.template
            let crop: String
            if let image = held.crop, let png = try? image.pngData() {
                crop = "<img class=\"crop\" alt=\"face crop\" src=\"data:image/png;base64,\(Data(png).base64EncodedString())\">"
            } else {
                crop = escapeHTML(held.cropProblem ?? "none stored")
            }
            let measures = template.quality.measures.sorted { $0.key < $1.key }
                .map { "\($0.key) \(String(format: "%.3f", Double($0.value)))" }.joined(separator: ", ")
            let vector = template.vector.map { String(format: "%.5f", Double($0)) }.joined(separator: " ")
            return "<tr><td>\(template.id.rawValue)</td><td>\(escapeHTML(held.engine ?? "-"))</td>"
                + "<td>\(escapeHTML(template.modelIdentifier))</td><td>\(escapeHTML(Self.time(template.enrolledAt)))</td>"
                + "<td>\(escapeHTML(Self.time(template.capturedAt)))</td>"
                + "<td>\(String(format: "%.3f", Double(template.quality.detectionScore)))<br><small>\(escapeHTML(measures))</small></td>"
                + "<td><code>\(escapeHTML(template.sourceImageSHA256))</code></td><td>\(crop)</td>"
                + "<td><details><summary>\(template.vector.count) values</summary><code class=\"vector\">\(vector)</code></details></td></tr>"
        }
        return """
            <section><h2>Templates</h2><table><thead><tr><th>Template</th><th>Engine</th><th>Model</th><th>Stored</th>\
            <th>Captured</th><th>Detection score, quality</th><th>Source image SHA-256</th><th>Face crop</th>\
            <th>Vector</th></tr></thead><tbody>\(rows.joined())</tbody></table></section>
            """
    }

    private func auditSection() -> String {
        let rows = disclosure.auditEntries.map { found -> String in
            let entry = found.entry
            let proof = found.inclusionProof.map { hashes in
                "<details><summary>\(hashes.count) hashes</summary><code>"
                    + hashes.map { escapeHTML($0.base64EncodedString()) }.joined(separator: "<br>") + "</code></details>"
            } ?? "not yet covered by a checkpoint"
            let why = [entry.purpose, entry.caseReference].compactMap { $0 }.joined(separator: " / ")
            return "<tr><td>\(found.position)</td><td>\(found.leafIndex)</td><td>\(escapeHTML(Self.time(entry.recordedAt)))</td>"
                + "<td>\(escapeHTML(Self.relationText(found.relation)))</td><td>\(escapeHTML(entry.action.rawValue))</td>"
                + "<td>\(escapeHTML(entry.actor.description))</td><td>\(escapeHTML(why.isEmpty ? "-" : why))</td>"
                + "<td><code>\(escapeHTML(entry.parameters))</code></td><td><code>\(escapeHTML(entry.result))</code></td>"
                + "<td><code>\(escapeHTML(entry.entryHash))</code><details><summary>export line</summary><code>"
                + "\(escapeHTML(AuditExport.line(for: entry)))</code></details></td><td>\(proof)</td></tr>"
        }
        return """
            <section><h2>Audit entries naming the subject</h2><table><thead><tr><th>Position</th><th>Leaf</th><th>Time</th>\
            <th>What</th><th>Action</th><th>Who</th><th>Purpose / case</th><th>Parameters</th><th>Result</th>\
            <th>Entry hash</th><th>Inclusion proof</th></tr></thead><tbody>\(rows.joined())</tbody></table></section>
            """
    }

    static func relationText(_ relation: SubjectAuditRelation) -> String {
        switch relation {
        case .enrolled: "enrolled"
        case .templatesAdded: "images added"
        case .searchCandidate: "a candidate in a search"
        case .verifiedAgainst: "compared 1:1 with a probe"
        case .reviewDecision: "a reviewer's decision about them"
        case .erasedOnRequest: "erased on request"
        case .erasedByRetention: "erased at the end of retention"
        case .galleryErased: "erased with the gallery"
        case .accessed: "their data disclosed (subject access)"
        }
    }

    /// An `<img>` for encoded image bytes: JPEG and PNG inline as they are, PGM/PPM (which
    /// browsers do not show) decoded and inlined as PNG.
    static func imageTag(bytes: [UInt8], alt: String) -> String {
        let format = ImageFormat.sniff(bytes)
        var inline = bytes
        var mediaType = format?.mediaType ?? "application/octet-stream"
        if format == .pgm || format == .ppm, let png = try? ImageDecoder().decode(bytes).pngData() {
            inline = png
            mediaType = "image/png"
        }
        return "<img alt=\"\(escapeHTML(alt))\" src=\"data:\(mediaType);base64,\(Data(inline).base64EncodedString())\">"
    }

    static func time(_ date: Date) -> String { date.formatted(.iso8601) }

    static let style = """
        body{font:14px/1.45 system-ui,sans-serif;color:#1d2330;margin:24px auto;max-width:1280px;padding:0 16px}
        h1{font-size:21px}h2{font-size:17px;margin-top:26px}table{border-collapse:collapse;width:100%}
        th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e1e5ec;vertical-align:top}th{background:#eef1f6}
        table.facts th{width:240px}code{font-size:12px;word-break:break-all}.vector{display:block;max-width:420px}
        .images{display:flex;flex-wrap:wrap;gap:16px}figure{margin:0}figure img{max-width:360px;max-height:360px;display:block}
        img.crop{width:112px;height:112px}.note{color:#555;margin-top:28px}pre{white-space:pre-wrap}
        """
}
