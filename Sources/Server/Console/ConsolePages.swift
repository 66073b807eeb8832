import Foundation
import Gallery
import Governance
import Review

/// The console's pages as HTML text. Every value from the store or the request is escaped
/// with ``HTML/escape(_:)``; the only unescaped text is this file's own markup.
enum ConsolePages {
    static func who(_ principal: Principal) -> String { "\(principal.name) (\(principal.role.rawValue))" }

    static func signIn(message: String?) -> String {
        var body = "<h1>Sign in</h1>"
        if let message { body += #"<p class="notice error">\#(HTML.escape(message))</p>"# }
        body += """
            <form class="signin" method="post" action="/console/sign-in">
            <label for="key">API key</label>
            <input id="key" name="key" type="password" autocomplete="off" required>
            <button type="submit">Sign in</button>
            </form>
            <p>The key is kept in a cookie for this browser session only; sign out to remove it.</p>
            """
        return HTML.page(title: "Sign in", signedInAs: nil, body: body)
    }

    static func queue(_ entries: [ReviewQueueEntry], principal: Principal) -> String {
        var body = "<h1>Searches awaiting review</h1>"
        if entries.isEmpty {
            body += #"<p class="notice info">No search awaits review in your galleries.</p>"#
        } else {
            body += "<table><thead><tr><th>Case</th><th>Gallery</th><th>Purpose</th><th>Case reference</th>"
                + "<th>Opened (UTC)</th><th>Candidates</th><th>Decided</th><th>Threshold</th></tr></thead><tbody>"
            for entry in entries {
                let id = entry.caseID.rawValue
                body += "<tr><td><a href=\"/console/reviews/\(id)\">Case \(id)</a></td>"
                    + "<td>\(HTML.escape(entry.galleryName))</td><td>\(HTML.escape(entry.purpose))</td>"
                    + "<td>\(HTML.escape(entry.caseReference))</td><td>\(HTML.escape(HTML.date(entry.openedAt)))</td>"
                    + "<td class=\"num\">\(entry.candidateCount)</td><td class=\"num\">\(entry.decisionCount)</td>"
                    + "<td class=\"num\">\(HTML.decimal(entry.threshold))</td></tr>"
            }
            body += "</tbody></table>"
        }
        return HTML.page(title: "Review queue", signedInAs: who(principal), body: body)
    }

    static func reviewCase(
        _ reviewCase: ReviewCase, candidateQuality: [SubjectRecord.ID: TemplateQuality], auditTrail: [AuditEntry],
        mayReview: Bool, principal: Principal, message: String?
    ) -> String {
        let id = reviewCase.id.rawValue
        var body = #"<p><a href="/console">← Queue</a></p><h1>Case \#(id): search of \#(HTML.escape(reviewCase.galleryName))</h1>"#
        if let message { body += #"<p class="notice error">\#(HTML.escape(message))</p>"# }
        body += "<dl class=\"facts\">"
        let facts: [(String, String)] = [
            ("Status", statusText(reviewCase.status)), ("Purpose", reviewCase.justification.purpose),
            ("Case reference", reviewCase.justification.caseReference),
            ("Gallery threshold", HTML.decimal(reviewCase.threshold)), ("Searched by", reviewCase.searcher.description),
            ("Opened (UTC)", HTML.date(reviewCase.openedAt)), ("Probe SHA-256", reviewCase.probeSHA256),
            ("Identifications", reviewCase.identifications.isEmpty
                ? "none (only a confirmed decision makes one)"
                : reviewCase.identifications.map { "\($0.candidate.subjectReference) (rank \($0.candidate.rank))" }.joined(separator: ", ")),
        ]
        for (name, value) in facts { body += "<dt>\(HTML.escape(name))</dt><dd>\(HTML.escape(value))</dd>" }
        body += "</dl>"

        let probe = reviewCase.probeFaces.first
        body += "<h2>Candidates</h2>"
        if reviewCase.candidates.isEmpty { body += #"<p class="notice info">The search returned no candidate.</p>"# }
        if !mayReview {
            body += #"<p class="notice info">Faces and decisions are for reviewers of this gallery.</p>"#
        }
        for candidate in reviewCase.candidates {
            body += candidateCard(
                candidate, caseID: id, probe: probe, quality: candidateQuality[candidate.subjectID],
                reviewCase: reviewCase, mayReview: mayReview)
        }
        body += auditTable(auditTrail)
        return HTML.page(title: "Case \(id)", signedInAs: who(principal), body: body)
    }

    static func statusText(_ status: ReviewStatus) -> String {
        switch status {
        case .awaitingReview: "awaiting review"
        case .reviewed: "reviewed"
        case .noCandidates: "no candidates"
        }
    }

    static func candidateCard(
        _ candidate: ReviewCandidate, caseID: Int64, probe: ProbeFaceSummary?, quality: TemplateQuality?, reviewCase: ReviewCase,
        mayReview: Bool
    ) -> String {
        let subject = candidate.subjectID.rawValue
        var card = #"<section class="candidate" id="subject-\#(subject)">"#
        if mayReview {
            card += #"<div class="faces">"#
            if let probe {
                card += #"<div class="face"><img src="/console/reviews/\#(caseID)/probe/\#(probe.faceIndex).png" alt="Probe face \#(probe.faceIndex)">Probe</div>"#
            }
            card += #"<div class="face"><img src="/console/reviews/\#(caseID)/candidates/\#(subject).png" alt="Candidate \#(HTML.escape(candidate.subjectReference))">Candidate</div></div>"#
        }
        let threshold = reviewCase.threshold
        // A distance engine's match lies below its threshold.
        let margin = reviewCase.meetsThreshold(candidate.score)
            ? (reviewCase.higherIsMoreAlike
                ? #"<span class="above">at or above threshold</span>"# : #"<span class="above">below threshold (a distance: a match)</span>"#)
            : (reviewCase.higherIsMoreAlike
                ? #"<span class="below">below threshold</span>"# : #"<span class="below">at or above threshold (a distance: no match)</span>"#)
        card += #"<div class="details"><h2>Rank \#(candidate.rank): \#(HTML.escape(candidate.subjectReference))</h2>"#
        card += "<table><tbody>"
        card += "<tr><th>Score</th><td class=\"num\">\(HTML.decimal(candidate.score, places: 4)) \(margin)</td></tr>"
        card += "<tr><th>Gallery threshold</th><td class=\"num\">\(HTML.decimal(threshold, places: 4)) (\(HTML.escape(reviewCase.engine)))</td></tr>"
        card += "<tr><th>Probe quality</th><td>\(HTML.escape(probe.map { qualityText(detection: $0.detectionScore, measures: $0.quality) } ?? "not kept"))</td></tr>"
        card += "<tr><th>Candidate quality</th><td>\(HTML.escape(quality.map { qualityText(detection: $0.detectionScore, measures: $0.measures) } ?? "unknown"))</td></tr>"
        card += "<tr><th>Subject ID</th><td class=\"num\">\(subject)</td></tr></tbody></table>"
        if let decision = candidate.decision {
            card += #"<p>Decision: <span class="verdict \#(decision.verdict.rawValue)">\#(decision.verdict.rawValue)</span> "#
                + "by \(HTML.escape(decision.reviewer.description)) at \(HTML.escape(HTML.date(decision.decidedAt)))</p>"
                + "<p>Note: \(HTML.escape(decision.note))</p>"
        } else if mayReview {
            card += """
                <p><span class="verdict awaiting">awaiting review</span></p>
                <form method="post" action="/console/reviews/\(caseID)/decisions">
                <input type="hidden" name="subjectID" value="\(subject)">
                <label for="note-\(subject)">Note (what the decision rests on)</label>
                <textarea id="note-\(subject)" name="note" required maxlength="\(ReviewLedger.maximumNoteLength)"></textarea>
                <div class="buttons">
                <button class="confirm" name="decision" value="confirmed">Confirmed</button>
                <button class="reject" name="decision" value="rejected">Rejected</button>
                <button class="unsure" name="decision" value="inconclusive">Inconclusive</button>
                </div></form>
                """
        } else {
            card += #"<p><span class="verdict awaiting">awaiting review</span></p>"#
        }
        return card + "</div></section>"
    }

    static func qualityText(detection: Float, measures: [String: Float]) -> String {
        (["detection \(HTML.decimal(detection))"] + measures.sorted { $0.key < $1.key }.map { "\($0.key) \(HTML.decimal($0.value, places: 1))" })
            .joined(separator: ", ")
    }

    static func auditTable(_ entries: [AuditEntry]) -> String {
        var table = "<h2>Audit trail of this search</h2><table><thead><tr><th>#</th><th>Recorded (UTC)</th><th>Action</th>"
            + "<th>Actor</th><th>Parameters</th><th>Entry hash</th></tr></thead><tbody>"
        for entry in entries {
            table += "<tr><td class=\"num\">\(entry.sequence)</td><td>\(HTML.escape(HTML.date(entry.recordedAt)))</td>"
                + "<td>\(HTML.escape(entry.action.rawValue))</td><td>\(HTML.escape(entry.actor.description))</td>"
                + "<td><code>\(HTML.escape(entry.parameters))</code></td><td><code>\(HTML.escape(String(entry.entryHash.prefix(16))))…</code></td></tr>"
        }
        return table + "</tbody></table>"
    }

    static func error(status: Int, detail: String, principal: Principal) -> String {
        let body = #"<p><a href="/console">← Queue</a></p><h1>Error \#(status)</h1><p class="notice error">\#(HTML.escape(detail))</p>"#
        return HTML.page(title: "Error", signedInAs: who(principal), body: body)
    }
}
