"""Float64 re-derivations of every golden case from first principles, used by `make_golden.py --check`.

Each function here rebuilds a case's outputs from the tensors stored in its file using only explicit
arithmetic (matmul, exp, erf, sigmoid, tanh, indexing) — no torch.nn modules and no
torch.nn.functional — so agreement confirms the conventions that README.md documents: how
MultiheadAttention packs q, k, v into in_proj_weight, which way a bool mask points, the LSTM gate
order, where each LayerNorm sits, how label smoothing combines with ignore_index. Gradients come
from autograd over these float64 expressions and are compared with the stored `grad.*` tensors.
"""

import json
import math

import torch

RTOL, ATOL = 1e-4, 2e-5


def softmax(x, dim):
    e = (x - x.amax(dim, keepdim=True).detach()).exp()
    return e / e.sum(dim, keepdim=True)


def log_softmax(x, dim):
    shifted = x - x.amax(dim, keepdim=True).detach()
    return shifted - shifted.exp().sum(dim, keepdim=True).log()


def linear(x, weight, bias):
    return x @ weight.T + bias


def layer_norm(x, weight, bias, eps=1e-5):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * weight + bias


def gelu_exact(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def relu(x):
    return torch.where(x > 0, x, torch.zeros_like(x))


def mha(p, prefix, q, k, v, nhead, attn_mask=None, key_padding_mask=None):
    """in_proj_weight rows [0,E) project q, [E,2E) k, [2E,3E) v; head h uses features
    [h*E/H, (h+1)*E/H); scores are scaled by 1/sqrt(E/H); True in a mask means excluded."""
    w, b = p[prefix + "in_proj_weight"], p[prefix + "in_proj_bias"]
    E = q.shape[-1]
    D = E // nhead
    N, L, S = q.shape[0], q.shape[1], k.shape[1]
    heads = [linear(x, w[i * E:(i + 1) * E], b[i * E:(i + 1) * E]) for i, x in enumerate((q, k, v))]
    Q, K, V = (h.reshape(N, -1, nhead, D).transpose(1, 2) for h in heads)  # [N, H, len, D]
    scores = Q @ K.transpose(-1, -2) / math.sqrt(D)
    excluded = torch.zeros(N, 1, L, S, dtype=torch.bool)
    if attn_mask is not None:
        excluded = excluded | attn_mask[None, None]
    if key_padding_mask is not None:
        excluded = excluded | key_padding_mask[:, None, None, :]
    weights = softmax(scores.masked_fill(excluded, float("-inf")), -1)
    out = (weights @ V).transpose(1, 2).reshape(N, L, E)
    return linear(out, p[prefix + "out_proj.weight"], p[prefix + "out_proj.bias"]), weights.mean(1)


def feed_forward(p, prefix, x, activation):
    hidden = activation(linear(x, p[prefix + "linear1.weight"], p[prefix + "linear1.bias"]))
    return linear(hidden, p[prefix + "linear2.weight"], p[prefix + "linear2.bias"])


def norm(p, name, x):
    return layer_norm(x, p[name + ".weight"], p[name + ".bias"])


def encoder_layer(p, pre, x, cfg, key_padding_mask=None):
    act = gelu_exact if cfg["activation"] == "gelu" else relu

    def sa(y):
        return mha(p, pre + "self_attn.", y, y, y, cfg["nhead"], key_padding_mask=key_padding_mask)[0]

    if cfg["norm_first"]:
        x = x + sa(norm(p, pre + "norm1", x))
        return x + feed_forward(p, pre, norm(p, pre + "norm2", x), act)
    x = norm(p, pre + "norm1", x + sa(x))
    return norm(p, pre + "norm2", x + feed_forward(p, pre, x, act))


def decoder_layer(p, pre, x, memory, cfg, tgt_mask, memory_key_padding_mask=None):
    h = cfg["nhead"]
    x = norm(p, pre + "norm1", x + mha(p, pre + "self_attn.", x, x, x, h, attn_mask=tgt_mask)[0])
    cross = mha(p, pre + "multihead_attn.", x, memory, memory, h,
                key_padding_mask=memory_key_padding_mask)[0]
    x = norm(p, pre + "norm2", x + cross)
    return norm(p, pre + "norm3", x + feed_forward(p, pre, x, relu))


def lstm(p, x, cfg, lengths=None, h0=None, c0=None):
    """gates = x W_ih^T + b_ih + h W_hh^T + b_hh, chunks in order i, f, g, o. With lengths, a
    sequence's state freezes after its last valid step and its output there is zero."""
    N, T, _ = x.shape
    H = cfg["hidden_size"]
    h_n, c_n = [], []
    layer_input = x
    for layer in range(cfg["num_layers"]):
        w_ih, w_hh = p[f"weight_ih_l{layer}"], p[f"weight_hh_l{layer}"]
        b_ih, b_hh = p[f"bias_ih_l{layer}"], p[f"bias_hh_l{layer}"]
        h = h0[layer] if h0 is not None else torch.zeros(N, H, dtype=x.dtype)
        c = c0[layer] if c0 is not None else torch.zeros(N, H, dtype=x.dtype)
        outputs = []
        for t in range(T):
            gates = linear(layer_input[:, t], w_ih, b_ih) + linear(h, w_hh, b_hh)
            i, f, g, o = gates.split(H, dim=1)
            c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h_new = torch.sigmoid(o) * torch.tanh(c_new)
            if lengths is None:
                h, c = h_new, c_new
                outputs.append(h)
            else:
                valid = (t < lengths)[:, None]
                h, c = torch.where(valid, h_new, h), torch.where(valid, c_new, c)
                outputs.append(torch.where(valid, h_new, torch.zeros_like(h_new)))
        layer_input = torch.stack(outputs, 1)
        h_n.append(h)
        c_n.append(c)
    return {"output": layer_input, "h_n": torch.stack(h_n), "c_n": torch.stack(c_n)}


def h_state_layers(kind, p, x, cfg, lengths=None, h0=None):
    """The tanh RNN (`kind` "rnn") or the GRU ("gru", chunks in order r, z, n, with
    n = tanh(W_in x + b_in + r (W_hn h + b_hn)) and h' = (1 - z) n + z h). Lengths as lstm()."""
    N, T, _ = x.shape
    H = cfg["hidden_size"]
    h_n = []
    layer_input = x
    for layer in range(cfg["num_layers"]):
        w_ih, w_hh = p[f"weight_ih_l{layer}"], p[f"weight_hh_l{layer}"]
        b_ih, b_hh = p[f"bias_ih_l{layer}"], p[f"bias_hh_l{layer}"]
        h = h0[layer] if h0 is not None else torch.zeros(N, H, dtype=x.dtype)
        outputs = []
        for t in range(T):
            gi, gh = linear(layer_input[:, t], w_ih, b_ih), linear(h, w_hh, b_hh)
            if kind == "rnn":
                h_new = torch.tanh(gi + gh)
            else:
                i_r, i_z, i_n = gi.split(H, dim=1)
                h_r, h_z, h_n_gate = gh.split(H, dim=1)
                r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
                n = torch.tanh(i_n + r * h_n_gate)
                h_new = (1 - z) * n + z * h
            if lengths is None:
                h = h_new
                outputs.append(h)
            else:
                valid = (t < lengths)[:, None]
                h = torch.where(valid, h_new, h)
                outputs.append(torch.where(valid, h_new, torch.zeros_like(h_new)))
        layer_input = torch.stack(outputs, 1)
        h_n.append(h)
    return {"output": layer_input, "h_n": torch.stack(h_n)}


def seq2seq_bahdanau(p, x, cfg):
    """The Bahdanau-form LSTM encoder-decoder: each step attends with the previous top-layer h
    (v^T tanh(W_q q + W_k k), padded keys excluded), the LSTM reads [embedding; context], and the
    logits are out(h)."""
    def sub(prefix):
        return {k[len(prefix):]: v for k, v in p.items() if k.startswith(prefix)}
    src, lengths, tgt_in = x["src"], x["src_lengths"], x["tgt_in"]
    S = src.shape[1]
    enc = lstm(sub("encoder."), p["src_embed.weight"][src], cfg, lengths)
    keys, h, c = enc["output"], enc["h_n"], enc["c_n"]
    pad = torch.arange(S)[None, :] >= lengths[:, None]
    logits, weights = [], []
    for t in range(tgt_in.shape[1]):
        q = h[-1] @ p["attention.query_proj.weight"].T
        k = keys @ p["attention.key_proj.weight"].T
        scores = (torch.tanh(q[:, None] + k) @ p["attention.v.weight"].T)[..., 0]
        w = softmax(scores.masked_fill(pad, float("-inf")), -1)
        context = (w[..., None] * keys).sum(1)
        step_in = torch.cat([p["tgt_embed.weight"][tgt_in[:, t]], context], -1)[:, None]
        dec = lstm(sub("decoder."), step_in, cfg, None, h, c)
        h, c = dec["h_n"], dec["c_n"]
        logits.append(linear(h[-1], p["out.weight"], p["out.bias"]))
        weights.append(w)
    return {"logits": torch.stack(logits, 1), "weights": torch.stack(weights, 1)}


def cross_entropy(logits, targets, ignore_index, smoothing, reduction):
    logp = log_softmax(logits, -1)
    valid = targets != ignore_index
    safe = torch.where(valid, targets, torch.zeros_like(targets))
    nll = -logp.gather(1, safe[:, None])[:, 0]
    per_row = ((1.0 - smoothing) * nll - smoothing * logp.mean(1)) * valid
    if reduction == "none":
        return per_row
    return per_row.sum() / valid.sum() if reduction == "mean" else per_row.sum()


def reference_outputs(name, x, p, cfg):
    """Outputs of case `name` from inputs `x` and parameters `p` (names without prefixes)."""
    if name in ("mha", "mha_masked"):
        out, weights = mha(p, "", x["query"], x["key"], x["value"], cfg["num_heads"],
                           x.get("attn_mask"), x.get("key_padding_mask"))
        return {"attn_output": out, "attn_weights": weights}
    if name.startswith("encoder_layer"):
        return {"output": encoder_layer(p, "", x["src"], cfg)}
    if name == "decoder_layer":
        return {"output": decoder_layer(p, "", x["tgt"], x["memory"], cfg, x["tgt_mask"])}
    if name == "transformer":
        memory = x["src"]
        for i in range(cfg["num_encoder_layers"]):
            memory = encoder_layer(p, f"encoder.layers.{i}.", memory, cfg, x["src_key_padding_mask"])
        memory = norm(p, "encoder.norm", memory)
        y = x["tgt"]
        for i in range(cfg["num_decoder_layers"]):
            y = decoder_layer(p, f"decoder.layers.{i}.", y, memory, cfg, x["tgt_mask"],
                              x["memory_key_padding_mask"])
        return {"output": norm(p, "decoder.norm", y)}
    if name.startswith("lstm"):
        return lstm(p, x["input"], cfg, x.get("lengths"), x.get("h0"), x.get("c0"))
    if name.startswith("rnn") or name.startswith("gru"):
        return h_state_layers(name[:3], p, x["input"], cfg, x.get("lengths"), x.get("h0"))
    if name == "seq2seq_bahdanau":
        return seq2seq_bahdanau(p, x, cfg)
    if name == "layer_norm":
        return {"output": layer_norm(x["input"], p["weight"], p["bias"], cfg["eps"])}
    if name == "cross_entropy":
        lg, t, t0 = x["logits"], x["targets"], x["targets_ignore0"]
        return {"ce_mean": cross_entropy(lg, t, -100, 0.1, "mean"),
                "ce_sum": cross_entropy(lg, t, -100, 0.1, "sum"),
                "ce_none": cross_entropy(lg, t, -100, 0.1, "none"),
                "ce_mean_ignore0": cross_entropy(lg, t0, 0, 0.1, "mean"),
                "ce_mean_no_smoothing": cross_entropy(lg, t, -100, 0.0, "mean")}
    if name == "kl_div":
        t = x["target"]
        return {"kl_div": (t * (t.log() - log_softmax(x["x"], -1))).sum() / t.shape[0]}
    if name == "mse_loss":
        sq = (x["input"] - x["target"]) ** 2
        return {"mse_mean": sq.mean(), "mse_sum": sq.sum()}
    if name == "softmax":
        v = x["x"]
        return {"softmax_last": softmax(v, -1), "softmax_dim1": softmax(v, 1),
                "log_softmax_last": log_softmax(v, -1), "log_softmax_dim1": log_softmax(v, 1)}
    if name == "gelu":
        return {"gelu_exact": gelu_exact(x["x"]), "gelu_tanh": gelu_tanh(x["x"])}
    raise KeyError(f"no reference for case {name}")


def _close(a, b):
    return a.shape == b.shape and torch.allclose(a.double(), b.double(), rtol=RTOL, atol=ATOL)


def verify(name, tensors, meta):
    """Compares every out.* and grad.* tensor of a loaded file with the float64 reference; returns a
    list of problems, and flags any key the comparison did not reach."""
    cfg = json.loads(meta["config"])
    unchecked = set(tensors)
    leaves = {}
    for key, value in tensors.items():
        prefix, _, rest = key.partition(".")
        if prefix in ("in", "param"):
            unchecked.discard(key)
            if value.is_floating_point():
                value = value.double().requires_grad_(True)
            leaves[key] = value
    x = {k[3:]: v for k, v in leaves.items() if k.startswith("in.")}
    p = {k[6:]: v for k, v in leaves.items() if k.startswith("param.")}
    outs = reference_outputs(name, x, p, cfg)
    problems = []

    def compare(key, value):
        unchecked.discard(key)
        if key not in tensors:
            problems.append(f"{key}: missing from the file")
        elif not _close(tensors[key], value.detach()):
            err = (tensors[key].double() - value.detach()).abs().max().item()
            problems.append(f"{key}: differs from the float64 reference (max abs err {err:.3g})")

    differentiable = [(k, v) for k, v in leaves.items() if v.is_floating_point()]

    def compare_grads(loss, suffix):
        grads = torch.autograd.grad(loss, [v for _, v in differentiable], retain_graph=True,
                                    allow_unused=True)
        for (key, leaf), grad in zip(differentiable, grads):
            prefix, _, rest = key.partition(".")
            grad_key = ("grad.input." + rest if prefix == "in" else "grad." + rest) + suffix
            if grad is None:
                if grad_key in tensors:
                    problems.append(f"{grad_key}: stored, but the reference does not depend on it")
                continue
            compare(grad_key, grad)

    for k, v in outs.items():
        compare("out." + k, v)
        unchecked.discard("grad_seed." + k)
    seeds = {k: tensors["grad_seed." + k].double() for k in outs}
    if meta["grad_mode"] == "joint":
        compare_grads(sum((outs[k] * seeds[k]).sum() for k in outs), "")
    else:
        for k in outs:
            compare_grads((outs[k] * seeds[k]).sum(), "." + k)
    problems += [f"{key}: not checked by the reference" for key in sorted(unchecked)]
    return problems
