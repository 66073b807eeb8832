#!/usr/bin/env bash
# Regenerates Sources/ONNXSchema/onnx.pb.swift from the ONNX schema (onnx/onnx.proto).
#
# Run by hand when the pinned ONNX or swift-protobuf version changes; CI never runs it and
# the build only needs the committed Swift file plus the SwiftProtobuf library.
#
# Needs: pip, unzip, protoc (Debian: protobuf-compiler) and a protoc-gen-swift built from
# swift-protobuf at the same version as the package's SwiftProtobuf dependency. Pass it as
# PROTOC_GEN_SWIFT=/path/to/protoc-gen-swift, or SWIFT_PROTOBUF_CHECKOUT=/path/to/swift-protobuf
# to have this script build it there (about ten minutes on two cores).
#
#   PROTOC_GEN_SWIFT=/tmp/swift-protobuf/.build/release/protoc-gen-swift tools/generate_onnx_swift.sh
set -euo pipefail

readonly ONNX_VERSION="1.23.2"
readonly ONNX_WHEEL="onnx-1.23.2-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl"
readonly ONNX_WHEEL_SHA256="c03ecf6b835d136108eeaeeafbd0026fc7b3cf98661409fbc6b63d5a29361348"
readonly SWIFT_PROTOBUF_VERSION="1.39.0"

package_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
output_dir="$package_root/Sources/ONNXSchema"

if [[ -z "${PROTOC_GEN_SWIFT:-}" ]]; then
    if [[ -z "${SWIFT_PROTOBUF_CHECKOUT:-}" ]]; then
        echo "error: set PROTOC_GEN_SWIFT or SWIFT_PROTOBUF_CHECKOUT (see the header of $0)" >&2
        exit 1
    fi
    swift build --package-path "$SWIFT_PROTOBUF_CHECKOUT" -c release --product protoc-gen-swift
    PROTOC_GEN_SWIFT="$SWIFT_PROTOBUF_CHECKOUT/.build/release/protoc-gen-swift"
fi

plugin_version="$("$PROTOC_GEN_SWIFT" --version)"
if [[ "$plugin_version" != "protoc-gen-swift $SWIFT_PROTOBUF_VERSION" ]]; then
    echo "error: $PROTOC_GEN_SWIFT is '$plugin_version', expected $SWIFT_PROTOBUF_VERSION" >&2
    exit 1
fi
command -v protoc >/dev/null || { echo "error: protoc not found (apt-get install protobuf-compiler)" >&2; exit 1; }

work_dir="$(mktemp -d)"
trap 'rm -rf "$work_dir"' EXIT

# The schema ships inside the onnx wheel; only onnx/onnx.proto is used.
pip download --no-deps --only-binary=:all: --python-version 3.11 \
    --platform manylinux_2_28_x86_64 "onnx==$ONNX_VERSION" -d "$work_dir" >/dev/null
echo "$ONNX_WHEEL_SHA256  $work_dir/$ONNX_WHEEL" | sha256sum --check --quiet
unzip -q "$work_dir/$ONNX_WHEEL" 'onnx/onnx.proto' -d "$work_dir/schema"

mkdir -p "$output_dir"
protoc \
    --plugin="protoc-gen-swift=$PROTOC_GEN_SWIFT" \
    --proto_path="$work_dir/schema" \
    --swift_opt=Visibility=Public \
    --swift_opt=FileNaming=DropPath \
    --swift_out="$output_dir" \
    "$work_dir/schema/onnx/onnx.proto"

echo "wrote $output_dir/onnx.pb.swift from onnx $ONNX_VERSION with $plugin_version ($(protoc --version))"
