"""JAX's side of `make bench` (bench/compare.py), in the benchmark's venv: XLA on the CPU, jax.jit
of the encoder layer of bench/models.h (post-norm, ReLU, no mask) and of matmul_<M>x<K>x<N>.
Random weights: the timing does not depend on them.

    jax_models.py WORKLOAD

Protocol: bench/peers/protocol.py. XLA's CPU thread pool has the machine's cores (compare.py runs
on the 2 cores the other peers use).
"""
import sys
import time

from protocol import serve, unavailable

try:
    import jax
    import jax.numpy as jnp
    import numpy as np
except Exception as e:  # noqa: BLE001 - any import failure means no peer
    unavailable(f"{type(e).__name__}: {e}")


def layer_norm(x, eps=1e-5):
    mean = x.mean(-1, keepdims=True)
    return (x - mean) / jnp.sqrt(((x - mean) ** 2).mean(-1, keepdims=True) + eps)


def encoder_layer(rng, batch=8, length=128, d=512, heads=8, ff=2048):
    def weight(*shape):
        bound = 1.0 / np.sqrt(shape[0])
        return jnp.asarray(rng.uniform(-bound, bound, shape).astype(np.float32))

    w = dict(qkv=weight(d, 3 * d), b_qkv=weight(3 * d), o=weight(d, d), b_o=weight(d), w1=weight(d, ff),
             b1=weight(ff), w2=weight(ff, d), b2=weight(d))

    def forward(w, x):
        q, k, v = jnp.split(x @ w["qkv"] + w["b_qkv"], 3, axis=-1)
        split = lambda t: t.reshape(batch, length, heads, d // heads).transpose(0, 2, 1, 3)  # noqa: E731
        scores = split(q) @ split(k).transpose(0, 1, 3, 2) / np.sqrt(d // heads)
        context = (jax.nn.softmax(scores, -1) @ split(v)).transpose(0, 2, 1, 3).reshape(batch, length, d)
        x = layer_norm(x + context @ w["o"] + w["b_o"])
        return layer_norm(x + jax.nn.relu(x @ w["w1"] + w["b1"]) @ w["w2"] + w["b2"])

    x = jnp.asarray(rng.uniform(-1, 1, (batch, length, d)).astype(np.float32))
    run = jax.jit(forward)
    flops = 2 * batch * length * (4 * d * d + 2 * d * ff) + 4 * batch * length * length * d
    return (lambda: run(w, x).block_until_ready()), flops


def main():
    workload = sys.argv[1]
    jax.config.update("jax_platforms", "cpu")
    start = time.perf_counter()
    rng = np.random.default_rng(1)
    if workload == "encoder_layer":
        repetition, flops = encoder_layer(rng)
    elif workload.startswith("matmul_"):
        m, k, n = (int(v) for v in workload[len("matmul_"):].split("x"))
        a = jnp.asarray(rng.uniform(-1, 1, (m, k)).astype(np.float32))
        b = jnp.asarray(rng.uniform(-1, 1, (k, n)).astype(np.float32))
        mm = jax.jit(jnp.dot)
        repetition, flops = (lambda: mm(a, b).block_until_ready()), 2 * m * k * n
    else:
        unavailable(f"no JAX version of {workload} (inference layers and matmul only)")
    repetition()  # jax.jit compiles at the first call: setup
    serve(repetition, (time.perf_counter() - start) * 1e3, flops, jax.__version__)


if __name__ == "__main__":
    main()
