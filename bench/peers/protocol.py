"""The worker protocol of `make bench`'s peers (bench/compare.py drives it; bench/models_bench.cpp
speaks it for Weft): after the setup, `ready setup_ms=<ms> flops=<per repetition> version=<v>`; then
`times <ms> ...` for every `run N` read from stdin, until `quit`. `unavailable <why>` (exit 0) says
that this peer cannot run the workload here."""
import sys
import time


def unavailable(why):
    print(f"unavailable {why}", flush=True)
    sys.exit(0)


def serve(repetition, setup_ms, flops, version):
    print(f"ready setup_ms={setup_ms:.1f} flops={flops:.6g} version={version}", flush=True)
    for line in sys.stdin:
        line = line.strip()
        if line == "quit":
            break
        n = int(line.split()[1])
        times = []
        for _ in range(n):
            start = time.perf_counter()
            repetition()
            times.append((time.perf_counter() - start) * 1e3)
        print("times " + " ".join(f"{t:.4f}" for t in times), flush=True)
