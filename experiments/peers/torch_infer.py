#!/usr/bin/python3
"""PyTorch inference peer of tern's runtime: the networks of tern's configs in
PyTorch fp32 eager, TorchScript (traced, frozen) and int8 static quantization
on the oneDNN engine, timed per sample at batch 1 and 64 on one thread.

  models   read from configs/*.yaml, layer by layer, as tern builds them:
             mlp          configs/mnist_mlp.yaml        784-256-256-10
             lenet5       configs/mnist_lenet5.yaml     32C5-MP2-64C5-MP2-512FC-10
             fashion_cnn  configs/fashion_cnn.yaml      4 conv3 + 2 pools + 256FC
             cifar_vgg    configs/cifar10_vgg_small.yaml 6 conv3 + 3 pools + 256FC
           conv2d / linear (bias as the config says), batchnorm (+ its act),
           maxpool, flatten, dropout (identity in eval); random weights (the
           time does not depend on them), batchnorm at random statistics
  fp32     the module in eval mode under torch.inference_mode()
  ts       torch.jit.freeze(torch.jit.trace(model)) of the same module
  int8     torch.ao.quantization static post-training quantization, engine
           'onednn' (Debian's torch lacks FBGEMM): conv+bn+relu and
           linear+bn(+relu) fused, per-channel weights, calibrated on 256
           random inputs (N(0, 1), the normalised pixels' scale); the first
           conv and the classifier are int8 too, unlike tern's hybrid models
  check    before timing, TorchScript must match eager within 1e-4 and int8
           be within 10% of fp32 (relative L2 of the logits; about 1%)
  timing   for every (model, batch) the three variants are interleaved:
           each round runs them in a new random order, each warmed for at
           least 20 ms right before a timed block of calls calibrated to
           about 50 ms; per variant the median and min over rounds of the
           block time per sample

One line per (model, batch, variant), for experiments/infer_peers.sh:

    torch model=lenet5 batch=1 variant=int8 median_us=45.1 min_us=43.9

Run it as the driver does (one thread: OpenBLAS's and torch's):

    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 experiments/peers/torch_infer.py --rounds 7

Exit status 3, with a message, when torch is not installed.
"""
import argparse
import copy
import os
import random
import sys
import time
from collections import OrderedDict

try:
    import torch
    import torch.nn as nn
    import torch.ao.quantization as tq
except ImportError:
    print("torch_infer: skipped: /usr/bin/python3 cannot import torch (apt-get install python3-torch)",
          file=sys.stderr)
    sys.exit(3)
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIGS = OrderedDict([("mlp", "mnist_mlp.yaml"), ("lenet5", "mnist_lenet5.yaml"),
                       ("fashion_cnn", "fashion_cnn.yaml"), ("cifar_vgg", "cifar10_vgg_small.yaml")])


def build(config):
    """The config's network as an nn.Sequential of named modules, its input
    shape (C, H, W) and the name groups to fuse for int8."""
    with open(config) as f:
        cfg = yaml.safe_load(f)
    c = len(cfg["dataset"].get("mean", [0]))
    hw = 32 if c == 3 else 28
    shape, mods, fuse, last = [c, hw, hw], OrderedDict(), [], None
    for i, L in enumerate(cfg["model"]["layers"]):
        t, name = L["type"], L.get("name", "%s%d" % (L["type"], i))
        if t == "conv2d":
            k, s, p = L["kernel"], L.get("stride", 1), L.get("pad", 0)
            mods[name] = nn.Conv2d(shape[0], L["out"], k, s, p, bias=L.get("bias", True))
            shape = [L["out"], (shape[1] + 2 * p - k) // s + 1, (shape[2] + 2 * p - k) // s + 1]
            last = [name]
        elif t == "linear":
            mods[name] = nn.Linear(shape[0], L["out"], bias=L.get("bias", True))
            shape = [L["out"]]
            last = [name]
        elif t == "batchnorm":
            bn = nn.BatchNorm2d(shape[0]) if len(shape) == 3 else nn.BatchNorm1d(shape[0])
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            mods[name] = bn
            last.append(name)
            if L.get("act") == "relu":
                mods[name + "_relu"] = nn.ReLU()
                last.append(name + "_relu")
            fuse.append(last)
        elif t == "relu":
            mods[name] = nn.ReLU()
        elif t == "maxpool":
            k = L["kernel"]
            s = L.get("stride", k)
            mods[name] = nn.MaxPool2d(k, s, L.get("pad", 0))
            shape = [shape[0], (shape[1] + 2 * L.get("pad", 0) - k) // s + 1,
                     (shape[2] + 2 * L.get("pad", 0) - k) // s + 1]
        elif t == "flatten":
            mods[name] = nn.Flatten()
            shape = [shape[0] * shape[1] * shape[2]] if len(shape) == 3 else shape
        elif t == "dropout":
            mods[name] = nn.Dropout(L.get("p", 0.5))
        else:
            raise SystemExit("torch_infer: %s: layer type %s is not mirrored here" % (config, t))
    if len(shape) != 1:
        raise SystemExit("torch_infer: %s: the network does not end in a vector" % config)
    return nn.Sequential(mods).eval(), [c, hw, hw], fuse


def quantize(model, in_shape, fuse):
    """int8 static quantization of model on the oneDNN engine, calibrated on random inputs."""
    torch.backends.quantized.engine = "onednn"
    q = nn.Sequential(OrderedDict([("quant", tq.QuantStub())] + list(model.named_children()) +
                                  [("dequant", tq.DeQuantStub())]))
    q = copy.deepcopy(q).eval()
    # conv+bn+relu fuse in one pass; linear+bn first folds the bn, then the ReLU joins.
    for g in fuse:
        if isinstance(getattr(q, g[0]), nn.Linear) and len(g) == 3:
            tq.fuse_modules(q, [g[:2]], inplace=True)
            tq.fuse_modules(q, [[g[0], g[2]]], inplace=True)
        else:
            tq.fuse_modules(q, [g], inplace=True)
    q.qconfig = tq.get_default_qconfig("onednn")
    tq.prepare(q, inplace=True)
    with torch.inference_mode():
        for _ in range(4):
            q(torch.randn(64, *in_shape))
    tq.convert(q, inplace=True)
    return q


def block_time(fn, x, calls):
    t0 = time.perf_counter()
    for _ in range(calls):
        fn(x)
    return (time.perf_counter() - t0) / calls


def bench(variants, x, rounds, rng):
    """{name: [seconds per call, per round]}, interleaved, warmed per block."""
    calls = {}
    for name, fn in variants.items():
        fn(x)
        fn(x)
        calls[name] = max(1, int(0.05 / max(block_time(fn, x, 1), 1e-7)))
    out = {name: [] for name in variants}
    for _ in range(rounds):
        order = list(variants)
        rng.shuffle(order)
        for name in order:
            fn, w0 = variants[name], time.perf_counter()
            while time.perf_counter() - w0 < 0.02:
                fn(x)
            out[name].append(block_time(fn, x, calls[name]))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=",".join(CONFIGS), help="comma-separated, of " + ", ".join(CONFIGS))
    ap.add_argument("--batches", default="1,64")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    rng = random.Random(0x7465726E)
    for m in a.models.split(","):
        if m not in CONFIGS:
            raise SystemExit("torch_infer: unknown model '%s' (%s)" % (m, ", ".join(CONFIGS)))
        model, in_shape, fuse = build(os.path.join(ROOT, "configs", CONFIGS[m]))
        qmodel = quantize(model, in_shape, fuse)
        for b in [int(s) for s in a.batches.split(",")]:
            x = torch.randn(b, *in_shape)
            with torch.inference_mode():
                ts = torch.jit.freeze(torch.jit.trace(model, x))
                ref = model(x)
                # The variants compute the same network: say so before timing them.
                if not torch.allclose(ts(x), ref, atol=1e-4, rtol=1e-4):
                    raise SystemExit("torch_infer: %s: TorchScript differs from eager" % m)
                err = ((qmodel(x) - ref).norm() / ref.norm()).item()
                if err > 0.1:  # about 0.01 when the fusion and calibration worked
                    raise SystemExit("torch_infer: %s: int8 is off from fp32 by %.3f (relative)" % (m, err))
                variants = OrderedDict([("fp32", model), ("ts", ts), ("int8", qmodel)])
                times = bench(variants, x, a.rounds, rng)
            for name, v in times.items():
                v = sorted(v)
                med = v[len(v) // 2] if len(v) % 2 else 0.5 * (v[len(v) // 2 - 1] + v[len(v) // 2])
                print("torch model=%s batch=%d variant=%s median_us=%.2f min_us=%.2f" %
                      (m, b, name, 1e6 * med / b, 1e6 * v[0] / b), flush=True)


if __name__ == "__main__":
    main()
