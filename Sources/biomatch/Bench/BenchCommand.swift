import ArgumentParser

/// `biomatch bench ...`: speed figures measured against an anchor in the same run.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure speed as ratios against reference implementations run on this machine.",
        subcommands: [
            PipelineBenchCommand.self, SearchBenchCommand.self, EnrolBenchCommand.self, ServeBenchCommand.self,
            StartupBenchCommand.self, ClusterBenchCommand.self, AuditBenchCommand.self,
        ]
    )
}
