import Dispatch

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Splits CPU-bound work over the machine's cores.
enum Parallel {
    /// Online processors, read once.
    static let processorCount: Int = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))

    /// Runs `body(worker)` for `worker` in 0..<workers on separate threads and waits for all.
    static func run(workers: Int, _ body: @Sendable (Int) -> Void) {
        if workers <= 1 {
            body(0)
        } else {
            DispatchQueue.concurrentPerform(iterations: workers, execute: body)
        }
    }

    /// The half-open slice of `0..<total` that worker `worker` of `workers` owns.
    static func slice(_ total: Int, worker: Int, of workers: Int) -> Range<Int> {
        (total * worker / workers) ..< (total * (worker + 1) / workers)
    }
}

/// One slot per worker for results written in parallel and read after the join. Each worker
/// touches only its own slot, and `Parallel.run` returns only after every worker finished.
final class WorkerSlots<Value>: @unchecked Sendable {
    private let values: UnsafeMutablePointer<Value>
    let count: Int

    init(repeating value: Value, count: Int) {
        self.count = count
        values = .allocate(capacity: count)
        values.initialize(repeating: value, count: count)
    }

    deinit {
        values.deinitialize(count: count)
        values.deallocate()
    }

    subscript(worker: Int) -> Value {
        get { values[worker] }
        set { values[worker] = newValue }
    }

    var all: [Value] { Array(UnsafeBufferPointer(start: values, count: count)) }
}

/// Monotonic clock in seconds, for build-time and latency figures.
public func monotonicSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
}

/// CPU seconds (user + system) this process has used on all its threads: a build-cost figure
/// that other programs sharing the machine disturb far less than wall time.
public func processCPUSeconds() -> Double {
    var usage = rusage()
    #if os(Linux)
    getrusage(RUSAGE_SELF.rawValue, &usage)
    #else
    getrusage(RUSAGE_SELF, &usage)
    #endif
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6
}
