#!/usr/bin/env python3
"""The G2P demo against its PyTorch reference for the same wall-clock budget (issue 20, `make bench`).

    g2p_budget.py --build BUILD [--minutes 10] [--runs weft,torch] [--out DIR] [--results FILE]

Trains the demo's Transformer (examples/g2p) and the PyTorch 1.13 reference of the shared notes
(bench/peers/g2p/train_torch.py, a copy of ../shared/g2p/train_torch.py and data.py) one after the
other on the same machine, each for `--minutes` of training (both budgets count training only, not
the dev points or the final evaluation), then prints one row per run side by side: steps, target
tokens per second, test PER and WER (greedy; beam 4 for Weft), dev PER — and a `ratio g2p_budget`
line: Weft's tokens/s over PyTorch's, and their test PERs. Every run's output is streamed with its
name in front (the progress lines), and each row is appended to the results file as a JSON line.

The runs:
  weft      example_g2p with the demo's recipe (what `make demo` trains)
  weft-ref  example_g2p with the reference recipe (batch 256, warm-up 4000, factor 1)
  torch     train_torch.py --model transformer (the reference recipe), Debian's /usr/bin/python3

Two threads for everyone, idle OpenMP workers sleeping (OMP_WAIT_POLICY=PASSIVE), as in
bench/compare.py. A run that fails (a missing program, a crash, no result) is reported with its
last lines and the others go on; the script exits 1 if any run failed.
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TORCH_SCRIPT = os.path.join(HERE, "peers", "g2p", "train_torch.py")
SYSTEM_PYTHON = os.environ.get("WEFT_BENCH_PYTHON", "/usr/bin/python3")
RUNS = {
    "weft": ("Weft, the demo's recipe", []),
    "weft-ref": ("Weft, the reference recipe", ["--batch", "256", "--warmup", "4000", "--lr-factor", "1"]),
    "torch": ("PyTorch 1.13, the reference recipe", []),
}


def load_average():
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def stream(name, cmd, env, log_path):
    """Runs cmd, echoing each line as `[name] line` and keeping it in log_path; returns (status, lines)."""
    lines = []
    with open(log_path, "w") as log:
        try:
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        except OSError as e:
            return 127, [f"cannot start {cmd[0]}: {e.strerror}"]
        for line in proc.stdout:
            line = line.rstrip("\n")
            lines.append(line)
            log.write(line + "\n")
            print(f"[{name}] {line}", flush=True)
        return proc.wait(), lines


def weft_run(name, args, env, out_dir):
    exe = args.weft_exe or os.path.join(args.build, "examples", "g2p", "example_g2p")
    run_dir = os.path.join(out_dir, name)
    os.makedirs(run_dir, exist_ok=True)
    results_json = os.path.join(run_dir, "results.json")
    if os.path.exists(results_json):
        os.remove(results_json)  # a result left by an earlier run must not pass for this one's
    cmd = [exe, "--minutes", str(args.minutes), "--out", run_dir] + RUNS[name][1]
    status, lines = stream(name, cmd, env, os.path.join(out_dir, name + ".log"))
    if status != 0 or not os.path.exists(results_json):
        return None, status, lines
    with open(results_json) as f:
        r = json.load(f)
    return {"steps": r.get("steps"), "tokens_per_s": r.get("train_tokens_per_s"),
            "test_per": r.get("test_greedy_per"), "test_wer": r.get("test_greedy_wer"),
            "beam_per": r.get("test_beam_4_per"), "beam_wer": r.get("test_beam_4_wer"),
            "dev_per": r.get("dev_greedy_per"), "minutes": r.get("train_minutes")}, status, lines


def torch_run(name, args, env, out_dir):
    script = args.torch_script or TORCH_SCRIPT
    cmd = [args.python, script, "--model", "transformer", "--minutes", str(args.minutes)]
    status, lines = stream(name, cmd, env, os.path.join(out_dir, name + ".log"))
    result = None
    for line in reversed(lines):  # its last line is one JSON object
        if line.startswith("{"):
            try:
                result = json.loads(line)
            except json.JSONDecodeError:
                pass
            break
    if status != 0 or result is None:
        return None, status, lines
    return {"steps": result.get("steps"), "tokens_per_s": result.get("train_tokens_per_s"),
            "test_per": result.get("test_per"), "test_wer": result.get("test_wer"), "beam_per": None,
            "beam_wer": None, "dev_per": result.get("dev_per"),
            "minutes": (result.get("train_seconds") or 0) / 60}, status, lines


def cell(*values):
    if any(v is None for v in values):
        return "-"
    return " / ".join(f"{v:.2f}" for v in values)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", required=True, help="the build directory (examples/g2p/example_g2p in it)")
    parser.add_argument("--minutes", type=float, default=10.0, help="training budget of each run (default 10)")
    parser.add_argument("--runs", default="weft,torch", help="comma-separated: weft, weft-ref, torch")
    parser.add_argument("--out", default="", help="the runs' outputs and logs (default: BUILD/bench/g2p_budget)")
    parser.add_argument("--results", default="", help="JSON lines appended here (default: BUILD/bench/results.jsonl)")
    parser.add_argument("--python", default=SYSTEM_PYTHON, help="the python with PyTorch 1.13 (default /usr/bin/python3)")
    parser.add_argument("--weft-exe", default="", help=argparse.SUPPRESS)  # tests: a stand-in example_g2p
    parser.add_argument("--torch-script", default="", help=argparse.SUPPRESS)  # tests: a stand-in train_torch.py
    args = parser.parse_args()
    runs = [r for r in args.runs.split(",") if r]
    unknown = [r for r in runs if r not in RUNS]
    if unknown or not runs:
        parser.error(f"--runs: unknown run '{unknown[0] if unknown else ''}' (known: {', '.join(RUNS)})")
    if not args.minutes > 0:
        parser.error("--minutes must be positive")

    out_dir = args.out or os.path.join(args.build, "bench", "g2p_budget")
    os.makedirs(out_dir, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("WEFT_NUM_THREADS", "2")
    env.setdefault("OMP_NUM_THREADS", "2")
    env.setdefault("OPENBLAS_NUM_THREADS", "2")
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    print(f"g2p_budget: {', '.join(runs)}, {args.minutes:g} training minutes each, one after another, "
          f"{env['WEFT_NUM_THREADS']} threads", flush=True)

    rows, failed = {}, []
    for name in runs:
        load_before = load_average()
        result, status, lines = (torch_run if name == "torch" else weft_run)(name, args, env, out_dir)
        if result is None:
            failed.append(name)
            tail = "\n".join("    " + line for line in lines[-5:])
            print(f"g2p_budget: {name} failed (status {status}); its last lines:\n{tail}", file=sys.stderr, flush=True)
            continue
        result["load"] = (load_before + load_average()) / 2
        rows[name] = result

    print(f"\n## G2P, {args.minutes:g} minutes of training each (test words 5,284; greedy unless said)\n")
    print("| run | steps | target tokens/s | test PER / WER | test PER / WER, beam 4 | dev PER | load |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, r in rows.items():
        print(f"| {RUNS[name][0]} | {r['steps']} | {r['tokens_per_s']:,.0f} | {cell(r['test_per'], r['test_wer'])} | "
              f"{cell(r['beam_per'], r['beam_wer'])} | {cell(r['dev_per'])} | {r['load']:.1f} |")
    stamp = datetime.datetime.now().isoformat(timespec="seconds")
    results_path = args.results or os.path.join(args.build, "bench", "results.jsonl")
    os.makedirs(os.path.dirname(os.path.abspath(results_path)), exist_ok=True)
    with open(results_path, "a") as f:
        for name, r in rows.items():
            f.write(json.dumps({"time": stamp, "host": platform.node(), "workload": "g2p_budget", "run": name,
                                "budget_minutes": args.minutes, **r}) + "\n")
    weft = rows.get("weft") or rows.get("weft-ref")
    torch = rows.get("torch")
    if weft and torch and torch["tokens_per_s"]:
        print(f"\nratio g2p_budget weft_tok/s={weft['tokens_per_s']:.0f} pytorch1.13_tok/s={torch['tokens_per_s']:.0f} "
              f"{weft['tokens_per_s'] / torch['tokens_per_s']:.2f}x test_per weft={weft['test_per']:.2f} "
              f"pytorch1.13={torch['test_per']:.2f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
