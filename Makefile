# The README's two commands: `make serve` and `make test`. Every target sets up first.
SHELL := /bin/bash
export BIOMATCH_HOME ?= $(CURDIR)/.biomatch

.PHONY: setup build release models serve test clean

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

## test: set up, build, prepare models, run the whole suite
test: models
	swift test --skip-build --parallel

clean:
	rm -rf .build
