"""PyTorch's layer_norm and softmax over the last axis, timed for bench_bandwidth (the peer of
Weft's `Executable::run`: a fresh output tensor per call, as a PyTorch user calls them).

    torch_bandwidth.py ROWS COLS ROUNDS

Prints one line per op: `<op> <best> <median>`, seconds per call over ROUNDS samples of a batch of
calls lasting at least 20 ms; or `unavailable <why>` when torch cannot be imported. Threads: those
of OMP_NUM_THREADS (bench_bandwidth sets 2), with torch.set_num_threads to match.
"""
import os
import statistics
import sys
import time


def main():
    rows, cols, rounds = (int(a) for a in sys.argv[1:4])
    try:
        import torch
    except Exception as e:  # noqa: BLE001 - any import failure means no peer
        print(f"unavailable {type(e).__name__}: {e}")
        return
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    torch.manual_seed(1)
    x = torch.empty(rows, cols).uniform_(-4, 4)
    gamma, beta = torch.randn(cols), torch.randn(cols)
    ops = {
        "layer_norm": lambda: torch.nn.functional.layer_norm(x, (cols,), gamma, beta, 1e-5),
        "softmax": lambda: torch.softmax(x, -1),
    }
    for name, op in ops.items():
        op()
        start = time.perf_counter()
        op()
        once = time.perf_counter() - start
        calls = max(1, int(0.02 / max(once, 1e-9)) + 1)
        samples = []
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(calls):
                op()
            samples.append((time.perf_counter() - start) / calls)
        print(f"{name} {min(samples):.9g} {statistics.median(samples):.9g}")
    print(f"torch {torch.__version__}")


if __name__ == "__main__":
    main()
