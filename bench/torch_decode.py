"""PyTorch 1.13's greedy decoding on bench_decode's Transformer (vocabulary 1000, d_model 256, 4
heads, 3 + 3 layers, feed-forward 1024, sources of 32 tokens, random weights), the peer of Weft's
decode loops:

    torch_decode.py BATCH

Prints `prefix_ms_per_step <ms>` — nn.Transformer's decoder re-run over the whole prefix for every
token, as PyTorch users write it (the best of 3 runs of 32 tokens, encode included) — and
`kv_cache_ms_per_step <ms>` — the same model stepped with a key/value cache written by hand
(bench/peers/torch_models.py has both loops; checked to produce the same tokens). Prints
`unavailable <why>` when torch cannot be imported. Threads: OMP_NUM_THREADS (default 2).
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers"))
import torch_models  # noqa: E402 - prints `unavailable` and exits when torch is missing


def main():
    batch = int(sys.argv[1])
    torch = torch_models.torch
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    torch.manual_seed(1)
    model = torch_models.Seq2SeqTransformer().eval()
    src = torch_models.ids(batch, torch_models.SOURCE)
    with torch.no_grad():
        if not torch.equal(torch_models.greedy_prefix(model, src), torch_models.greedy_kv(model, src)):
            print("unavailable: the KV-cache loop's tokens differ from the prefix loop's")
            sys.exit(1)
        for name, loop in (("prefix", torch_models.greedy_prefix), ("kv_cache", torch_models.greedy_kv)):
            loop(model, src)
            best = float("inf")
            for _ in range(3):
                start = time.perf_counter()
                loop(model, src)
                best = min(best, time.perf_counter() - start)
            print(f"{name}_ms_per_step {best * 1e3 / torch_models.STEPS:.4f}")


if __name__ == "__main__":
    main()
