# The README's two commands: `make serve` and `make test`. Every target sets up first.
SHELL := /bin/bash
export BIOMATCH_HOME ?= $(CURDIR)/.biomatch

.PHONY: setup build release models serve test clean cluster cluster-down cluster-status

## setup: system packages, pinned downloads (runtime library, models, test photos)
setup:
	@scripts/setup

## build: debug build of everything, tests included
build: setup
	swift build --build-tests

## release: optimised build of the biomatch command
release: setup
	swift build -c release --product biomatch

## models: prepare the ONNX models for ONNX Runtime with the debug binary
models: build
	.build/debug/biomatch models prepare

## serve: set up, build for release, prepare models and run the server on the embedded default
serve: release
	.build/release/biomatch models prepare
	.build/release/biomatch serve

## test: set up, build, prepare models, run the whole suite. The suites that stop, start and
##       promote PostgreSQL servers and time leases and failovers, the ones that run `biomatch` as a
##       process of its own (killed mid-job, or calibrating) and the graceful-shutdown test (it holds
##       a request on a cooperative thread) and the transparency-log suites (real face engines, PostgreSQL,
##       10,000-entry logs, child processes) run after the others, one test at a time: on two cores,
##       beside the parallel suite, their waits measured the load, not BioMatch.
SERIAL_SUITES := AvailabilityTests|PrimaryLocatorTests|WorkLeaseTests|RetentionLeaseTests|IdempotencyTests|FailoverTests|ClusterPropagationTests|ChangeFeedTests|ClusterAuditTests|EngineJobCrashTests|CalibrateCommandTests|TransparencyCommandTests|LifecycleTests|SubjectAccessTests|SubjectAccessAPITests|TransparencyStatisticsTests|IndependentVerifierTests|AuditTreeTests|AuditCheckpointServiceTests|WitnessCommandTests|CheckpointTamperTests
##       Each phase has a hard limit (timeout kills the runner's whole process group, and the
##       servers the tests started stop when their test process is gone): a hang fails the run
##       with a message instead of holding CI until its own limit.
test: models
	timeout -k 30 1800 swift test --skip-build --parallel --skip '$(SERIAL_SUITES)' \
	  || { status=$$?; [ $$status -ne 124 ] || echo "make test: the parallel suite did not end within 30 minutes"; exit $$status; }
	timeout -k 30 900 swift test --skip-build --no-parallel --filter '$(SERIAL_SUITES)' \
	  || { status=$$?; [ $$status -ne 124 ] || echo "make test: the serial suites did not end within 15 minutes"; exit $$status; }

clean:
	rm -rf .build

## cluster: a pg_auto_failover formation, two serve nodes on it and nginx in front, on loopback
##          ports in $(BIOMATCH_HOME)/cluster (scripts/cluster; README "A cluster on one machine")
cluster: release
	scripts/cluster up

## cluster-down: stops every process of the cluster (its data stays; scripts/cluster down --purge deletes it)
cluster-down:
	scripts/cluster down

cluster-status:
	scripts/cluster status

## fuzz: libFuzzer with AddressSanitizer on the image decoders for FUZZ_SECONDS (default 60), seeded
##       with small re-encodings of the test photos and ORL faces; findings land in .build-fuzz/artifacts
FUZZ_SECONDS ?= 60
FUZZ_DIR := .build-fuzz
.PHONY: fuzz
fuzz: setup
	@mkdir -p $(FUZZ_DIR)/corpus $(FUZZ_DIR)/artifacts
	swiftc -sanitize=fuzzer,address -parse-as-library -swift-version 6 -O -g -use-ld=lld \
	  -module-name DecoderFuzzer -I Sources/CTurboJPEG -I Sources/CPNG \
	  Sources/Imaging/*.swift Fuzz/DecoderFuzzer/main.swift -lturbojpeg -lpng16 -o $(FUZZ_DIR)/decoder-fuzzer
	rm -rf $(FUZZ_DIR)/seeds
	DECODER_FUZZER_MAKE_SEEDS=$(FUZZ_DIR)/seeds DECODER_FUZZER_PHOTOS=$(BIOMATCH_HOME)/testdata/photos \
	  $(FUZZ_DIR)/decoder-fuzzer
	cp $(BIOMATCH_HOME)/testdata/orl/s1/1.pgm $(FUZZ_DIR)/seeds/orl-s1-1.pgm
	cp $(BIOMATCH_HOME)/testdata/orl/s22/7.pgm $(FUZZ_DIR)/seeds/orl-s22-7.pgm
	$(FUZZ_DIR)/decoder-fuzzer -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -rss_limit_mb=4096 -timeout=20 \
	  -print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/artifacts/ $(FUZZ_DIR)/corpus $(FUZZ_DIR)/seeds

## benchmarks: micro-benchmarks of the hot paths (ordo-one/benchmark, package in Benchmarks/): index
##             scans, HNSW, snapshots, decoding and the per-image pipeline; tracks regressions between
##             commits. The issues' ratio targets are checked by `biomatch bench ...` instead.
.PHONY: benchmarks
benchmarks: models
	cd Benchmarks && swift package --allow-writing-to-package-directory benchmark $(BENCHMARK_ARGS)
