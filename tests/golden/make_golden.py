#!/usr/bin/python3
"""Writes the PyTorch golden files in tests/golden/ that pin Weft's numerics (DESIGN.md, rule 4).

Run with Debian's python3-torch 1.13 (not the `python3` first on the PATH):

    OMP_NUM_THREADS=2 /usr/bin/python3 tests/golden/make_golden.py          # write, then check
    OMP_NUM_THREADS=2 /usr/bin/python3 tests/golden/make_golden.py --check  # check only

Every case is tiny, float32, dropout-free and seeded, and the files are byte-identical on re-runs.
`--check` reads each committed file back with the hand-written reader and verifies that
(1) it is byte-identical to a fresh regeneration, or (on a machine whose BLAS rounds the matmuls
differently) that its floats are within REGENERATION_RTOL/ATOL of the regenerated ones, said in a
note, (2) its metadata, keys, dtypes and shapes are the regenerated ones, and (3) a float64 re-derivation from first principles (golden_reference.py: explicit
matmuls, softmax, recurrences — no torch.nn modules) reproduces every `out.*` and `grad.*` tensor,
which confirms the conventions README.md documents (q,k,v packing, gate order, mask polarity, ...).
Key naming and each case are described in README.md.
"""

import argparse
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import golden_reference  # noqa: E402
import safetensors_io  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TRAIN_MODE_NOTE = ("module in .train() mode with dropout=0: numerically eval semantics, but it keeps "
                   "PyTorch off its fused inference fast path")
BOOL_MASK_NOTE = "bool masks: True means masked out (excluded), as in PyTorch"

CASES = []  # (name, seed, generator function), in file order


def case(name, seed):
    def register(fn):
        CASES.append((name, seed, fn))
        return fn
    return register


def causal_mask(n):
    """[n, n] bool, True above the diagonal: position i may not attend to j > i."""
    return torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=1)


def randomize_constant_params(module):
    """Default inits leave some parameters constant (attention biases 0, LayerNorm 1 and 0); a
    golden file with zero biases would not notice a bias that is dropped, so perturb those."""
    with torch.no_grad():
        for _, p in module.named_parameters():
            if torch.all(p == p.flatten()[0]):
                base = 1.0 if bool(p.flatten()[0] == 1) else 0.0
                p.copy_(base + 0.2 * torch.randn(p.shape))


def metadata(module, config, grad_mode, **extra):
    meta = {
        "module": module,
        "config": json.dumps(config, sort_keys=True),
        "grad_mode": grad_mode,
        "loss": ("sum over k of (out.k * grad_seed.k).sum(), one backward pass" if grad_mode == "joint"
                 else "for each output k separately: (out.k * grad_seed.k).sum(); "
                      "grads stored as grad.input.<input>.<k>"),
        "dtype": "float32",
        "torch_version": torch.__version__,
        "generator": "tests/golden/make_golden.py",
    }
    meta.update(extra)
    return meta


def record_module(module, inputs, run):
    """One forward of `module` through `run(module, leaves) -> {output: tensor}`, one backward of
    sum_k (out_k * grad_seed_k).sum(). Float inputs become leaves that receive gradients."""
    leaves = {k: v.clone().requires_grad_(True) if v.is_floating_point() else v
              for k, v in inputs.items()}
    outs = run(module, leaves)
    seeds = {k: torch.randn(outs[k].shape) for k in outs}
    loss = sum((outs[k] * seeds[k]).sum() for k in outs)
    loss.backward()
    t = {"in." + k: v for k, v in inputs.items()}
    t.update({"param." + k: v.detach().clone() for k, v in module.state_dict().items()})
    for k, v in outs.items():
        t["out." + k] = v.detach()
        t["grad_seed." + k] = seeds[k]
    for k, p in module.named_parameters():
        if p.grad is None:
            raise RuntimeError(f"parameter {k} received no gradient")
        t["grad." + k] = p.grad
    for k, v in leaves.items():
        if v.is_floating_point():
            t["grad.input." + k] = v.grad
    return t


def record_variants(inputs, variants):
    """Each variant `fn(leaves) -> tensor` gets its own backward; a scalar output's seed is 1."""
    t = {"in." + k: v for k, v in inputs.items()}
    for name, fn in variants.items():
        leaves = {k: v.clone().requires_grad_(True) if v.is_floating_point() else v
                  for k, v in inputs.items()}
        out = fn(leaves)
        seed = torch.ones(()) if out.dim() == 0 else torch.randn(out.shape)
        (out * seed).sum().backward()
        t["out." + name] = out.detach()
        t["grad_seed." + name] = seed
        for k, v in leaves.items():
            if v.is_floating_point() and v.grad is not None:
                t[f"grad.input.{k}.{name}"] = v.grad
    return t


# ---------------------------------------------------------------------------------------------
# Attention and Transformer layers


def mha_case(masked):
    E, H = 8, 2
    mha = nn.MultiheadAttention(embed_dim=E, num_heads=H, batch_first=True)
    randomize_constant_params(mha)
    L, S = (4, 4) if masked else (3, 4)
    inputs = {"query": torch.randn(2, L, E), "key": torch.randn(2, S, E),
              "value": torch.randn(2, S, E)}
    if masked:
        inputs["attn_mask"] = causal_mask(L)
        inputs["key_padding_mask"] = torch.tensor([[False] * 4, [False, False, True, True]])

    def run(m, x):
        out, weights = m(x["query"], x["key"], x["value"], key_padding_mask=x.get("key_padding_mask"),
                         attn_mask=x.get("attn_mask"), need_weights=True, average_attn_weights=True)
        return {"attn_output": out, "attn_weights": weights}

    t = record_module(mha, inputs, run)
    config = {"embed_dim": E, "num_heads": H, "batch_first": True, "bias": True, "dropout": 0.0}
    meta = metadata(
        f"torch.nn.MultiheadAttention(embed_dim={E}, num_heads={H}, batch_first=True)", config, "joint",
        call="mha(query, key, value, key_padding_mask, attn_mask, need_weights=True, "
             "average_attn_weights=True)",
        outputs="attn_output [N, L, E]; attn_weights [N, L, S], softmax weights averaged over heads",
        params="in_proj_bias and out_proj.bias randomized (defaults are zero)")
    if masked:
        meta["masks"] = (BOOL_MASK_NOTE + "; attn_mask [L, S] causal (True above the diagonal); "
                         "key_padding_mask [N, S] (True = padded key); no query row is fully masked")
    return t, meta


@case("mha", seed=1)
def make_mha():
    return mha_case(masked=False)


@case("mha_masked", seed=2)
def make_mha_masked():
    return mha_case(masked=True)


def encoder_layer_case(norm_first, activation):
    layer = nn.TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16, dropout=0.0,
                                       activation=activation, batch_first=True, norm_first=norm_first)
    randomize_constant_params(layer)
    layer.train()
    t = record_module(layer, {"src": torch.randn(2, 5, 8)}, lambda m, x: {"output": m(x["src"])})
    config = {"d_model": 8, "nhead": 2, "dim_feedforward": 16, "dropout": 0.0,
              "activation": activation, "batch_first": True, "norm_first": norm_first,
              "layer_norm_eps": 1e-5}
    structure = ("x = x + sa(norm1(x)); x = x + ff(norm2(x))" if norm_first
                 else "x = norm1(x + sa(x)); x = norm2(x + ff(x))")
    meta = metadata(
        f"torch.nn.TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16, dropout=0, "
        f"activation='{activation}', batch_first=True, norm_first={norm_first})", config, "joint",
        mode=TRAIN_MODE_NOTE, structure=structure + "; ff(x) = linear2(activation(linear1(x)))",
        params="biases and LayerNorm affine parameters randomized where the default is constant")
    return t, meta


@case("encoder_layer", seed=3)
def make_encoder_layer():
    return encoder_layer_case(norm_first=False, activation="relu")


@case("encoder_layer_prenorm", seed=4)
def make_encoder_layer_prenorm():
    return encoder_layer_case(norm_first=True, activation="gelu")


@case("decoder_layer", seed=5)
def make_decoder_layer():
    layer = nn.TransformerDecoderLayer(d_model=8, nhead=2, dim_feedforward=16, dropout=0.0,
                                       batch_first=True)
    randomize_constant_params(layer)
    layer.train()
    inputs = {"tgt": torch.randn(2, 4, 8), "memory": torch.randn(2, 5, 8), "tgt_mask": causal_mask(4)}
    t = record_module(layer, inputs,
                      lambda m, x: {"output": m(x["tgt"], x["memory"], tgt_mask=x["tgt_mask"])})
    config = {"d_model": 8, "nhead": 2, "dim_feedforward": 16, "dropout": 0.0, "activation": "relu",
              "batch_first": True, "norm_first": False, "layer_norm_eps": 1e-5}
    meta = metadata(
        "torch.nn.TransformerDecoderLayer(d_model=8, nhead=2, dim_feedforward=16, dropout=0, "
        "batch_first=True)", config, "joint", mode=TRAIN_MODE_NOTE,
        call="layer(tgt, memory, tgt_mask=tgt_mask)",
        structure="x = norm1(x + self_attn(x, tgt_mask)); x = norm2(x + multihead_attn(x, memory)); "
                  "x = norm3(x + linear2(relu(linear1(x))))",
        masks=BOOL_MASK_NOTE + "; tgt_mask [T, T] causal (True above the diagonal)",
        params="biases and LayerNorm affine parameters randomized where the default is constant")
    return t, meta


@case("transformer", seed=6)
def make_transformer():
    model = nn.Transformer(d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=2,
                           dim_feedforward=16, dropout=0.0, batch_first=True)
    randomize_constant_params(model)
    model.train()
    padding = torch.tensor([[False] * 5, [False, False, False, True, True]])
    inputs = {"src": torch.randn(2, 5, 8), "tgt": torch.randn(2, 4, 8), "tgt_mask": causal_mask(4),
              "src_key_padding_mask": padding, "memory_key_padding_mask": padding.clone()}

    def run(m, x):
        return {"output": m(x["src"], x["tgt"], tgt_mask=x["tgt_mask"],
                            src_key_padding_mask=x["src_key_padding_mask"],
                            memory_key_padding_mask=x["memory_key_padding_mask"])}

    t = record_module(model, inputs, run)
    config = {"d_model": 8, "nhead": 2, "num_encoder_layers": 2, "num_decoder_layers": 2,
              "dim_feedforward": 16, "dropout": 0.0, "activation": "relu", "batch_first": True,
              "norm_first": False, "layer_norm_eps": 1e-5}
    meta = metadata(
        "torch.nn.Transformer(d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=2, "
        "dim_feedforward=16, dropout=0, batch_first=True)", config, "joint", mode=TRAIN_MODE_NOTE,
        call="model(src, tgt, tgt_mask=tgt_mask, src_key_padding_mask=src_key_padding_mask, "
             "memory_key_padding_mask=memory_key_padding_mask)",
        structure="memory = encoder.norm(encoder.layers.1(encoder.layers.0(src))); "
                  "output = decoder.norm(decoder.layers.1(decoder.layers.0(tgt, memory), memory))",
        masks=BOOL_MASK_NOTE + "; tgt_mask [T, T] causal; src_key_padding_mask [N, S] pads the last "
              "two source positions of sequence 1; memory_key_padding_mask equals it. Every "
              "position of the output (and of the padded source positions inside the encoder) "
              "is computed and compared",
        params="biases and LayerNorm affine parameters randomized where the default is constant "
               "(weights xavier_uniform, as nn.Transformer initializes them)")
    return t, meta


# ---------------------------------------------------------------------------------------------
# LSTM


def lstm_case(with_lengths, with_state):
    lstm = nn.LSTM(input_size=4, hidden_size=5, num_layers=2, batch_first=True)
    inputs = {"input": torch.randn(2, 5, 4)}
    if with_state:
        inputs["h0"] = torch.randn(2, 2, 5)
        inputs["c0"] = torch.randn(2, 2, 5)
    if with_lengths:
        inputs["lengths"] = torch.tensor([5, 3], dtype=torch.int64)

    def run(m, x):
        state = (x["h0"], x["c0"]) if with_state else None
        if with_lengths:
            packed = nn.utils.rnn.pack_padded_sequence(x["input"], x["lengths"], batch_first=True)
            packed_out, (h_n, c_n) = m(packed, state)
            out, _ = nn.utils.rnn.pad_packed_sequence(packed_out, batch_first=True, total_length=5)
        else:
            out, (h_n, c_n) = m(x["input"], state)
        return {"output": out, "h_n": h_n, "c_n": c_n}

    t = record_module(lstm, inputs, run)
    config = {"input_size": 4, "hidden_size": 5, "num_layers": 2, "batch_first": True, "bias": True}
    meta = metadata(
        "torch.nn.LSTM(input_size=4, hidden_size=5, num_layers=2, batch_first=True)", config, "joint",
        outputs="output [N, T, H] (last layer's h_t); h_n, c_n [num_layers, N, H] (not batch-first)",
        cell="gates = x W_ih^T + b_ih + h W_hh^T + b_hh, split in order i, f, g, o; "
             "c' = sigmoid(f) c + sigmoid(i) tanh(g); h' = sigmoid(o) tanh(c')",
        initial_state="h0, c0 [num_layers, N, H] given as inputs" if with_state else "zeros")
    if with_lengths:
        meta["lengths"] = ("pack_padded_sequence(input, lengths=[5, 3], batch_first=True); output "
                           "is zero past each sequence's length; h_n, c_n are the states at each "
                           "sequence's last valid step; inputs past the length get zero gradient")
    return t, meta


@case("lstm", seed=7)
def make_lstm():
    return lstm_case(with_lengths=False, with_state=False)


@case("lstm_lengths", seed=8)
def make_lstm_lengths():
    return lstm_case(with_lengths=True, with_state=False)


@case("lstm_state", seed=9)
def make_lstm_state():
    return lstm_case(with_lengths=False, with_state=True)


# ---------------------------------------------------------------------------------------------
# tanh RNN and GRU (one state, h)

RNN_CELLS = {
    "rnn": "h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)",
    "gru": "gates split in order r, z, n: r = sigmoid(x W_ir^T + b_ir + h W_hr^T + b_hr); "
           "z = sigmoid(x W_iz^T + b_iz + h W_hz^T + b_hz); "
           "n = tanh(x W_in^T + b_in + r (h W_hn^T + b_hn)); h' = (1 - z) n + z h",
}


def h_state_case(kind, with_lengths, with_state):
    module_class = nn.RNN if kind == "rnn" else nn.GRU
    module = module_class(input_size=4, hidden_size=5, num_layers=2, batch_first=True)
    inputs = {"input": torch.randn(2, 5, 4)}
    if with_state:
        inputs["h0"] = torch.randn(2, 2, 5)
    if with_lengths:
        inputs["lengths"] = torch.tensor([5, 3], dtype=torch.int64)

    def run(m, x):
        state = x["h0"] if with_state else None
        if with_lengths:
            packed = nn.utils.rnn.pack_padded_sequence(x["input"], x["lengths"], batch_first=True)
            packed_out, h_n = m(packed, state)
            out, _ = nn.utils.rnn.pad_packed_sequence(packed_out, batch_first=True, total_length=5)
        else:
            out, h_n = m(x["input"], state)
        return {"output": out, "h_n": h_n}

    t = record_module(module, inputs, run)
    config = {"input_size": 4, "hidden_size": 5, "num_layers": 2, "batch_first": True, "bias": True}
    name = "RNN" if kind == "rnn" else "GRU"
    meta = metadata(
        f"torch.nn.{name}(input_size=4, hidden_size=5, num_layers=2, batch_first=True)", config, "joint",
        outputs="output [N, T, H] (last layer's h_t); h_n [num_layers, N, H] (not batch-first)",
        cell=RNN_CELLS[kind],
        initial_state="h0 [num_layers, N, H] given as an input" if with_state else "zeros")
    if with_lengths:
        meta["lengths"] = ("pack_padded_sequence(input, lengths=[5, 3], batch_first=True); output "
                           "is zero past each sequence's length; h_n is the state at each "
                           "sequence's last valid step; inputs past the length get zero gradient")
    return t, meta


@case("rnn", seed=21)
def make_rnn():
    return h_state_case("rnn", with_lengths=False, with_state=True)


@case("rnn_lengths", seed=22)
def make_rnn_lengths():
    return h_state_case("rnn", with_lengths=True, with_state=False)


@case("gru", seed=23)
def make_gru():
    return h_state_case("gru", with_lengths=False, with_state=False)


@case("gru_state", seed=24)
def make_gru_state():
    return h_state_case("gru", with_lengths=False, with_state=True)


@case("gru_lengths", seed=25)
def make_gru_lengths():
    return h_state_case("gru", with_lengths=True, with_state=False)


# ---------------------------------------------------------------------------------------------
# Normalization, losses, activations


@case("layer_norm", seed=10)
def make_layer_norm():
    norm = nn.LayerNorm(8)
    randomize_constant_params(norm)
    t = record_module(norm, {"input": torch.randn(2, 3, 8)}, lambda m, x: {"output": m(x["input"])})
    meta = metadata("torch.nn.LayerNorm(8)", {"normalized_shape": [8], "eps": 1e-5,
                                              "elementwise_affine": True}, "joint",
                    formula="(x - mean) / sqrt(var + eps) * weight + bias, biased variance over "
                            "the last axis",
                    params="weight = 1 + 0.2 randn, bias = 0.2 randn")
    return t, meta


@case("cross_entropy", seed=11)
def make_cross_entropy():
    inputs = {"logits": 2.0 * torch.randn(6, 7),
              "targets": torch.tensor([3, -100, 0, 6, -100, 2]),
              "targets_ignore0": torch.tensor([3, 0, 5, 6, 0, 2])}
    calls = {
        "ce_mean": ("targets", -100, 0.1, "mean"),
        "ce_sum": ("targets", -100, 0.1, "sum"),
        "ce_none": ("targets", -100, 0.1, "none"),
        "ce_mean_ignore0": ("targets_ignore0", 0, 0.1, "mean"),
        "ce_mean_no_smoothing": ("targets", -100, 0.0, "mean"),
    }
    variants = {name: (lambda x, c=c: F.cross_entropy(x["logits"], x[c[0]], ignore_index=c[1],
                                                      label_smoothing=c[2], reduction=c[3]))
                for name, c in calls.items()}
    t = record_variants(inputs, variants)
    described = {name: f"F.cross_entropy(logits, {c[0]}, ignore_index={c[1]}, label_smoothing={c[2]}, "
                       f"reduction='{c[3]}')" for name, c in calls.items()}
    meta = metadata("torch.nn.functional.cross_entropy", {"num_classes": 7, "batch": 6},
                    "per_output", variants=json.dumps(described, sort_keys=True),
                    formula="per row: (1 - eps) * -log p[target] + eps * mean_c(-log p[c]); ignored "
                            "rows contribute 0 and 'mean' divides by the number of non-ignored rows")
    return t, meta


@case("kl_div", seed=12)
def make_kl_div():
    inputs = {"x": torch.randn(4, 6), "target": torch.softmax(torch.randn(4, 6), dim=-1)}
    variants = {"kl_div": lambda x: F.kl_div(F.log_softmax(x["x"], dim=-1), x["target"],
                                             reduction="batchmean")}
    t = record_variants(inputs, variants)
    meta = metadata("torch.nn.functional.kl_div", {"batch": 4, "classes": 6}, "per_output",
                    variants=json.dumps({"kl_div": "F.kl_div(F.log_softmax(x, -1), target, "
                                                   "reduction='batchmean')"}),
                    formula="sum(target * (log(target) - log_softmax(x))) / batch; target is a "
                            "probability distribution per row (input, not log-space)")
    return t, meta


@case("mse_loss", seed=13)
def make_mse_loss():
    inputs = {"input": torch.randn(3, 4), "target": torch.randn(3, 4)}
    variants = {r: (lambda x, r=r: F.mse_loss(x["input"], x["target"], reduction=r.split("_")[1]))
                for r in ("mse_mean", "mse_sum")}
    t = record_variants(inputs, variants)
    meta = metadata("torch.nn.functional.mse_loss", {"shape": [3, 4]}, "per_output",
                    variants=json.dumps({"mse_mean": "F.mse_loss(input, target, reduction='mean')",
                                         "mse_sum": "F.mse_loss(input, target, reduction='sum')"},
                                        sort_keys=True))
    return t, meta


@case("softmax", seed=14)
def make_softmax():
    x = torch.rand(2, 3, 4) * 100.0 - 50.0
    x[0, 0, 0], x[1, 2, 3] = 50.0, -50.0
    calls = {"softmax_last": (F.softmax, -1), "softmax_dim1": (F.softmax, 1),
             "log_softmax_last": (F.log_softmax, -1), "log_softmax_dim1": (F.log_softmax, 1)}
    variants = {name: (lambda v, c=c: c[0](v["x"], dim=c[1])) for name, c in calls.items()}
    t = record_variants({"x": x}, variants)
    described = {name: f"F.{c[0].__name__}(x, dim={c[1]})" for name, c in calls.items()}
    meta = metadata("torch.nn.functional.softmax / log_softmax", {"shape": [2, 3, 4]}, "per_output",
                    variants=json.dumps(described, sort_keys=True),
                    notes="x uniform in [-50, 50] (contains exactly 50 and -50) so a naive exp "
                          "overflows; some probabilities underflow to (sub)normal tiny values")
    return t, meta


@case("gelu", seed=15)
def make_gelu():
    inputs = {"x": torch.linspace(-5.0, 5.0, 20)}
    variants = {"gelu_exact": lambda v: F.gelu(v["x"]),
                "gelu_tanh": lambda v: F.gelu(v["x"], approximate="tanh")}
    t = record_variants(inputs, variants)
    meta = metadata("torch.nn.functional.gelu", {"shape": [20]}, "per_output",
                    variants=json.dumps({"gelu_exact": "F.gelu(x)  # 0.5 x (1 + erf(x / sqrt 2))",
                                         "gelu_tanh": "F.gelu(x, approximate='tanh')  # 0.5 x (1 + "
                                                      "tanh(sqrt(2/pi) (x + 0.044715 x^3)))"},
                                        sort_keys=True))
    return t, meta


# ---------------------------------------------------------------------------------------------
# The Bahdanau-form attention decoder (Weft's nn::Seq2SeqAttention, style bahdanau, additive)


class Seq2SeqBahdanau(nn.Module):
    """PyTorch's seq2seq tutorial decoder with an LSTM: each step attends with the previous state's
    top-layer h, feeds [embedding; context] to the LSTM and predicts from its output. Parameter names
    are Weft's (src_embed, tgt_embed, encoder, decoder, attention.{query_proj,key_proj,v}, out)."""

    def __init__(self, vocab, embed, hidden, layers, attention):
        super().__init__()
        self.src_embed = nn.Embedding(vocab, embed)
        self.tgt_embed = nn.Embedding(vocab, embed)
        self.encoder = nn.LSTM(embed, hidden, layers, batch_first=True)
        self.decoder = nn.LSTM(embed + hidden, hidden, layers, batch_first=True)
        self.attention = nn.Module()
        self.attention.query_proj = nn.Linear(hidden, attention, bias=False)
        self.attention.key_proj = nn.Linear(hidden, attention, bias=False)
        self.attention.v = nn.Linear(attention, 1, bias=False)
        self.out = nn.Linear(hidden, vocab)

    def forward(self, src, src_lengths, tgt_in):
        S = src.shape[1]
        packed = nn.utils.rnn.pack_padded_sequence(self.src_embed(src), src_lengths, batch_first=True,
                                                   enforce_sorted=False)
        enc, (h, c) = self.encoder(packed)
        enc, _ = nn.utils.rnn.pad_packed_sequence(enc, batch_first=True, total_length=S)
        pad = torch.arange(S)[None, :] >= src_lengths[:, None]
        keys = self.attention.key_proj(enc)  # U·keys, once: the hoisted form
        logits, weights = [], []
        for t in range(tgt_in.shape[1]):
            query = self.attention.query_proj(h[-1])[:, None]
            scores = self.attention.v(torch.tanh(query + keys)).squeeze(-1)
            w = torch.softmax(scores.masked_fill(pad, float("-inf")), dim=-1)
            context = torch.bmm(w[:, None], enc)[:, 0]
            x = torch.cat([self.tgt_embed(tgt_in[:, t]), context], dim=-1)[:, None]
            y, (h, c) = self.decoder(x, (h, c))
            logits.append(self.out(y[:, 0]))
            weights.append(w)
        return torch.stack(logits, 1), torch.stack(weights, 1)


@case("seq2seq_bahdanau", seed=10)
def make_seq2seq_bahdanau():
    config = {"vocab": 9, "embed_dim": 4, "hidden_size": 5, "num_layers": 2, "attention_dim": 6}
    model = Seq2SeqBahdanau(9, 4, 5, 2, 6)
    inputs = {"src": torch.randint(0, 9, (3, 5)), "src_lengths": torch.tensor([5, 3, 4]),
              "tgt_in": torch.randint(0, 9, (3, 4))}

    def run(m, x):
        logits, weights = m(x["src"], x["src_lengths"], x["tgt_in"])
        return {"logits": logits, "weights": weights}

    t = record_module(model, inputs, run)
    meta = metadata(
        "Seq2SeqBahdanau(vocab=9, embed=4, hidden=5, layers=2, attention=6) (this script)", config, "joint",
        outputs="logits [N, T, vocab]; weights [N, T, S] (each step's attention over the source)",
        step="q = h_{t-1}[-1]; w = softmax(v^T tanh(query_proj q + key_proj k), padded keys -inf); "
             "context = w · encoder outputs; h_t = LSTM([tgt_embed(y_{t-1}); context], h_{t-1}); "
             "logits = out(h_t[-1])",
        lengths="the encoder packs src by src_lengths; its state at each source's last step starts the decoder")
    return t, meta


# ---------------------------------------------------------------------------------------------


def generate(name, seed, fn):
    torch.manual_seed(seed)
    tensors, meta = fn()
    meta = dict(meta, case=name, seed=str(seed))
    for key, value in tensors.items():
        if value.is_floating_point() and value.dtype != torch.float32:
            raise TypeError(f"{name}: {key} is {value.dtype}, expected float32")
    return {k: v.detach().contiguous() for k, v in tensors.items()}, meta


# How far a regenerated float may be from the committed one when the bytes differ: PyTorch's
# matmuls take another BLAS kernel on another CPU or BLAS build (OpenBLAS picks one per CPU), and
# round differently. Observed: at most 3.3e-6 (2026-12-08, the MHA cases only) (the transformer case's gradients); Weft's own tests
# compare with rtol 1e-4, atol 1e-5.
REGENERATION_RTOL, REGENERATION_ATOL = 1e-5, 1e-5


def check(name, tensors, meta, path):
    """Returns (problems with the file at `path`, notes): problems empty when it is right."""
    problems, notes = [], []
    with open(path, "rb") as f:
        blob = f.read()
    same_bytes = blob == safetensors_io.serialize(tensors, meta)
    loaded, loaded_meta = safetensors_io.parse(blob)
    if loaded_meta != meta:
        problems.append("metadata differs")
    if set(loaded) != set(tensors):
        problems.append(f"keys differ: {sorted(set(loaded) ^ set(tensors))}")
    worst, worst_key = 0.0, None
    for key in sorted(set(loaded) & set(tensors)):
        a, b = loaded[key], tensors[key]
        if a.dtype != b.dtype or a.shape != b.shape:
            problems.append(f"{key}: dtype or shape differs ({a.dtype} {list(a.shape)} against {b.dtype} {list(b.shape)})")
        elif not torch.equal(a, b):
            if not a.is_floating_point() or not torch.allclose(a, b, rtol=REGENERATION_RTOL, atol=REGENERATION_ATOL):
                problems.append(f"{key}: read-back tensor differs from a fresh regeneration")
            elif (a - b).abs().max().item() > worst:
                worst, worst_key = (a - b).abs().max().item(), key
    if not same_bytes and not problems:
        notes.append(f"not byte-identical to a fresh regeneration: floats differ by at most {worst:.1e} ({worst_key}; "
                     f"another BLAS kernel's rounding, within rtol {REGENERATION_RTOL:g}, atol {REGENERATION_ATOL:g})")
    problems += golden_reference.verify(name, loaded, loaded_meta)
    return problems, notes


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="verify the committed files instead of writing them")
    parser.add_argument("--dir", default=HERE, help="where the .safetensors files live")
    args = parser.parse_args()
    torch.set_num_threads(1)  # reductions in one fixed order: byte-identical output on re-runs

    failures = 0
    total = 0
    for name, seed, fn in CASES:
        tensors, meta = generate(name, seed, fn)
        path = os.path.join(args.dir, name + ".safetensors")
        if not args.check:
            with open(path, "wb") as f:
                f.write(safetensors_io.serialize(tensors, meta))
        problems, notes = check(name, tensors, meta, path) if os.path.exists(path) else (["file missing"], [])
        size = os.path.getsize(path) if os.path.exists(path) else 0
        total += size
        status = "ok" if not problems else "FAILED"
        print(f"{name + '.safetensors':32} {len(tensors):3} tensors {size:7} bytes  {status}")
        for p in problems + notes:
            print(f"    {p}")
        failures += bool(problems)
    print(f"{len(CASES)} files, {total} bytes, {failures} failed")
    if failures:
        print(f"error: {failures} golden file(s) failed the check", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
