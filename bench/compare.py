#!/usr/bin/env python3
"""`make bench`'s whole-model comparison: Weft against the peers a user would pick, on the same
machine state, in one run (docs/benchmarks.md).

    compare.py --build BUILD [--workloads a,b] [--peers p,q] [--rounds 10] [--warmup 2] [--settle 0.3]
               [--venv DIR | --no-venv] [--no-cold] [--results FILE] [--svg FILE]

Every implementation of a workload is a worker process (bench/models_bench.cpp for Weft,
bench/peers/*.py for the peers) that sets the workload up once and then times repetitions when asked
(bench/peers/protocol.py). For each workload the driver starts them all, warms each up, and then
runs `--rounds` rounds, each worker one repetition per round in turn, so that a noisy neighbour
slows every side alike; the load average is printed beside each round. Right before its timed
repetition a worker runs untimed ones for `--settle` seconds (at least one): the worker timed
before it may leave threads spinning down (OpenBLAS's wait about 0.1 s after each call), and a
process straight out of idle runs its first repetition slowly, so without it each worker's time
depends on who ran before it (docs/benchmarks.md). Weft's compile time is
measured twice: with an empty on-disk JIT cache (cold), then from it (warm); the warm worker is the
one timed. A peer that cannot be set up (its package missing from the venv, pip without a network)
is reported as absent with its reason, a worker that fails as an error with its message, and the
run goes on: only a broken driver exits non-zero.

The peers: Debian's PyTorch 1.13 (/usr/bin/python3), and from a venv this script creates on first
use with pip: PyTorch 2.x eager and torch.compile, ONNX Runtime, JAX (XLA on the CPU). All on 2
threads, idle workers sleeping (OMP_WAIT_POLICY=PASSIVE, OpenBLAS's pool at 2).

Output: a table per workload (median, min and max of the rounds, GFLOP/s where counted, setup time,
peak RSS, each time ÷ Weft's), results appended as JSON lines, an SVG bar chart of the ratios, and
last, one line per Weft workload: `ratio <workload> weft_ms=<median> best=<peer>:<median> <weft÷best>`,
and for the workloads timed on each backend (encoder_layer, lstm_attn_hoisted), `providers <workload>
llvm_ms=.. onednn_ms=.. auto_ms=.. auto/best=..`: auto ÷ the faster of llvm and onednn.
"""
import argparse
import datetime
import json
import os
import platform
import queue
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(HERE)
PEERS_DIR = os.path.join(HERE, "peers")
# Debian's, with python3-torch 1.13; WEFT_BENCH_PYTHON names another (as for bench_decode).
SYSTEM_PYTHON = os.environ.get("WEFT_BENCH_PYTHON", "/usr/bin/python3")
# The venv's packages, each installed on its own so that one failing leaves the others.
VENV_PACKAGES = ["numpy", "torch", "onnx", "onnxruntime", "jax[cpu]"]
MATMUL_SHAPES = ["1024x512x512", "1024x512x2048", "1024x2048x512", "1024x256x1024", "1024x256x1000",
                 "256x256x256", "512x512x512", "1024x1024x1024", "2048x2048x2048"]
PEER_NAMES = ["pytorch1.13", "pytorch2", "pytorch2-compile", "onnxruntime", "jax"]
SETUP_TIMEOUT_S, RUN_TIMEOUT_S = 1200, 600


def workload_groups():
    """Each group times its Weft workers against the same peers. Names are the ratio lines'."""
    groups = [{"name": f"matmul_{s}", "weft": [f"matmul_{s}"], "peer_workload": f"matmul_{s}"} for s in MATMUL_SHAPES]
    groups += [
        # Weft on each backend ("@onednn", "@auto"; docs/onednn-backend.md): a `providers` line says
        # auto ÷ the best single provider.
        {"name": "encoder_layer", "weft": ["encoder_layer", "encoder_layer_so", "encoder_layer@onednn",
                                           "encoder_layer@auto"], "peer_workload": "encoder_layer"},
        {"name": "transformer_train", "weft": ["transformer_train"], "peer_workload": "transformer_train"},
        {"name": "greedy_b1", "weft": ["greedy_b1"], "peer_workload": "greedy_b1", "variants": ["prefix", "kv"]},
        {"name": "greedy_b8", "weft": ["greedy_b8"], "peer_workload": "greedy_b8", "variants": ["prefix", "kv"]},
        {"name": "lstm_attn_tutorial", "weft": ["lstm_attn_tutorial"], "peer_workload": "lstm_attn_tutorial"},
        {"name": "lstm_attn_hoisted", "weft": ["lstm_attn_hoisted", "lstm_attn_hoisted@onednn",
                                               "lstm_attn_hoisted@auto"], "peer_workload": "lstm_attn_hoisted"},
        # One train step of the G2P demo's batch (64 words x 10 target tokens), reported per 1,000 tokens.
        {"name": "g2p_train", "weft": ["g2p_train"], "peer_workload": "g2p_train", "tokens": 640},
    ]
    return groups


def peer_commands(peer, workload, variants, venv_python):
    """(name, argv) for each worker of `peer` on `workload`; None for argv when the peer is absent,
    with the reason in place of the name's argv."""
    python = SYSTEM_PYTHON if peer == "pytorch1.13" else venv_python
    script = {"onnxruntime": "ort_models.py", "jax": "jax_models.py"}.get(peer, "torch_models.py")
    extra = ["--compile"] if peer == "pytorch2-compile" else []
    names = [(peer, [])]
    if script == "torch_models.py" and variants:  # one worker per loop: greedy's prefix re-run and KV cache
        names = [(f"{peer}-{v}", ["--variant", v]) for v in variants]
    return [(name, [python, os.path.join(PEERS_DIR, script), workload] + args + extra) for name, args in names]


class Worker:
    """One implementation's process, spoken to line by line (bench/peers/protocol.py)."""

    def __init__(self, name, argv, env):
        self.name, self.status, self.reason, self.info = name, "ok", "", {}
        self.samples, self.rss_mb, self.settle_runs = [], None, 0
        self.stderr = tempfile.TemporaryFile(mode="w+")
        if argv[0] is None:
            self.proc, self.status, self.reason = None, "absent", "no venv (see the peers lines above)"
            return
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
                                         text=True, env=env, cwd=PEERS_DIR)
        except OSError as e:
            self.proc, self.status, self.reason = None, "absent", f"cannot start {argv[0]}: {e.strerror}"
            return
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def _fail(self, why):
        self.stderr.seek(0)
        tail = [line for line in self.stderr.read().strip().splitlines() if line.strip()][-1:]
        self.status, self.reason = "error", why + (f" ({tail[0].strip()})" if tail else "")
        self.close()

    def _reply(self, timeout):
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            self._fail(f"no reply in {timeout} s")
            return None
        if line is None:
            self._fail(f"exited with status {self.proc.wait()}")
        elif line.startswith("error "):
            self._fail(line[len("error "):])
            return None
        elif line.startswith("unavailable"):
            self.status, self.reason = "absent", line[len("unavailable"):].strip()
            self.close()
            return None
        return line

    def wait_ready(self):
        line = self.proc and self._reply(SETUP_TIMEOUT_S)
        if line is None:
            return
        if not line.startswith("ready"):
            return self._fail(f"unexpected reply '{line}'")
        self.info = dict(field.split("=", 1) for field in line.split()[1:])

    def run(self, n, keep=True):
        if self.status != "ok":
            return
        self.proc.stdin.write(f"run {n}\n")
        self.proc.stdin.flush()
        line = self._reply(RUN_TIMEOUT_S)
        if line is None:
            return
        if keep:
            self.samples += [float(v) for v in line.split()[1:]]

    def settle(self, seconds):
        """Untimed repetitions for `seconds` (at least one when seconds > 0), before a timed one."""
        end = time.monotonic() + seconds
        while seconds > 0 and self.status == "ok":
            self.run(1, keep=False)
            self.settle_runs += 1
            if time.monotonic() >= end:
                break

    def close(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        try:  # the peak resident set of the whole run, before the process goes
            with open(f"/proc/{self.proc.pid}/status") as f:
                hwm = [line for line in f if line.startswith("VmHWM:")]
            self.rss_mb = int(hwm[0].split()[1]) / 1024 if hwm else None
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=60)
        except (OSError, subprocess.TimeoutExpired, ValueError):
            self.proc.kill()
            self.proc.wait()


def summary(w):
    s = {"impl": w.name, "status": w.status}
    if w.reason:
        s["reason"] = w.reason
    if w.status == "ok" and w.samples:
        s.update(median_ms=statistics.median(w.samples), min_ms=min(w.samples), max_ms=max(w.samples),
                 samples_ms=w.samples)
        flops = float(w.info.get("flops", 0))
        if flops > 0:
            s["gflops"] = flops / s["median_ms"] / 1e6
    if w.status == "ok":
        s["settle_runs"] = w.settle_runs
    for key in ("setup_ms", "setup_cold_ms", "version"):
        if key in w.info:
            s[key] = w.info[key] if key == "version" else float(w.info[key])
    if w.rss_mb is not None:
        s["max_rss_mb"] = round(w.rss_mb, 1)
    return s


def ensure_venv(path, log):
    """The venv's python with what pip could install, or None with the reason (logged)."""
    python = os.path.join(path, "bin", "python")
    if not os.path.exists(python):
        log(f"peers: creating the venv {path}")
        made = subprocess.run([sys.executable, "-m", "venv", path], capture_output=True, text=True)
        if made.returncode != 0:
            log(f"peers: cannot create the venv ({(made.stderr or made.stdout).strip().splitlines()[-1:]}): "
                "PyTorch 2.x, ONNX Runtime and JAX are absent")
            return None
    have = subprocess.run([python, "-m", "pip", "list", "--format=json", "--disable-pip-version-check"],
                          capture_output=True, text=True)
    installed = {p["name"].lower() for p in json.loads(have.stdout or "[]")} if have.returncode == 0 else set()
    for package in VENV_PACKAGES:
        if package.split("[")[0].lower() in installed:
            continue
        log(f"peers: pip install {package} (once)")
        got = subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--retries",
                              "1", "--timeout", "30", package], capture_output=True, text=True)
        if got.returncode != 0:
            last = [line for line in (got.stderr or got.stdout).strip().splitlines() if line.strip()][-1:]
            log(f"peers: pip could not install {package}: {last[0] if last else 'exit ' + str(got.returncode)}")
    return python


def machine_info():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    commit = subprocess.run(["git", "-C", SOURCE_DIR, "describe", "--always", "--dirty"], capture_output=True,
                            text=True).stdout.strip()
    return {"host": socket.gethostname(), "cpu": model, "cores": os.cpu_count(), "kernel": platform.release()}, commit


def run_group(group, args, venv_python, cache_root, log):
    env = dict(os.environ)
    weft_exe = os.path.join(args.build, "bench", "bench_models")
    cache = os.path.join(cache_root, group["name"])
    env["WEFT_JIT_CACHE_DIR"] = cache
    workers, cold, weft_workload = [], {}, {}
    for workload in group["weft"]:
        # encoder_layer_so: weft-so; encoder_layer@auto: weft-auto
        name = "weft" + workload[len(group["name"]):].replace("_", "-").replace("@", "-")
        weft_workload[name] = workload
        if not args.no_cold:  # compile once into the empty cache, then time the worker that finds it there
            probe = Worker(name, [weft_exe, workload], env)
            probe.wait_ready()
            probe.close()
            cold[name] = probe.info.get("setup_ms")
        workers.append(Worker(name, [weft_exe, workload], env))
        workers[-1].wait_ready()  # each setup alone, so that its time is its own
        if cold.get(name) is not None:
            workers[-1].info["setup_cold_ms"] = cold[name]
    for peer in args.peers:
        for name, argv in peer_commands(peer, group["peer_workload"], group.get("variants"), venv_python):
            workers.append(Worker(name, argv, env))
            workers[-1].wait_ready()
    for w in workers:
        w.run(args.warmup, keep=False)
    loads = []
    for r in range(args.rounds):
        load = os.getloadavg()[0]
        loads.append(load)
        order = workers[r % len(workers):] + workers[:r % len(workers)]  # who goes first rotates
        for w in order:
            w.settle(args.settle)
            w.run(1)
        log(f"  round {r + 1}/{args.rounds} load {load:.2f}: " + ", ".join(
            f"{w.name} {w.samples[-1]:.2f}" for w in workers if w.status == "ok" and w.samples))
    for w in workers:
        w.close()
        if "tokens" in group:  # a repetition trains on group["tokens"] tokens: ms per 1,000 tokens
            w.samples = [ms * 1000.0 / group["tokens"] for ms in w.samples]
    wefts = [dict(summary(w), workload=weft_workload[w.name]) for w in workers if w.name in weft_workload]
    return wefts, [summary(w) for w in workers if w.name not in weft_workload], loads


def best_peer(peers):
    timed = [p for p in peers if "median_ms" in p]
    return min(timed, key=lambda p: p["median_ms"]) if timed else None


def print_table(group, wefts, peers, peak, log):
    rows = wefts + peers
    log(f"\n{group['name']}")
    log(f"  {'implementation':<24} {'median ms':>10} {'min':>9} {'max':>9} {'GFLOP/s':>8} {'setup ms (cold)':>17} "
        f"{'RSS MB':>7} {'÷weft':>6}")
    weft_ms = wefts[0].get("median_ms") if wefts else None
    for r in rows:
        if "median_ms" not in r:
            log(f"  {r['impl']:<24} {r['status']}: {r.get('reason', 'no samples')}")
            continue
        gflops = f"{r['gflops']:.1f}" if "gflops" in r else "-"
        if "gflops" in r and peak:
            gflops += f" ({100 * r['gflops'] / peak:.0f}%)"
        setup = f"{r.get('setup_ms', 0):.0f}" + (f" ({r['setup_cold_ms']:.0f})" if "setup_cold_ms" in r else "")
        ratio = f"{r['median_ms'] / weft_ms:.2f}" if weft_ms else "-"
        log(f"  {r['impl']:<24} {r['median_ms']:>10.2f} {r['min_ms']:>9.2f} {r['max_ms']:>9.2f} {gflops:>8} "
            f"{setup:>17} {r.get('max_rss_mb', 0):>7.0f} {ratio:>6}")


def ratio_line(weft, peers):
    best = best_peer(peers)
    weft_ms = f"{weft['median_ms']:.3f}" if "median_ms" in weft else weft["status"]
    if best is None:
        return f"ratio {weft['workload']} weft_ms={weft_ms} best=none:nan nan"
    ratio = f"{weft['median_ms'] / best['median_ms']:.3f}" if "median_ms" in weft else "nan"
    return f"ratio {weft['workload']} weft_ms={weft_ms} best={best['impl']}:{best['median_ms']:.3f} {ratio}"


def providers_line(group, wefts):
    """`providers <group> llvm_ms=.. onednn_ms=.. auto_ms=.. auto/best=..` when the group timed Weft on
    the llvm (its plain workload), onednn and auto backends; else None."""
    ms = {}
    for w in wefts:
        backend = w["workload"].split("@")[1] if "@" in w["workload"] else "llvm"
        if w["workload"].split("@")[0] == group["name"] and "median_ms" in w:
            ms[backend] = w["median_ms"]
    if not all(b in ms for b in ("llvm", "onednn", "auto")):
        return None
    best = min(ms["llvm"], ms["onednn"])
    return (f"providers {group['name']} llvm_ms={ms['llvm']:.3f} onednn_ms={ms['onednn']:.3f} "
            f"auto_ms={ms['auto']:.3f} auto/best={ms['auto'] / best:.3f}")


def write_svg(path, bars):
    """Horizontal bars of Weft ÷ best peer per workload (log scale, 1 marked: left of it Weft is faster)."""
    import math
    width, left, row = 760, 190, 22
    height = 40 + row * len(bars)
    span = 2.0  # decades: 0.1 .. 10
    x = lambda ratio: left + (width - left - 20) * (math.log10(min(max(ratio, 0.1), 10)) + 1) / span  # noqa: E731
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
           'font-size="12">',
           f'<text x="{left}" y="16">Weft time ÷ best peer (log scale; &lt; 1: Weft is faster)</text>']
    for i, (name, ratio, peer) in enumerate(bars):
        y = 28 + i * row
        out.append(f'<text x="{left - 6}" y="{y + 13}" text-anchor="end">{name}</text>')
        if ratio is None:
            out.append(f'<text x="{left + 4}" y="{y + 13}" fill="#a00">{peer}</text>')
            continue
        x0, x1 = sorted((x(1.0), x(ratio)))
        colour = "#2a7" if ratio <= 1 else "#c53"
        out.append(f'<rect x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 1):.1f}" height="{row - 6}" fill="{colour}"/>')
        out.append(f'<text x="{max(x1, x(1.0)) + 4:.1f}" y="{y + 13}">{ratio:.2f} vs {peer}</text>')
    out.append(f'<line x1="{x(1.0):.1f}" y1="22" x2="{x(1.0):.1f}" y2="{height - 4}" stroke="black"/>')
    out.append("</svg>\n")
    with open(path, "w") as f:
        f.write("\n".join(out))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", required=True, help="the build directory (bench/bench_models in it)")
    parser.add_argument("--workloads", default="", help="comma-separated group names (default: all)")
    parser.add_argument("--peers", default=",".join(PEER_NAMES), help="comma-separated peers (default: all)")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--settle", type=float, default=0.3,
                        help="seconds of untimed repetitions right before each timed one (0: none)")
    parser.add_argument("--venv", default="", help="the peers' venv (default: BUILD/bench-venv)")
    parser.add_argument("--no-venv", action="store_true", help="no venv: its peers are absent")
    parser.add_argument("--no-cold", action="store_true", help="skip the cold-cache compile of each Weft workload")
    parser.add_argument("--results", default="", help="JSON lines appended here (default: BUILD/bench/results.jsonl)")
    parser.add_argument("--svg", default="", help="the ratio chart (default: BUILD/bench/ratios.svg)")
    args = parser.parse_args()
    args.rounds, args.warmup = max(1, args.rounds), max(1, args.warmup)
    args.build = os.path.abspath(args.build)  # the workers run in bench/peers
    args.peers = [p for p in args.peers.split(",") if p]
    unknown = [p for p in args.peers if p not in PEER_NAMES]
    groups = workload_groups()
    wanted = [w for w in args.workloads.split(",") if w]
    unknown += [w for w in wanted if w not in {g["name"] for g in groups}]
    if unknown:
        parser.error(f"unknown peer or workload: {', '.join(unknown)} (peers: {', '.join(PEER_NAMES)}; workloads: "
                     f"{', '.join(g['name'] for g in groups)})")
    groups = [g for g in groups if not wanted or g["name"] in wanted]
    weft_exe = os.path.join(args.build, "bench", "bench_models")
    if not os.access(weft_exe, os.X_OK):
        sys.exit(f"compare.py: {weft_exe} does not exist; build first (make bench)")

    def log(text):
        print(text, flush=True)

    # The peers at their best and on the same 2 cores: their pools sleep when idle, as Weft's does.
    for key, value in (("OMP_NUM_THREADS", "2"), ("WEFT_NUM_THREADS", "2"), ("OMP_WAIT_POLICY", "PASSIVE"),
                       ("OPENBLAS_NUM_THREADS", "2"), ("MKL_NUM_THREADS", "2")):
        os.environ.setdefault(key, value)
    venv_python = None
    if any(p != "pytorch1.13" for p in args.peers):
        if args.no_venv:
            log("peers: --no-venv: PyTorch 2.x, ONNX Runtime and JAX are absent")
        else:
            venv_python = ensure_venv(args.venv or os.path.join(args.build, "bench-venv"), log)
    machine, commit = machine_info()
    peak = subprocess.run([weft_exe, "--peak-fma"], capture_output=True, text=True).stdout.split()
    peak = float(peak[1]) if len(peak) > 1 and peak[0] == "peak_fma_gflops" else None
    log(f"machine: {machine['cpu']}, {machine['cores']} cores; Weft {commit}; threads 2; load {os.getloadavg()[0]:.2f}"
        + (f"; peak FMA rate {peak:.1f} GFLOP/s on 2 threads" if peak else "")
        + (f"; each timed repetition after {args.settle:g} s of untimed ones" if args.settle > 0 else ""))
    results_path = args.results or os.path.join(args.build, "bench", "results.jsonl")
    run_id = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    lines, bars = [], []
    cache_root = tempfile.mkdtemp(prefix="weft_bench_cache_")
    try:
        for group in groups:
            log(f"\n== {group['name']}")
            wefts, peers, loads = run_group(group, args, venv_python, cache_root, log)
            print_table(group, wefts, peers, peak, log)
            providers = providers_line(group, wefts)
            if providers:
                log(f"  {providers}")
                lines.append(providers)
            with open(results_path, "a") as f:
                for r in wefts + peers:
                    record = {"run": run_id, "machine": machine, "commit": commit, "workload": group["name"],
                              "rounds": args.rounds, "settle_s": args.settle, "load_per_round": loads, "peak_fma_gflops": peak, **r}
                    f.write(json.dumps(record) + "\n")
            for weft in wefts:
                lines.append(ratio_line(weft, peers))
                best = best_peer(peers)
                ok = best is not None and "median_ms" in weft
                bars.append((weft["workload"], weft["median_ms"] / best["median_ms"] if ok else None,
                             best["impl"] if ok else ("no peer" if "median_ms" in weft else weft["status"])))
    finally:
        shutil.rmtree(cache_root, ignore_errors=True)
    svg = args.svg or os.path.join(args.build, "bench", "ratios.svg")
    write_svg(svg, bars)
    log(f"\nresults appended to {results_path}; chart {svg}")
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
