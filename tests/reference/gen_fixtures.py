#!/usr/bin/python3
"""gen_fixtures.py - PyTorch reference values for tern's ternary training math.

Run by hand from the repository root with Debian's python3-torch:

    /usr/bin/python3 tests/reference/gen_fixtures.py
    /usr/bin/python3 tests/reference/gen_fixtures.py --float64 /tmp/tern_f64

The first writes tests/reference/fixtures/<arch>_<setting>.txt: for a tiny ternary
MLP and a tiny ternary CNN under each quantizer setting, the inputs, every
parameter, and what one training-mode step computes (logits, loss, every
parameter gradient, the batchnorm running statistics after the step).
tests/test_reference.c rebuilds the same model in tern, loads the
parameters by name, runs the step and compares. CI runs only the C side; it
never needs torch. The second stores the float64 results as the expected
values under /tmp/tern_f64/tests/reference/fixtures instead, so that
TERN_SOURCE_DIR=/tmp/tern_f64 build/tests/test_reference measures tern's own
float32 error against the exact answer; never commit those.

The quantizers below are written from the contract in include/tern/quant.h,
not from tern's C code:
  twn      delta = t mean|W|, T = sign(W) where |W| > delta; closed-form
           scale = mean |W| over the kept weights (a constant of W).
  absmean  gamma = mean|W|, T = clamp(round(W / (gamma + eps)), -1, 1) with
           torch.round (half to even); closed-form scale = gamma.
  ttq      delta = t max|W|; W_q = Wp on T = +1, -Wn on T = -1, 0 else.
  groups   per tensor, or per output channel (index of dim 0 of W).
  STE      dL/dW = dL/dW_q (twn, absmean); Wp g | g | Wn g by T (ttq); the
           clipped STE zeroes it where |W| > clip. Scale gradients come from
           autograd through W_q = alpha T (T held constant), which is
           sum g T for alpha, sum_{T=+1} g for Wp and -sum_{T=-1} g for Wn.
  act 8    per sample: s = 127 / max|x_n|, y = clamp(round(x s), -127, 127) / s
           (a zero row stays 0); identity STE.
The STE is the "value + (W - W.detach()) * factor" trick: the forward value
is exactly the quantized one (adding +0), the backward is factor * g.

Everything that tern computes in float32 is computed here in float32, and the
fixture stores those float32 results. The same step is also computed in
float64 from the same (float32) inputs; each expected tensor is preceded by a
comment with the float32-vs-float64 difference, the noise floor that the C
test's tolerance must sit above.

A fixture is only useful if no discontinuity sits within rounding noise of
its threshold, else tern's float32 and torch's float32 may legitimately take
different branches. The script measures the margin of every decision
(ternary thresholds, the clip bound, 8-bit rounding boundaries, relu kinks,
maxpool winners) and moves to the next seed when one is too small. The seed
used is in the header.

FORMAT (plain text, one item per line; '#' starts a comment line):
    tern-fixture 1
    arch <mlp|cnn>
    setting <name>
    quant method=<twn|absmean|ttq> granularity=<per_tensor|per_channel>
          ste=<identity|clipped> clip=<f> learned_alpha=<0|1> act_bits=<0|8>
          t=<f> eps=<f>                                (one line)
    seed <n>
    tensor <name> <ndim> <d0> ... <d(ndim-1)>
    <prod(dims) numbers, %.9g, whitespace separated, 8 per line>
    ...
    end
Tensor names:
    x                      the input batch (N, ...)
    labels                 class indices (N), written as integers
    param.<p>              every parameter and buffer of the model before the
                           step, by tern's names: <layer>.weight, .bias,
                           .alpha, .alpha_neg, <bn>.running_mean, ...
    logits                 (N, classes), training-mode forward
    loss                   (1) mean cross-entropy
    grad.<p>               dL/d<p> for every trainable parameter
    after.<bn>.running_*   running statistics after the forward
Every ternary layer of a fixture uses the one quant line.
"""
import argparse
import math
import os
import sys

import torch
import torch.nn.functional as F

FORMAT_VERSION = 1
OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")

# Decisions must clear these margins (see min_margins below).
MARGIN_REL = 1e-4   # thresholds, clip, relu, maxpool: relative to the scale of their inputs
MARGIN_ACT = 2e-3   # 8-bit rounding: distance of x*s from a half-integer, in quantization steps
# The C test's tolerance floor, as a fraction of a tensor's largest |value|;
# the f32-vs-f64 differences are reported under the same rule.
FLOOR = 0.5

# The quantizer settings, each its own fixture. t is twn's 0.7 or ttq's 0.05;
# absmean ignores it (0.7 is tern's default there).
BASE = dict(t=0.7, granularity="per_tensor", ste="identity", clip=1.0, learned_alpha=0, act_bits=0, eps=1e-5)
SETTINGS = {
    "twn_pt": dict(BASE, method="twn"),
    "twn_pc_learned": dict(BASE, method="twn", granularity="per_channel", learned_alpha=1),
    "absmean_pt": dict(BASE, method="absmean"),
    "absmean_pc_learned_act8": dict(BASE, method="absmean", granularity="per_channel", learned_alpha=1, act_bits=8),
    "ttq_pc": dict(BASE, method="ttq", t=0.05, granularity="per_channel", learned_alpha=1),
    "twn_clip": dict(BASE, method="twn", ste="clipped", clip=0.3),
}

# The architectures, as the C test spells them with tern_layer_spec.
MLP = dict(
    in_shape=(12,), batch=5, classes=4,
    layers=[
        dict(type="linear", name="fc1", out=9, ternary=True, act="relu"),
        dict(type="linear", name="fc2", out=7, ternary=True, act="relu"),
        dict(type="linear", name="fc3", out=4, ternary=False),  # the classifier stays fp32
    ])
CNN = dict(
    in_shape=(2, 8, 8), batch=3, classes=4,
    layers=[
        # No bias before batchnorm: its gradient is exactly 0 (the batch mean
        # absorbs it), so it would only compare rounding noise.
        dict(type="conv", name="conv1", out=4, k=3, stride=1, pad=1, ternary=False, bias=False),  # (4,8,8)
        dict(type="bn", name="bn1", act="relu"),
        dict(type="conv", name="conv2", out=6, k=3, stride=1, pad=1, ternary=True, act="relu"),  # (6,8,8)
        dict(type="maxpool", name="pool1", k=2, stride=2, pad=0),                     # (6,4,4)
        # No relu here: with 12 outputs per channel a dead channel would leave
        # a fifth of the fixture's weights with zero gradient to compare.
        dict(type="conv", name="conv3", out=5, k=3, stride=2, pad=1, ternary=True),    # (5,2,2)
        dict(type="avgpool", name="pool2", k=3, stride=1, pad=1),                     # (5,2,2), zero pad counted
        dict(type="flatten", name="flat"),                                            # (20)
        dict(type="linear", name="fc", out=4, ternary=True),
    ])
ARCHS = {"mlp": MLP, "cnn": CNN}


# ---- quantizers, from the contract in include/tern/quant.h -------------------

def note(margins, key, measure):
    """Keep the smallest margin of a decision kind. margins None (the training
    peer in experiments/peers, which imports this module) measures nothing."""
    if margins is not None:
        margins[key] = min(margins.get(key, 1.0), measure())


def ternary(W, q, alpha, alpha_neg, margins):
    """W_q = scale * T with the STE of quant.h. W (O, ...); alpha, alpha_neg (G) or None."""
    G = W.shape[0] if q["granularity"] == "per_channel" else 1
    Wg = W.reshape(G, -1)
    w = Wg.detach()
    a = w.abs()
    if q["method"] == "absmean":
        gamma = a.mean(dim=1, keepdim=True)
        x = w / (gamma + q["eps"])
        T = torch.clamp(torch.round(x), -1, 1)
        # The rounding boundary is |x| = 1/2.
        note(margins, "ternary", lambda: ((x.abs() - 0.5).abs() / 0.5).min().item())
    else:
        if q["method"] == "twn":
            delta = q["t"] * a.mean(dim=1, keepdim=True)
        else:
            delta = q["t"] * a.amax(dim=1, keepdim=True)
        T = (w > delta).to(w.dtype) - (w < -delta).to(w.dtype)
        note(margins, "ternary", lambda: ((a - delta).abs() / delta).min().item())

    if q["method"] == "ttq":
        pos, neg = (T > 0).to(w.dtype), (T < 0).to(w.dtype)
        sp, sn = alpha.view(G, 1), alpha_neg.view(G, 1)
        value = sp * pos - sn * neg
        factor = sp.detach() * pos + (1 - pos - neg) + sn.detach() * neg
    else:
        if alpha is not None:
            scale = alpha.view(G, 1)
        elif q["method"] == "absmean":
            scale = gamma
        else:
            kept = T.abs()
            n_kept = kept.sum(dim=1, keepdim=True)
            scale = torch.where(n_kept > 0, (a * kept).sum(dim=1, keepdim=True) / n_kept.clamp(min=1),
                                torch.zeros_like(n_kept))
        value = scale * T
        factor = torch.ones_like(w)
    if q["ste"] == "clipped":
        factor = factor * (a <= q["clip"]).to(w.dtype)
        note(margins, "clip", lambda: ((a - q["clip"]).abs() / q["clip"]).min().item())
    Wq = value + (Wg - w) * factor
    return Wq.reshape(W.shape)


def act_quant(x, bits, margins):
    """Per-sample absmax fake-quant to `bits` with an identity STE."""
    if bits == 0:
        return x
    Q = 2 ** (bits - 1) - 1
    N = x.shape[0]
    xr = x.detach().reshape(N, -1)
    m = xr.abs().amax(dim=1, keepdim=True)
    s = Q / m
    v = xr * s
    qv = torch.clamp(torch.round(v), -Q, Q)
    y = torch.where(m > 0, qv / s, torch.zeros_like(xr))
    note(margins, "act", lambda: (v - torch.floor(v) - 0.5).abs().min().item())
    return y.reshape(x.shape) + (x - x.detach())


# ---- the model, in the order tern's builder runs it --------------------------

def relu(h, margins):
    if margins is None:
        return F.relu(h)
    z = h.detach()
    scale = z.abs().max().item()
    margins["relu"] = min(margins.get("relu", 1.0), (z.abs().min().item() / scale) if scale > 0 else 1.0)
    return F.relu(h)


def maxpool(h, k, stride, margins):
    if margins is None:
        return F.max_pool2d(h, k, stride)
    # Windows whose winner is positive must have a clear winner; a window of
    # zeros (after relu) can tie, harmlessly: relu's backward blocks them.
    win = F.unfold(h.detach().reshape(-1, 1, *h.shape[2:]), k, stride=stride)  # (N*C, k*k, L)
    top = win.topk(2, dim=1).values
    gap = (top[:, 0] - top[:, 1])[top[:, 0] > 0]
    scale = h.detach().abs().max().item()
    if gap.numel():
        margins["maxpool"] = min(margins.get("maxpool", 1.0), gap.min().item() / scale)
    return F.max_pool2d(h, k, stride)


def forward(arch, P, x, q, margins, training=True):
    """Training-mode forward (training=False: batchnorm uses its running
    statistics); P maps tern parameter names to leaf tensors."""
    h = x
    for L in arch["layers"]:
        t, n = L["type"], L["name"]
        if t in ("linear", "conv"):
            w = P[n + ".weight"]
            if L["ternary"]:
                h = act_quant(h, q["act_bits"], margins)
                w = ternary(w, q, P.get(n + ".alpha"), P.get(n + ".alpha_neg"), margins)
            if t == "linear":
                h = F.linear(h, w, P.get(n + ".bias"))
            else:
                h = F.conv2d(h, w, P.get(n + ".bias"), stride=L["stride"], padding=L["pad"])
        elif t == "bn":
            # Updates the running buffers in place: PyTorch's convention,
            # unbiased variance for the running estimate.
            h = F.batch_norm(h, P[n + ".running_mean"], P[n + ".running_var"], P[n + ".weight"],
                             P[n + ".bias"], training=training, momentum=0.1, eps=1e-5)
        elif t == "maxpool":
            h = maxpool(h, L["k"], L["stride"], margins)
        elif t == "avgpool":
            h = F.avg_pool2d(h, L["k"], L["stride"], L["pad"], count_include_pad=True)
        elif t == "flatten":
            h = h.reshape(h.shape[0], -1)
        else:
            raise ValueError(t)
        if L.get("act") == "relu":
            h = relu(h, margins)
    return h


# ---- parameters ----------------------------------------------------------------

def closed_form_scales(w, q):
    """tern_quant_alpha_init's contract: the closed-form scales of w (float64 math)."""
    G = w.shape[0] if q["granularity"] == "per_channel" else 1
    a = w.double().reshape(G, -1)
    out_p, out_n = [], []
    for g in range(G):
        r = a[g]
        if q["method"] == "absmean":
            out_p.append(r.abs().mean().item())
            continue
        delta = q["t"] * (r.abs().mean() if q["method"] == "twn" else r.abs().max())
        kept = r.abs() > delta
        if q["method"] == "twn":
            out_p.append(r.abs()[kept].mean().item() if kept.any() else 0.0)
        else:
            P, N = r[r > delta], -r[r < -delta]
            wp = P.mean().item() if P.numel() else 0.0
            wn = N.mean().item() if N.numel() else 0.0
            out_p.append(wp if P.numel() else wn)
            out_n.append(wn if N.numel() else wp)
    return out_p, out_n


def make_params(arch, q, gen):
    """tern's layout and names; values drawn here. Returns an ordered dict name -> float32 tensor."""
    P = {}
    shape = arch["in_shape"]

    def uni(lo, hi, *s):
        return lo + (hi - lo) * torch.rand(*s, generator=gen)

    for L in arch["layers"]:
        t, n = L["type"], L["name"]
        if t == "linear":
            w = torch.randn(L["out"], shape[0], generator=gen) * math.sqrt(2.0 / shape[0])
            shape = (L["out"],)
        elif t == "conv":
            C, H, W = shape
            fan_in = C * L["k"] * L["k"]
            w = torch.randn(L["out"], C, L["k"], L["k"], generator=gen) * math.sqrt(2.0 / fan_in)
            oh = (H + 2 * L["pad"] - L["k"]) // L["stride"] + 1
            ow = (W + 2 * L["pad"] - L["k"]) // L["stride"] + 1
            shape = (L["out"], oh, ow)
        if t in ("linear", "conv"):
            P[n + ".weight"] = w
            if L.get("bias", True):
                P[n + ".bias"] = uni(-0.1, 0.1, L["out"])
            if L["ternary"] and q["learned_alpha"]:
                # Closed-form start as tern's builder, then moved by a random
                # factor as if trained: a learned scale that equalled the
                # closed form could hide a C side that ignores it.
                sp, sn = closed_form_scales(w, q)
                G = len(sp)
                P[n + ".alpha"] = torch.tensor(sp, dtype=torch.float32) * uni(0.8, 1.25, G)
                if q["method"] == "ttq":
                    P[n + ".alpha_neg"] = torch.tensor(sn, dtype=torch.float32) * uni(0.8, 1.25, G)
        elif t == "bn":
            C = shape[0]
            P[n + ".weight"] = uni(0.5, 1.5, C)
            P[n + ".bias"] = uni(-0.2, 0.2, C)
            P[n + ".running_mean"] = 0.1 * torch.randn(C, generator=gen)
            P[n + ".running_var"] = uni(0.5, 2.0, C)
        elif t == "maxpool" or t == "avgpool":
            C, H, W = shape
            shape = (C, (H + 2 * L["pad"] - L["k"]) // L["stride"] + 1, (W + 2 * L["pad"] - L["k"]) // L["stride"] + 1)
        elif t == "flatten":
            shape = (int(torch.tensor(shape).prod()),)
    return P


def is_buffer(name):
    return name.endswith(".running_mean") or name.endswith(".running_var")


def run_step(arch, P0, x0, labels, q, dtype):
    """One training-mode step in `dtype`: logits, loss, grads, running stats, decision margins."""
    P = {}
    for k, v in P0.items():
        P[k] = v.to(dtype).clone()
        if not is_buffer(k):
            P[k].requires_grad_(True)
    x = x0.to(dtype)
    margins = {}
    logits = forward(arch, P, x, q, margins)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    out = {"logits": logits.detach(), "loss": loss.detach().reshape(1)}
    for k, v in P.items():
        if is_buffer(k):
            out["after." + k] = v.detach()
        else:
            out["grad." + k] = v.grad.detach()
    return out, margins


def min_margins_ok(margins):
    need = {"ternary": MARGIN_REL, "clip": MARGIN_REL, "relu": MARGIN_REL, "maxpool": MARGIN_REL,
            "act": MARGIN_ACT}
    return all(v > need[k] for k, v in margins.items()), need


# ---- writing ---------------------------------------------------------------

def fmt(v, integral=False):
    return "%d" % int(v) if integral else "%.9g" % v


def write_tensor(f, name, t, integral=False):
    t = t.detach()
    f.write("tensor %s %d %s\n" % (name, t.dim(), " ".join(str(d) for d in t.shape)))
    vals = [fmt(v, integral) for v in t.reshape(-1).tolist()]
    for i in range(0, len(vals), 8):
        f.write(" ".join(vals[i:i + 8]) + "\n")


def noise_comment(a32, a64):
    """How far the float32 result is from the float64 one: elementwise
    relative, and relative to max(|ref|, FLOOR max|ref|), the C test's rule."""
    d = (a32.double() - a64).abs()
    ref = a64.abs()
    big = ref.max().item()
    rel = (d / ref.clamp(min=1e-30)).max().item()
    rel_floor = (d / ref.clamp(min=FLOOR * big)).max().item() if big > 0 else 0.0
    return ("# f32 vs f64: max|d| %.3g, max|ref| %.3g, max |d|/|ref| %.3g, max |d|/max(|ref|, %g max|ref|) %.3g"
            % (d.max().item(), big, rel, FLOOR, rel_floor)), rel, rel_floor


def generate(arch_name, setting_name, first_seed, out_dir, store64):
    arch, q = ARCHS[arch_name], SETTINGS[setting_name]
    for seed in range(first_seed, first_seed + 200):
        gen = torch.Generator().manual_seed(seed)
        P0 = make_params(arch, q, gen)
        x = torch.randn(arch["batch"], *arch["in_shape"], generator=gen)
        labels = torch.randint(0, arch["classes"], (arch["batch"],), generator=gen)
        r32, m32 = run_step(arch, P0, x, labels, q, torch.float32)
        r64, m64 = run_step(arch, P0, x, labels, q, torch.float64)
        ok, need = min_margins_ok(m32)
        if ok:
            break
    else:
        raise RuntimeError("%s_%s: no seed with clear decision margins" % (arch_name, setting_name))

    path = os.path.join(out_dir, "%s_%s.txt" % (arch_name, setting_name))
    worst = (0.0, 0.0)
    with open(path, "w") as f:
        f.write("# tern reference fixture: one training-mode step of a tiny ternary %s.\n" % arch_name.upper())
        f.write("# Written by tests/reference/gen_fixtures.py with torch %s; do not edit by hand.\n"
                % torch.__version__)
        f.write("# Decision margins (need ternary/clip/relu/maxpool > %g relative, act > %g steps): %s\n"
                % (MARGIN_REL, MARGIN_ACT, ", ".join("%s %.3g" % kv for kv in sorted(m32.items()))))
        f.write("tern-fixture %d\n" % FORMAT_VERSION)
        f.write("arch %s\n" % arch_name)
        f.write("setting %s\n" % setting_name)
        f.write("quant method=%s granularity=%s ste=%s clip=%.9g learned_alpha=%d act_bits=%d t=%.9g eps=%.9g\n"
                % (q["method"], q["granularity"], q["ste"], q["clip"], q["learned_alpha"], q["act_bits"], q["t"],
                   q["eps"]))
        f.write("seed %d\n" % seed)
        write_tensor(f, "x", x)
        write_tensor(f, "labels", labels, integral=True)
        for k, v in P0.items():
            write_tensor(f, "param." + k, v)
        for k in r32:
            c, rel, rel_floor = noise_comment(r32[k], r64[k])
            worst = (max(worst[0], rel), max(worst[1], rel_floor))
            f.write(c + "\n")
            write_tensor(f, k, r64[k] if store64 else r32[k])
        f.write("end\n")
    print("%-40s seed %d, %6d bytes, worst f32-vs-f64 rel %.2g (with the floor: %.2g); margins %s"
          % (os.path.relpath(path), seed, os.path.getsize(path), worst[0], worst[1],
             ", ".join("%s %.2g" % kv for kv in sorted(m32.items()))))
    return worst


# ---- the training loss and the one-cycle schedule ------------------------------
#
# loss_<case>.txt: logits z (N,K), labels, teacher logits t, and for each case
# the loss and dloss/dz of
#   (1 - w) F.cross_entropy(z, y, label_smoothing=eps)
#     + w T^2 F.kl_div(F.log_softmax(z/T), F.softmax(t/T), reduction='batchmean')
# (w = 0: no teacher), as tern_xent_loss computes it (tests/test_ops_loss.c).
# one_cycle_<case>.txt: the lr of every step of torch.optim.lr_scheduler.OneCycleLR
# (anneal_strategy='cos', cycle_momentum=False), read before each optimizer
# step, as tern_sched_lr(step) (tests/test_optim.c). Same tensor format, plus
# "param NAME VALUE" lines.

LOSS_CASES = [  # name, eps, T, w
    ("smooth", 0.1, 1.0, 0.0),
    ("kd", 0.0, 4.0, 0.5),
    ("smooth_kd", 0.2, 2.0, 0.7),
]

ONE_CYCLE_CASES = [  # name, max_lr, total_steps, pct_start, div_factor, final_div_factor
    ("default", 1e-3, 100, 0.3, 25.0, 1e4),
    ("odd", 0.05, 37, 0.25, 10.0, 100.0),
]


def generate_losses(out_dir):
    gen = torch.Generator().manual_seed(7)
    N, K = 6, 5
    z0 = torch.randn(N, K, generator=gen) * 3
    t = torch.randn(N, K, generator=gen) * 3
    y = torch.randint(0, K, (N,), generator=gen)
    for name, eps, T, w in LOSS_CASES:
        z = z0.clone().requires_grad_(True)
        loss = (1 - w) * F.cross_entropy(z, y, label_smoothing=eps)
        if w > 0:
            loss = loss + w * T * T * F.kl_div(F.log_softmax(z / T, dim=1), F.softmax(t / T, dim=1),
                                               reduction="batchmean")
        loss.backward()
        path = os.path.join(out_dir, "loss_%s.txt" % name)
        with open(path, "w") as f:
            f.write("# tern_xent_loss reference: written by tests/reference/gen_fixtures.py; do not edit by hand.\n")
            f.write("param label_smoothing %.9g\nparam temperature %.9g\nparam weight %.9g\n" % (eps, T, w))
            write_tensor(f, "logits", z0)
            write_tensor(f, "labels", y, integral=True)
            write_tensor(f, "teacher", t)
            write_tensor(f, "loss", loss.reshape(1))
            write_tensor(f, "grad", z.grad)
        print("%-40s loss %.6g" % (os.path.relpath(path), loss.item()))


def generate_one_cycle(out_dir):
    for name, max_lr, total, pct, div, final in ONE_CYCLE_CASES:
        w = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([w], lr=max_lr)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lr, total_steps=total, pct_start=pct,
                                                    div_factor=div, final_div_factor=final, anneal_strategy="cos",
                                                    cycle_momentum=False)
        lrs = []
        for _ in range(total):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        path = os.path.join(out_dir, "one_cycle_%s.txt" % name)
        with open(path, "w") as f:
            f.write("# OneCycleLR reference: written by tests/reference/gen_fixtures.py; do not edit by hand.\n")
            f.write("param max_lr %.9g\nparam total_steps %d\nparam pct_start %.9g\nparam div_factor %.9g\n"
                    "param final_div_factor %.9g\n" % (max_lr, total, pct, div, final))
            f.write("tensor lr 1 %d\n" % total)
            for i in range(0, total, 4):
                f.write(" ".join("%.17g" % v for v in lrs[i:i + 4]) + "\n")
        print("%-40s %d steps" % (os.path.relpath(path), total))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--float64", metavar="ROOT",
                    help="store the float64 results as the expected values, under ROOT/tests/reference/fixtures "
                         "(run the C test with TERN_SOURCE_DIR=ROOT to measure tern's own float32 error; "
                         "never commit these)")
    ap.add_argument("--only-loss", action="store_true",
                    help="write only the loss and one-cycle fixtures (fast; the model fixtures stay as they are)")
    args = ap.parse_args()
    out_dir = os.path.join(args.float64, "tests", "reference", "fixtures") if args.float64 else OUT_DIR
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    os.makedirs(out_dir, exist_ok=True)
    generate_losses(out_dir)
    generate_one_cycle(out_dir)
    if args.only_loss:
        return 0
    worst = (0.0, 0.0)
    for i, arch in enumerate(ARCHS):
        for j, setting in enumerate(SETTINGS):
            w = generate(arch, setting, 1000 * (i + 1) + 10 * j, out_dir, args.float64 is not None)
            worst = (max(worst[0], w[0]), max(worst[1], w[1]))
    print("all fixtures: worst f32-vs-f64 relative difference %.3g elementwise, %.3g with the floor" % worst)
    return 0


if __name__ == "__main__":
    sys.exit(main())
