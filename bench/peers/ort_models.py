"""ONNX Runtime's side of `make bench` (bench/compare.py), in the benchmark's venv: the encoder layer
of bench/models.h (post-norm, ReLU, no mask, eval) written as an ONNX graph (opset 17, the ops an
exporter writes: MatMul, Add, Split, Reshape, Transpose, Softmax, Relu, LayerNormalization), and
matmul_<M>x<K>x<N>. Random weights: the timing does not depend on them.

    ort_models.py WORKLOAD

Protocol: bench/peers/protocol.py. Two intra-op threads, idle workers not spinning (as PyTorch's
OMP_WAIT_POLICY=PASSIVE), every graph optimization on.
"""
import os
import sys
import time

from protocol import serve, unavailable

try:
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper
except Exception as e:  # noqa: BLE001 - any import failure means no peer
    unavailable(f"{type(e).__name__}: {e}")


def encoder_layer(rng, batch=8, length=128, d=512, heads=8, ff=2048):
    def weight(name, *shape):
        bound = 1.0 / np.sqrt(shape[0])
        return numpy_helper.from_array(rng.uniform(-bound, bound, shape).astype(np.float32), name)

    def const(name, values, dtype=np.int64):
        return numpy_helper.from_array(np.array(values, dtype=dtype), name)

    init = [weight("w_qkv", d, 3 * d), weight("b_qkv", 3 * d), weight("w_o", d, d), weight("b_o", d),
            weight("w1", d, ff), weight("b1", ff), weight("w2", ff, d), weight("b2", d),
            numpy_helper.from_array(np.ones(d, np.float32), "g1"),
            numpy_helper.from_array(np.zeros(d, np.float32), "be1"),
            numpy_helper.from_array(np.ones(d, np.float32), "g2"),
            numpy_helper.from_array(np.zeros(d, np.float32), "be2"),
            const("split", [d, d, d]), const("heads_shape", [batch, length, heads, d // heads]),
            const("model_shape", [batch, length, d]),
            numpy_helper.from_array(np.array(1.0 / np.sqrt(d // heads), np.float32), "scale")]
    n = helper.make_node
    nodes = [
        n("MatMul", ["x", "w_qkv"], ["qkv0"]), n("Add", ["qkv0", "b_qkv"], ["qkv"]),
        n("Split", ["qkv", "split"], ["q0", "k0", "v0"], axis=-1),
        n("Reshape", ["q0", "heads_shape"], ["q1"]), n("Transpose", ["q1"], ["q"], perm=[0, 2, 1, 3]),
        n("Reshape", ["k0", "heads_shape"], ["k1"]), n("Transpose", ["k1"], ["kt"], perm=[0, 2, 3, 1]),
        n("Reshape", ["v0", "heads_shape"], ["v1"]), n("Transpose", ["v1"], ["v"], perm=[0, 2, 1, 3]),
        n("MatMul", ["q", "kt"], ["s0"]), n("Mul", ["s0", "scale"], ["s"]), n("Softmax", ["s"], ["p"], axis=-1),
        n("MatMul", ["p", "v"], ["c0"]), n("Transpose", ["c0"], ["c1"], perm=[0, 2, 1, 3]),
        n("Reshape", ["c1", "model_shape"], ["c"]),
        n("MatMul", ["c", "w_o"], ["o0"]), n("Add", ["o0", "b_o"], ["o"]), n("Add", ["x", "o"], ["r1"]),
        n("LayerNormalization", ["r1", "g1", "be1"], ["x1"], axis=-1, epsilon=1e-5),
        n("MatMul", ["x1", "w1"], ["h0"]), n("Add", ["h0", "b1"], ["h1"]), n("Relu", ["h1"], ["h"]),
        n("MatMul", ["h", "w2"], ["f0"]), n("Add", ["f0", "b2"], ["f"]), n("Add", ["x1", "f"], ["r2"]),
        n("LayerNormalization", ["r2", "g2", "be2"], ["y"], axis=-1, epsilon=1e-5),
    ]
    shape = [batch, length, d]
    graph = helper.make_graph(nodes, "encoder_layer", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)], init)
    inputs = {"x": rng.uniform(-1, 1, shape).astype(np.float32)}
    flops = 2 * batch * length * (4 * d * d + 2 * d * ff) + 4 * batch * length * length * d
    return graph, inputs, flops


def matmul(rng, m, k, n):
    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "matmul",
                              [helper.make_tensor_value_info("a", TensorProto.FLOAT, [m, k]),
                               helper.make_tensor_value_info("b", TensorProto.FLOAT, [k, n])],
                              [helper.make_tensor_value_info("c", TensorProto.FLOAT, [m, n])])
    return graph, {"a": rng.uniform(-1, 1, (m, k)).astype(np.float32),
                   "b": rng.uniform(-1, 1, (k, n)).astype(np.float32)}, 2 * m * k * n


def main():
    workload = sys.argv[1]
    start = time.perf_counter()
    rng = np.random.default_rng(1)
    if workload == "encoder_layer":
        graph, inputs, flops = encoder_layer(rng)
    elif workload.startswith("matmul_"):
        graph, inputs, flops = matmul(rng, *(int(v) for v in workload[len("matmul_"):].split("x")))
    else:
        unavailable(f"no ONNX Runtime version of {workload} (inference layers and matmul only)")
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(os.environ.get("OMP_NUM_THREADS", "2"))
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    session.run(None, inputs)
    serve(lambda: session.run(None, inputs), (time.perf_counter() - start) * 1e3, flops, ort.__version__)


if __name__ == "__main__":
    main()
