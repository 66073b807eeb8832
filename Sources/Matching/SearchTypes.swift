/// One template to enrol: its identifier, its subject and its vector.
public struct Template: Sendable, Equatable {
    /// The template's stable identifier.
    public var id: TemplateID
    /// The subject the template belongs to.
    public var owner: OwnerID
    /// The embedding; the index stores it L2-normalised, so similarity is the dot product.
    public var vector: [Float]

    /// Creates a template.
    public init(id: TemplateID, owner: OwnerID, vector: [Float]) {
        self.id = id
        self.owner = owner
        self.vector = vector
    }
}

/// Many templates in one contiguous buffer: the cheap way to enrol or load millions of rows.
public struct TemplateBatch: Sendable, Equatable {
    /// Identifiers, one per row.
    public var ids: [TemplateID]
    /// Owners, one per row.
    public var owners: [OwnerID]
    /// Row-major vectors: row `i` is `vectors[i * dimension ..< (i + 1) * dimension]`.
    public var vectors: [Float]
    /// Components per vector.
    public var dimension: Int

    /// Creates a batch; `insert` checks that the counts agree.
    public init(ids: [TemplateID], owners: [OwnerID], vectors: [Float], dimension: Int) {
        self.ids = ids
        self.owners = owners
        self.vectors = vectors
        self.dimension = dimension
    }

    /// Packs single templates into a batch (all vectors must have `dimension` components).
    public init(_ templates: [Template], dimension: Int) {
        ids = templates.map(\.id)
        owners = templates.map(\.owner)
        vectors = templates.flatMap(\.vector)
        self.dimension = dimension
    }

    /// Rows in the batch.
    public var count: Int { ids.count }

    /// The vector of row `row`.
    public func vector(at row: Int) -> ArraySlice<Float> {
        vectors[row * dimension ..< (row + 1) * dimension]
    }
}

/// One candidate from a search: a template, its subject and its cosine similarity to the probe.
public struct SearchHit: Hashable, Sendable {
    /// The matched template.
    public let id: TemplateID
    /// Its subject.
    public let owner: OwnerID
    /// Cosine similarity to the probe, in [-1, 1]; higher is more similar.
    public let score: Float

    /// Creates a hit.
    public init(id: TemplateID, owner: OwnerID, score: Float) {
        self.id = id
        self.owner = owner
        self.score = score
    }
}

/// One subject from a per-subject search: the subject's best template and its score.
public struct SubjectHit: Hashable, Sendable {
    /// The subject.
    public let owner: OwnerID
    /// The subject's best similarity to the probe.
    public let score: Float
    /// The template that gave that similarity.
    public let bestTemplate: TemplateID

    /// Creates a subject hit.
    public init(owner: OwnerID, score: Float, bestTemplate: TemplateID) {
        self.owner = owner
        self.score = score
        self.bestTemplate = bestTemplate
    }
}

/// Restricts a search to templates the predicate accepts (for example one gallery partition,
/// or everyone but the probe's own subject). The predicate is evaluated only for templates that
/// would otherwise enter the candidate list, so it may be moderately expensive.
public struct SearchFilter: Sendable {
    /// Returns true when the template may appear in results.
    public let accepts: @Sendable (TemplateID, OwnerID) -> Bool

    /// Wraps a predicate.
    public init(_ accepts: @escaping @Sendable (TemplateID, OwnerID) -> Bool) {
        self.accepts = accepts
    }

    /// Only templates of these subjects.
    public static func owners(_ owners: Set<OwnerID>) -> SearchFilter {
        SearchFilter { _, owner in owners.contains(owner) }
    }

    /// Every template except those of these subjects.
    public static func excludingOwners(_ owners: Set<OwnerID>) -> SearchFilter {
        SearchFilter { _, owner in !owners.contains(owner) }
    }

    /// Only these templates.
    public static func templates(_ ids: Set<TemplateID>) -> SearchFilter {
        SearchFilter { id, _ in ids.contains(id) }
    }
}

/// What a search returns and how hard a graph index looks.
public struct SearchParameters: Sendable {
    /// Largest number of hits (templates, or subjects for per-subject search).
    public var k: Int
    /// Hits scoring below this cosine similarity are dropped (the gallery's operating threshold
    /// for candidate lists, or -1 for a plain top-k).
    public var minimumScore: Float
    /// Optional restriction on which templates may be returned.
    public var filter: SearchFilter?
    /// Graph indexes only: the candidate-list breadth (HNSW `efSearch`); nil uses the index's
    /// default. Raised to `k` when smaller. Flat indexes are exact and ignore it.
    public var searchBreadth: Int?

    /// Creates search parameters.
    public init(k: Int = 10, minimumScore: Float = -1, filter: SearchFilter? = nil, searchBreadth: Int? = nil) {
        self.k = k
        self.minimumScore = minimumScore
        self.filter = filter
        self.searchBreadth = searchBreadth
    }

    func validated() throws(MatchingError) -> SearchParameters {
        guard k > 0 else { throw .invalidParameter(name: "k", reason: "must be at least 1, got \(k)") }
        guard minimumScore.isFinite || minimumScore == -.infinity else {
            throw .invalidParameter(name: "minimumScore", reason: "must be a number, got \(minimumScore)")
        }
        if let searchBreadth, searchBreadth < 1 {
            throw .invalidParameter(name: "searchBreadth", reason: "must be at least 1, got \(searchBreadth)")
        }
        return self
    }
}
