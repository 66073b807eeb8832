/// An in-memory index of L2-normalised templates searched by cosine similarity.
///
/// Every index is safe to share between threads: searches run concurrently with each other and
/// with inserts and removals, which never wait for searches to finish. A removal takes effect
/// before it returns: no search that starts afterwards returns the removed template.
public protocol TemplateIndex: AnyObject, Sendable {
    /// Components per template.
    var dimension: Int { get }

    /// Live (not removed) templates.
    var count: Int { get }

    /// Adds templates; the whole batch is checked first and nothing is added if any row is
    /// invalid or its identifier is already live.
    func insert(_ batch: TemplateBatch) throws(MatchingError)

    /// Removes templates by identifier and returns how many were live. Unknown identifiers are
    /// ignored.
    @discardableResult
    func remove(_ ids: [TemplateID]) -> Int

    /// Whether a template is live in the index.
    func contains(_ id: TemplateID) -> Bool

    /// The best `parameters.k` templates for one probe, best first (ties: earlier enrolment first).
    func search(_ probe: [Float], parameters: SearchParameters) throws(MatchingError) -> [SearchHit]

    /// Several probes at once; cheaper per probe than separate calls because each part of the
    /// gallery is read once for all of them. Result `i` belongs to probe `i`.
    func search(batch probes: [[Float]], parameters: SearchParameters) throws(MatchingError) -> [[SearchHit]]

    /// Drops removed templates from memory (erasure) and rebuilds internal structures.
    func compact()
}

extension TemplateIndex {
    /// Adds one template.
    public func insert(_ template: Template) throws(MatchingError) {
        try insert(TemplateBatch([template], dimension: template.vector.count))
    }

    /// Removes one template; returns whether it was live.
    @discardableResult
    public func remove(_ id: TemplateID) -> Bool {
        remove([id]) == 1
    }

    /// The best `parameters.k` subjects for one probe, each scored by its best template
    /// (best first). The threshold and filter apply to templates as in `search`.
    public func searchSubjects(_ probe: [Float], parameters: SearchParameters) throws(MatchingError) -> [SubjectHit] {
        let parameters = try parameters.validated()
        // Ask for more templates until k distinct subjects are found or the index ran out of
        // candidates: a subject with many templates can fill a template list on its own.
        var templateCount = parameters.k * 4
        while true {
            var templateParameters = parameters
            templateParameters.k = templateCount
            if let breadth = parameters.searchBreadth { templateParameters.searchBreadth = max(breadth, templateCount) }
            let hits = try search(probe, parameters: templateParameters)
            let subjects = groupBySubject(hits, limit: parameters.k)
            if subjects.count >= parameters.k || hits.count < templateCount || templateCount >= count {
                return subjects
            }
            templateCount *= 4
        }
    }
}

/// Keeps each subject's best hit, in score order, at most `limit` subjects. Hits must be sorted
/// best first.
public func groupBySubject(_ hits: [SearchHit], limit: Int) -> [SubjectHit] {
    var seen = Set<OwnerID>()
    var subjects: [SubjectHit] = []
    for hit in hits where subjects.count < limit {
        if seen.insert(hit.owner).inserted {
            subjects.append(SubjectHit(owner: hit.owner, score: hit.score, bestTemplate: hit.id))
        }
    }
    return subjects
}
