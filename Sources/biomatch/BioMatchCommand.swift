import ArgumentParser
import Installation

/// The `biomatch` command line: one root command, one subcommand per task.
@main
struct BioMatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "biomatch",
        abstract: "Face matching with human review and an audit trail.",
        version: BioMatchVersion.current,
        subcommands: [ServeCommand.self, ModelsCommand.self, EnginesCommand.self, DetectCommand.self, EmbedCommand.self, CompareCommand.self, BenchCommand.self, GalleryCommand.self, EnrolCommand.self, SubjectCommand.self, SearchCommand.self, VerifyCommand.self, KeysCommand.self, AuditCommand.self, WitnessCommand.self, ReportCommand.self, EvaluateCommand.self, CalibrateCommand.self]
    )
}
