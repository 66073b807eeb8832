import Foundation
import Synchronization

/// Progress of long work on standard error, the way people expect it: on a terminal a bar
/// redrawn in place with the count, the rate and the time left; otherwise (a log, a pipe) a line
/// now and then — every 10 % or every 30 s, whichever comes first — and one at the end.
final class ProgressDisplay: Sendable {
    private struct State {
        var started = ContinuousClock.now
        var lastDrawn: ContinuousClock.Instant?
        var lastPercentLogged = -1
        var finished = false
        /// The count at the first update since the clock started: work done before (a resumed
        /// job's) does not count towards the rate.
        var baseline: Int?
    }

    private let verb: String
    private let unit: String
    private let isTerminal: Bool
    private let state = Mutex(State())

    /// Progress of work that `verb`s things counted in `unit` ("templated", "subjects").
    init(verb: String, unit: String, isTerminal: Bool = isatty(STDERR_FILENO) != 0) {
        self.verb = verb
        self.unit = unit
        self.isTerminal = isTerminal
    }

    /// Restarts the clock (for work resumed after a wait, so the rate counts only the work).
    func restartClock() {
        state.withLock { state in
            state.started = .now
            state.baseline = nil
        }
    }

    /// Reports `done` of `total`.
    func update(done: Int, total: Int) {
        let now = ContinuousClock.now
        let line: String? = state.withLock { state in
            guard !state.finished else { return nil }
            let complete = total > 0 && done >= total
            let resumedFrom = state.baseline ?? done
            state.baseline = resumedFrom
            let elapsed = Self.seconds(now - state.started)
            let rate = elapsed > 0 ? Double(max(done - resumedFrom, 0)) / elapsed : 0
            let left = rate > 0 ? Double(max(total - done, 0)) / rate : nil
            let percent = total > 0 ? min(done * 100 / total, 100) : 0
            if complete { state.finished = true }
            if isTerminal {
                if !complete, let last = state.lastDrawn, Self.seconds(now - last) < 0.1 { return nil }
                state.lastDrawn = now
                let width = 30
                let filled = total > 0 ? min(width * done / total, width) : 0
                let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
                return "\r[\(bar)] \(done)/\(total) \(unit) \(percent)%  \(Self.rate(rate)) \(unit)/s  "
                    + (complete ? "done in \(Self.duration(elapsed))\n" : "\(left.map(Self.duration) ?? "--:--") left ")
            }
            let dueByTime = state.lastDrawn.map { Self.seconds(now - $0) >= 30 } ?? false
            guard complete || percent / 10 > state.lastPercentLogged / 10 || dueByTime else { return nil }
            state.lastDrawn = now
            state.lastPercentLogged = percent
            return "\(verb) \(done)/\(total) \(unit) (\(percent)%), \(Self.rate(rate)) \(unit)/s"
                + (complete ? ", done in \(Self.duration(elapsed))\n" : ", about \(left.map(Self.duration) ?? "?") left\n")
        }
        if let line { FileHandle.standardError.write(Data(line.utf8)) }
    }

    /// Ends a bar left unfinished (the work stopped early) with a newline.
    func stop() {
        let wasDrawing = state.withLock { state in
            defer { state.finished = true }
            return !state.finished && state.lastDrawn != nil
        }
        if wasDrawing && isTerminal { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    private static func rate(_ value: Double) -> String {
        value >= 100 ? String(format: "%.0f", value) : String(format: "%.1f", value)
    }

    /// `m:ss`, or `h:mm:ss` from an hour.
    static func duration(_ seconds: Double) -> String {
        let whole = Int(seconds.rounded())
        let (hours, minutes, rest) = (whole / 3600, whole / 60 % 60, whole % 60)
        return hours > 0
            ? String(format: "%d:%02d:%02d", hours, minutes, rest) : String(format: "%d:%02d", minutes, rest)
    }
}

/// Progress of `verb`ing images, as a bar on a terminal and a line now and then otherwise.
func progressReporter(verb: String) -> @Sendable (Int, Int) -> Void {
    let display = ProgressDisplay(verb: verb, unit: "images")
    return { done, total in display.update(done: done, total: total) }
}
