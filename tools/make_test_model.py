#!/usr/bin/env python3
"""Writes the tiny ONNX models the ONNXRuntime tests run.

Run by hand from the package root after `pip install onnx==1.23.2`:

    python3 tools/make_test_model.py

It writes, under Tests/ONNXRuntimeTests/Resources/:
  tiny_dense.onnx   x[batch,4] -> logits = x @ W + b (float32 [batch,3]), y = Relu(logits)
  tiny_dense.json   W and b, so the tests recompute the expected outputs themselves
  tiny_argmax.onnx  x[batch,4] -> index = ArgMax(x, axis 1) (int64 [batch]), a non-float output
"""
import json
import pathlib

import onnx
from onnx import TensorProto, helper

RESOURCES = pathlib.Path(__file__).resolve().parent.parent / "Tests/ONNXRuntimeTests/Resources"

# Mixed signs so that Relu clips some outputs and passes others.
WEIGHTS = [
    [0.5, -1.25, 2.0],
    [-0.75, 0.25, 1.5],
    [1.0, 0.5, -2.5],
    [0.125, -0.5, 0.75],
]
BIAS = [0.1, -0.2, 0.3]

# IR 8 / opset 13: old enough for any recent ONNX Runtime, new enough for these ops.
IR_VERSION = 8
OPSET = 13


def float_input(name):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", 4])


def save(graph, file_name):
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="biomatch-tools",
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, RESOURCES / file_name)


def make_dense():
    flat_weights = [value for row in WEIGHTS for value in row]
    graph = helper.make_graph(
        nodes=[
            helper.make_node("MatMul", ["x", "W"], ["product"], name="matmul"),
            helper.make_node("Add", ["product", "b"], ["logits"], name="add_bias"),
            helper.make_node("Relu", ["logits"], ["y"], name="relu"),
        ],
        name="tiny_dense",
        inputs=[float_input("x")],
        outputs=[
            helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3]),
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3]),
        ],
        initializer=[
            helper.make_tensor("W", TensorProto.FLOAT, [4, 3], flat_weights),
            helper.make_tensor("b", TensorProto.FLOAT, [3], BIAS),
        ],
    )
    save(graph, "tiny_dense.onnx")
    with open(RESOURCES / "tiny_dense.json", "w") as file:
        json.dump({"W": WEIGHTS, "b": BIAS}, file, indent=2)
        file.write("\n")


def make_argmax():
    graph = helper.make_graph(
        nodes=[helper.make_node("ArgMax", ["x"], ["index"], name="argmax", axis=1, keepdims=0)],
        name="tiny_argmax",
        inputs=[float_input("x")],
        outputs=[helper.make_tensor_value_info("index", TensorProto.INT64, ["batch"])],
    )
    save(graph, "tiny_argmax.onnx")


if __name__ == "__main__":
    RESOURCES.mkdir(parents=True, exist_ok=True)
    make_dense()
    make_argmax()
