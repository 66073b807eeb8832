import Foundation
import Gallery
import Governance
import Testing

@Suite struct AccessControlTests {
    /// Every permission, on a gallery inside the key's scope ("custody") where it names one.
    static let inScope: [Permission] = [
        .createGallery, .configureGallery("custody"), .readGallery("custody"), .enrol("custody"),
        .eraseSubject("custody"), .search("custody"), .verify("custody"), .compareImages, .detect, .review("custody"),
        .accessSubject("custody"), .readAudit, .manageKeys,
    ]

    /// The matrix as the issue states it, written out by hand: what each role may do.
    static let granted: [Role: Set<Permission>] = [
        .admin: Set(inScope),
        .enroller: [.readGallery("custody"), .enrol("custody"), .eraseSubject("custody"), .detect],
        .searcher: [.readGallery("custody"), .search("custody"), .verify("custody"), .compareImages, .detect],
        .reviewer: [.readGallery("custody"), .review("custody")],
        .auditor: [.readAudit],
        .subjectAccess: [.accessSubject("custody")],
    ]

    static func principal(_ role: Role) -> Principal {
        let scope: GalleryScope = switch role {
        case .admin: .allGalleries
        case .auditor: .galleries([])
        case .enroller, .searcher, .reviewer, .subjectAccess: .galleries(["custody", "watchlist"])
        }
        return Principal(keyID: APIKey.ID(7), name: "\(role) key", role: role, scope: scope)
    }

    @Test(arguments: Role.allCases)
    func rolesGrantExactlyTheirPermissions(role: Role) async {
        let principal = Self.principal(role)
        for permission in Self.inScope {
            if Self.granted[role, default: []].contains(permission) {
                #expect(principal.may(permission), "\(role) should be allowed to \(permission)")
            } else {
                await expectFailure(.forbidden(.role(role, permission))) {
                    try principal.authorize(permission)
                }
            }
        }
    }

    @Test(arguments: [Role.enroller, .searcher, .reviewer, .subjectAccess])
    func scopedRolesStayInTheirGalleries(role: Role) async {
        let principal = Self.principal(role)
        for permission in Self.granted[role, default: []] {
            guard let gallery = permission.galleryName else { continue }
            let elsewhere = Self.moved(permission, to: "immigration")
            await expectFailure(.forbidden(.gallery("immigration", key: principal.keyID))) {
                try principal.authorize(elsewhere)
            }
            // The other gallery of the scope is fine.
            #expect(principal.may(Self.moved(permission, to: "watchlist")), "\(role) in watchlist (from \(gallery))")
        }
    }

    @Test func adminReachesEveryGallery() {
        let admin = Self.principal(.admin)
        for gallery in ["custody", "immigration", "a gallery created tomorrow"] {
            #expect(admin.may(.search(gallery)))
            #expect(admin.may(.configureGallery(gallery)))
        }
    }

    static func moved(_ permission: Permission, to gallery: String) -> Permission {
        switch permission {
        case .configureGallery: .configureGallery(gallery)
        case .readGallery: .readGallery(gallery)
        case .enrol: .enrol(gallery)
        case .eraseSubject: .eraseSubject(gallery)
        case .search: .search(gallery)
        case .verify: .verify(gallery)
        case .review: .review(gallery)
        case .accessSubject: .accessSubject(gallery)
        case .createGallery, .compareImages, .detect, .readAudit, .manageKeys: permission
        }
    }
}

@Suite struct PurposePolicyTests {
    static func gallery(_ purpose: GalleryPurpose) -> GalleryRecord {
        GalleryRecord(
            id: .init(1), name: "g", description: "", purpose: purpose, retention: .indefinite,
            operatingThreshold: 0.4, modelIdentifier: "sface-2021dec", createdAt: Date())
    }

    @Test func configuredPurposesWithACaseReferencePass() throws {
        let policy = PurposePolicy()
        #expect(policy.names == [
            "criminal-investigation", "immigration-check", "missing-person", "safeguarding", "fraud-prevention",
        ])
        let justification = try policy.justify(
            purpose: "missing-person", caseReference: "  MP/2026/17 \n", gallery: Self.gallery(.custody))
        #expect(justification == SearchJustification(purpose: "missing-person", caseReference: "MP/2026/17"))
        #expect(try policy.justify(purpose: "fraud-prevention", caseReference: "F-1").purpose == "fraud-prevention")
    }

    @Test func missingOrUnknownPurposesAreRefused() async {
        let policy = PurposePolicy()
        await expectFailure(.unknownPurpose("curiosity", allowed: policy.names)) {
            try policy.justify(purpose: "curiosity", caseReference: "C-1")
        }
        await expectFailure(.unknownPurpose("", allowed: policy.names)) {
            try policy.justify(purpose: nil, caseReference: "C-1")
        }
        // Names match exactly.
        await expectFailure(.unknownPurpose("Missing-Person", allowed: policy.names)) {
            try policy.justify(purpose: "Missing-Person", caseReference: "C-1")
        }
    }

    @Test func caseReferencesMustBeGiven() async {
        let policy = PurposePolicy()
        for reference in [nil, "", "   ", "\n\t"] as [String?] {
            await expectFailure(.invalidCaseReference(reason: "a case reference is required")) {
                try policy.justify(purpose: "safeguarding", caseReference: reference)
            }
        }
        await expectFailure(.invalidCaseReference(reason: "longer than 200 characters")) {
            try policy.justify(purpose: "safeguarding", caseReference: String(repeating: "x", count: 201))
        }
        await expectFailure(.invalidCaseReference(reason: "contains control characters")) {
            try policy.justify(purpose: "safeguarding", caseReference: "CASE\u{0}1")
        }
    }

    @Test func purposesOnlySearchTheirKindsOfGallery() async {
        let policy = PurposePolicy()
        await expectFailure(.purposeNotForGallery("immigration-check", galleryPurpose: .custody)) {
            try policy.justify(purpose: "immigration-check", caseReference: "I-1", gallery: Self.gallery(.custody))
        }
        await expectFailure(.purposeNotForGallery("criminal-investigation", galleryPurpose: .immigration)) {
            try policy.justify(purpose: "criminal-investigation", caseReference: "C-1", gallery: Self.gallery(.immigration))
        }
        for purpose in policy.names {
            #expect((try? policy.justify(purpose: purpose, caseReference: "E-1", gallery: Self.gallery(.other))) != nil)
        }
    }

    @Test func theEnvironmentReplacesTheList() async throws {
        let policy = PurposePolicy.fromEnvironment([
            PurposePolicy.environmentKey: " safeguarding, audit-sampling ,,safeguarding"
        ])
        #expect(policy.names == ["safeguarding", "audit-sampling"])
        // A default keeps its gallery restriction; a new name may search any gallery.
        #expect(policy.purposes[0].galleryPurposes == [.custody, .watchlist, .other])
        #expect(try policy.justify(purpose: "audit-sampling", caseReference: "A-1", gallery: Self.gallery(.immigration)).purpose
            == "audit-sampling")
        await expectFailure(.unknownPurpose("missing-person", allowed: ["safeguarding", "audit-sampling"])) {
            try policy.justify(purpose: "missing-person", caseReference: "C-1")
        }
        #expect(PurposePolicy.fromEnvironment([:]) == PurposePolicy())
    }
}
