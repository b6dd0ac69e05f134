"""PyTorch 1.13's greedy decoding on bench_decode's Transformer (vocabulary 1000, d_model 256, 4
heads, 3 + 3 layers, feed-forward 1024, sources of 32 tokens, random weights), the peer of Weft's
decode loops:

    torch_decode.py BATCH

Prints `prefix_ms_per_step <ms>` — nn.Transformer's decoder re-run over the whole prefix for every
token, as PyTorch users write it (the best of 3 runs of 32 tokens, encode included) — and
`kv_cache_ms_per_step <ms>` — the same model stepped with a key/value cache written by hand
(each layer's self-attention keys and values concatenated per step, the memory's keys and values
projected once; checked to produce the prefix loop's tokens). Prints `unavailable <why>` when torch cannot be imported. Threads: OMP_NUM_THREADS
(default 2).
"""
import os
import sys
import time

STEPS, VOCAB, D, HEADS, LAYERS, FF, SOURCE = 32, 1000, 256, 4, 3, 1024, 32


def main():
    batch = int(sys.argv[1])
    try:
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
    except Exception as e:  # noqa: BLE001 - any import failure means no peer
        print(f"unavailable {type(e).__name__}: {e}")
        return
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    torch.manual_seed(1)
    model = nn.Transformer(D, HEADS, LAYERS, LAYERS, FF, dropout=0.0, batch_first=True).eval()
    src_embed, tgt_embed, generator = nn.Embedding(VOCAB, D), nn.Embedding(VOCAB, D), nn.Linear(D, VOCAB)
    position = torch.arange(64, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, D, 2, dtype=torch.float32) * (-torch.log(torch.tensor(10000.0)) / D))
    pe = torch.zeros(64, D)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(position * div), torch.cos(position * div)
    src = torch.randint(3, VOCAB, (batch, SOURCE))

    def embed(e, ids, start=0):
        return e(ids) * D ** 0.5 + pe[start:start + ids.shape[1]]

    def prefix_loop():
        memory = model.encoder(embed(src_embed, src))
        tgt = torch.ones(batch, 1, dtype=torch.long)
        for _ in range(STEPS):
            mask = model.generate_square_subsequent_mask(tgt.shape[1])
            y = model.decoder(embed(tgt_embed, tgt), memory, tgt_mask=mask)
            tgt = torch.cat([tgt, generator(y[:, -1]).argmax(-1, keepdim=True)], 1)
        return tgt[:, 1:]

    def split(x):  # [B, T, D] -> [B, H, T, d]
        return x.view(x.shape[0], -1, HEADS, D // HEADS).transpose(1, 2)

    def attend(attn, q, k, v):
        w = attn.in_proj_weight.chunk(3)
        b = attn.in_proj_bias.chunk(3)
        q = split(F.linear(q, w[0], b[0]))
        scores = q @ k.transpose(-1, -2) / (D // HEADS) ** 0.5
        out = (scores.softmax(-1) @ v).transpose(1, 2).reshape(q.shape[0], 1, D)
        return attn.out_proj(out)

    def cached_loop():
        memory = model.encoder(embed(src_embed, src))
        layers = model.decoder.layers
        mem_kv = []
        for layer in layers:
            w, b = layer.multihead_attn.in_proj_weight.chunk(3), layer.multihead_attn.in_proj_bias.chunk(3)
            mem_kv.append((split(F.linear(memory, w[1], b[1])), split(F.linear(memory, w[2], b[2]))))
        cache = [(None, None) for _ in layers]
        token = torch.ones(batch, 1, dtype=torch.long)
        out = []
        for t in range(STEPS):
            x = embed(tgt_embed, token, t)
            for i, layer in enumerate(layers):
                w, b = layer.self_attn.in_proj_weight.chunk(3), layer.self_attn.in_proj_bias.chunk(3)
                k, v = split(F.linear(x, w[1], b[1])), split(F.linear(x, w[2], b[2]))
                if cache[i][0] is not None:
                    k, v = torch.cat([cache[i][0], k], 2), torch.cat([cache[i][1], v], 2)
                cache[i] = (k, v)
                x = layer.norm1(x + attend(layer.self_attn, x, k, v))
                x = layer.norm2(x + attend(layer.multihead_attn, x, *mem_kv[i]))
                x = layer.norm3(x + layer.linear2(F.relu(layer.linear1(x))))
            token = generator(model.decoder.norm(x)[:, -1]).argmax(-1, keepdim=True)
            out.append(token)
        return torch.cat(out, 1)

    with torch.no_grad():
        if not torch.equal(prefix_loop(), cached_loop()):
            print("unavailable: the KV-cache loop's tokens differ from the prefix loop's")
            sys.exit(1)
        for name, loop in (("prefix", prefix_loop), ("kv_cache", cached_loop)):
            loop()
            best = float("inf")
            for _ in range(3):
                start = time.perf_counter()
                loop()
                best = min(best, time.perf_counter() - start)
            print(f"{name}_ms_per_step {best * 1e3 / STEPS:.4f}")


if __name__ == "__main__":
    main()
