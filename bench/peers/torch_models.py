"""PyTorch's side of `make bench`'s whole-model comparison (bench/compare.py): the workloads of
bench/models.h written as PyTorch users write them, in a worker that sets one up and then times
repetitions when asked, so that the driver can interleave it with Weft's worker in rounds.

    torch_models.py WORKLOAD [--variant prefix|kv] [--compile]

Runs under Debian's PyTorch 1.13 (/usr/bin/python3) and under PyTorch 2.x in the benchmark's venv;
`--compile` wraps the model in torch.compile (2.x only). Replies on stdout as bench/peers/protocol.py
says; a traceback and a non-zero exit when it fails. Threads: OMP_NUM_THREADS (2 unless set).
"""
import inspect
import math
import os
import sys
import time

from protocol import serve, unavailable

VOCAB, D, HEADS, LAYERS, FF, BATCH, SOURCE, TARGET, STEPS = 1000, 256, 4, 3, 1024, 32, 32, 32, 32


try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except Exception as e:  # noqa: BLE001 - any import failure means no peer
    unavailable(f"{type(e).__name__}: {e}")


def positional_table(length, d):
    position = torch.arange(length, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, d, 2, dtype=torch.float32) * (-math.log(10000.0) / d))
    pe = torch.zeros(length, d)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(position * div), torch.cos(position * div)
    return pe


class Seq2SeqTransformer(nn.Module):
    """bench/models.h's TransformerModel: nn.Transformer, embeddings scaled by sqrt(d), sinusoidal
    positions, a generator; no dropout."""

    def __init__(self):
        super().__init__()
        self.transformer = nn.Transformer(D, HEADS, LAYERS, LAYERS, FF, dropout=0.0, batch_first=True)
        self.src_embed, self.tgt_embed = nn.Embedding(VOCAB, D), nn.Embedding(VOCAB, D)
        self.generator = nn.Linear(D, VOCAB)
        self.register_buffer("pe", positional_table(64, D))

    def embed(self, e, ids, start=0):
        return e(ids) * D ** 0.5 + self.pe[start:start + ids.shape[1]]

    def forward(self, src, tgt_in):
        mask = self.transformer.generate_square_subsequent_mask(tgt_in.shape[1])
        # PyTorch 2 is told the mask is causal, else it checks (and torch.compile breaks its graph there).
        knows_causal = "tgt_is_causal" in inspect.signature(self.transformer.forward).parameters
        causal = {"tgt_is_causal": True} if knows_causal else {}
        y = self.transformer(self.embed(self.src_embed, src), self.embed(self.tgt_embed, tgt_in), tgt_mask=mask,
                             **causal)
        return self.generator(y)


class BahdanauAttention(nn.Module):
    """PyTorch's seq2seq tutorial's attention: Va·tanh(Wa·query + Ua·keys)."""

    def __init__(self, hidden):
        super().__init__()
        self.Wa, self.Ua, self.Va = nn.Linear(hidden, hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, 1)

    def forward(self, query, keys, projected_keys=None):
        keys_term = self.Ua(keys) if projected_keys is None else projected_keys
        scores = self.Va(torch.tanh(self.Wa(query) + keys_term)).squeeze(2).unsqueeze(1)
        weights = F.softmax(scores, dim=-1)
        return torch.bmm(weights, keys)


class LstmAttention(nn.Module):
    """bench/models.h's LSTM encoder-decoder with additive attention (embedding 256, hidden 512):
    each step attends with the previous h and feeds [embedding; context] to the LSTM, as the tutorial's
    AttnDecoderRNN does (with an LSTM). `hoisted` projects the keys once, before the loop."""

    def __init__(self, hoisted, embed=256, hidden=512):
        super().__init__()
        self.hoisted = hoisted
        self.src_embed, self.tgt_embed = nn.Embedding(VOCAB, embed), nn.Embedding(VOCAB, embed)
        self.encoder = nn.LSTM(embed, hidden, batch_first=True)
        self.decoder = nn.LSTM(embed + hidden, hidden, batch_first=True)
        self.attention = BahdanauAttention(hidden)
        self.out = nn.Linear(hidden, VOCAB)

    def forward(self, src, tgt_in):
        keys, state = self.encoder(self.src_embed(src))
        projected = self.attention.Ua(keys) if self.hoisted else None
        embedded = self.tgt_embed(tgt_in)
        outputs = []
        for t in range(tgt_in.shape[1]):
            query = state[0].permute(1, 0, 2)
            context = self.attention(query, keys, projected)
            output, state = self.decoder(torch.cat([embedded[:, t:t + 1], context], 2), state)
            outputs.append(output)
        return self.out(torch.cat(outputs, 1))


def greedy_prefix(model, src):
    """nn.Transformer's decoder re-run over the whole prefix for every token, as users write it."""
    t = model.transformer
    memory = t.encoder(model.embed(model.src_embed, src))
    tgt = torch.ones(src.shape[0], 1, dtype=torch.long)
    for _ in range(STEPS):
        mask = t.generate_square_subsequent_mask(tgt.shape[1])
        y = t.decoder(model.embed(model.tgt_embed, tgt), memory, tgt_mask=mask)
        tgt = torch.cat([tgt, model.generator(y[:, -1]).argmax(-1, keepdim=True)], 1)
    return tgt[:, 1:]


def _split(x):  # [B, T, D] -> [B, H, T, d]
    return x.view(x.shape[0], -1, HEADS, D // HEADS).transpose(1, 2)


def _attend(attn, q, k, v):
    w, b = attn.in_proj_weight.chunk(3), attn.in_proj_bias.chunk(3)
    q = _split(F.linear(q, w[0], b[0]))
    scores = q @ k.transpose(-1, -2) / (D // HEADS) ** 0.5
    return attn.out_proj((scores.softmax(-1) @ v).transpose(1, 2).reshape(q.shape[0], 1, D))


def greedy_kv(model, src):
    """The same model stepped with a key/value cache written by hand: each layer's self-attention keys
    and values concatenated per step, the memory's keys and values projected once."""
    t = model.transformer
    memory = t.encoder(model.embed(model.src_embed, src))
    layers = t.decoder.layers
    mem_kv = []
    for layer in layers:
        w, b = layer.multihead_attn.in_proj_weight.chunk(3), layer.multihead_attn.in_proj_bias.chunk(3)
        mem_kv.append((_split(F.linear(memory, w[1], b[1])), _split(F.linear(memory, w[2], b[2]))))
    cache = [(None, None) for _ in layers]
    token = torch.ones(src.shape[0], 1, dtype=torch.long)
    out = []
    for step in range(STEPS):
        x = model.embed(model.tgt_embed, token, step)
        for i, layer in enumerate(layers):
            w, b = layer.self_attn.in_proj_weight.chunk(3), layer.self_attn.in_proj_bias.chunk(3)
            k, v = _split(F.linear(x, w[1], b[1])), _split(F.linear(x, w[2], b[2]))
            if cache[i][0] is not None:
                k, v = torch.cat([cache[i][0], k], 2), torch.cat([cache[i][1], v], 2)
            cache[i] = (k, v)
            x = layer.norm1(x + _attend(layer.self_attn, x, k, v))
            x = layer.norm2(x + _attend(layer.multihead_attn, x, *mem_kv[i]))
            x = layer.norm3(x + layer.linear2(F.relu(layer.linear1(x))))
        token = model.generator(t.decoder.norm(x)[:, -1]).argmax(-1, keepdim=True)
        out.append(token)
    return torch.cat(out, 1)


class G2PTransformer(nn.Module):
    """The G2P reference Transformer of ../shared/g2p/train_torch.py (the model examples/g2p trains):
    embeddings scaled by sqrt(d) plus sinusoids, dropout 0.1, padding masks on the source."""

    def __init__(self, src_vocab=30, tgt_vocab=44, d=256, heads=4, layers=3, ff=1024, dropout=0.1):
        super().__init__()
        self.d = d
        self.src_emb, self.tgt_emb = nn.Embedding(src_vocab, d), nn.Embedding(tgt_vocab, d)
        self.register_buffer("pe", positional_table(128, d))
        self.drop = nn.Dropout(dropout)
        self.transformer = nn.Transformer(d, heads, layers, layers, ff, dropout, batch_first=True)
        self.out = nn.Linear(d, tgt_vocab)

    def embed(self, emb, x):
        return self.drop(emb(x) * math.sqrt(self.d) + self.pe[:x.size(1)])

    def forward(self, src, tgt_in):
        mask = src == 0  # PAD
        memory = self.transformer.encoder(self.embed(self.src_emb, src), src_key_padding_mask=mask)
        causal = nn.Transformer.generate_square_subsequent_mask(tgt_in.size(1))
        h = self.transformer.decoder(self.embed(self.tgt_emb, tgt_in), memory, tgt_mask=causal,
                                     memory_key_padding_mask=mask)
        return self.out(h)


def g2p_train_step(model):
    """train_torch.py's step on one bucket of the demo's batch (64 words, 10 letters -> 10 phonemes)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.98), eps=1e-9)
    src, tgt_in, tgt_out = (torch.randint(3, v, (64, 10)) for v in (30, 44, 44))

    def step():
        optimizer.zero_grad(set_to_none=True)
        logits = model(src, tgt_in)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), tgt_out.reshape(-1), ignore_index=0,
                               label_smoothing=0.1)
        loss.backward()
        optimizer.step()
        return loss

    return step


def transformer_train_flops():
    """bench/models.cpp's count: 3x the forward's matrix products (36.3 GFLOP)."""
    def per_token(attended):
        return 2 * 4 * D * D + 2 * 2 * attended * D

    encoder = LAYERS * (per_token(SOURCE) + 2 * 2 * D * FF) * BATCH * SOURCE
    decoder = LAYERS * (per_token(TARGET) + per_token(SOURCE) + 2 * 2 * D * FF) * BATCH * TARGET
    return 3 * (encoder + decoder + 2 * D * VOCAB * BATCH * TARGET)


def ids(*shape):
    return torch.randint(3, VOCAB, shape)


def train_step(model, inputs, loss_fn, forward=None):
    """One Adam update (lr 1e-4) per call, as Weft's make_train_step does."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    forward = model if forward is None else forward  # a compiled module has no truth value
    src, tgt_in, tgt_out = inputs

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(forward(src, tgt_in).reshape(-1, VOCAB), tgt_out.reshape(-1))
        loss.backward()
        optimizer.step()
        return loss

    return step


def setup(workload, variant, compiled):
    """The repetition to time (a function of no arguments) and its floating-point operations (0: not counted)."""
    maybe_compile = torch.compile if compiled else (lambda f: f)
    if compiled and not hasattr(torch, "compile"):
        unavailable(f"torch.compile needs PyTorch 2 (this is {torch.__version__})")
    if workload == "encoder_layer":
        layer = nn.TransformerEncoderLayer(512, 8, 2048, dropout=0.0, batch_first=True).eval()
        x = torch.rand(8, 128, 512) * 2 - 1
        run = maybe_compile(layer)
        flops = 2 * 1024 * (4 * 512 * 512 + 2 * 512 * 2048) + 4 * 8 * 128 * 128 * 512
        return (lambda: run(x)), flops
    if workload == "transformer_train":
        model = Seq2SeqTransformer()
        loss = nn.CrossEntropyLoss(label_smoothing=0.1)
        return train_step(model, (ids(BATCH, SOURCE), ids(BATCH, TARGET), ids(BATCH, TARGET)), loss,
                          maybe_compile(model)), transformer_train_flops()
    if workload == "g2p_train":
        model = G2PTransformer().train()
        return g2p_train_step(maybe_compile(model) if compiled else model), 0
    if workload in ("greedy_b1", "greedy_b8"):
        if compiled:
            unavailable("torch.compile is not applied to the decoding loops (a graph per prefix length)")
        if variant not in ("prefix", "kv"):
            unavailable("greedy decoding needs --variant prefix or kv")
        model = Seq2SeqTransformer().eval()
        src = ids(1 if workload == "greedy_b1" else 8, SOURCE)
        with torch.no_grad():
            if not torch.equal(greedy_prefix(model, src), greedy_kv(model, src)):
                raise RuntimeError("the KV-cache loop's tokens differ from the prefix loop's")
        loop = greedy_prefix if variant == "prefix" else greedy_kv

        def decode():
            with torch.no_grad():
                return loop(model, src)

        return decode, 0
    if workload in ("lstm_attn_tutorial", "lstm_attn_hoisted"):
        if compiled:
            unavailable("torch.compile is not applied to the 32-step Python loop (it would unroll it)")
        model = LstmAttention(hoisted=workload == "lstm_attn_hoisted")
        return train_step(model, (ids(BATCH, 32), ids(BATCH, 32), ids(BATCH, 32)), nn.CrossEntropyLoss()), 0
    if workload.startswith("matmul_"):
        if compiled:
            unavailable("torch.compile adds nothing to one matmul")
        m, k, n = (int(v) for v in workload[len("matmul_"):].split("x"))
        a, b = torch.rand(m, k), torch.rand(k, n)
        return (lambda: torch.mm(a, b)), 2 * m * k * n
    raise SystemExit(f"torch_models.py: unknown workload '{workload}'")


def main():
    args = sys.argv[1:]
    if not args:
        raise SystemExit("usage: torch_models.py WORKLOAD [--variant prefix|kv] [--compile]")
    variant = args[args.index("--variant") + 1] if "--variant" in args else ""
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    torch.manual_seed(1)
    start = time.perf_counter()
    repetition, flops = setup(args[0], variant, "--compile" in args)
    if "--compile" in args:
        repetition()  # torch.compile compiles at the first call: setup, as Weft's JIT compiles in setup
    serve(repetition, (time.perf_counter() - start) * 1e3, flops, torch.__version__)


if __name__ == "__main__":
    main()
