#!/usr/bin/python3
"""PyTorch twin of `tern train` on configs/mnist_mlp.yaml and configs/mnist_lenet5.yaml.

The same training, step for step, in PyTorch on the CPU, so that
experiments/bench_qat.sh can put tern's training speed and accuracy beside it:

  data       full MNIST from datasets/data/mnist (idx files, raw or .gz, read
             with numpy), x = (pixel / 255 - 0.1307) / 0.3081, no augmentation;
             a new random order every epoch, the last partial batch kept
             (60000 = 468 x 128 + 96), as tern's loader does
  model      the config's layers, hybrid as in tern: the first conv and the
             classifier fp32, the other linear/conv layers ternary, batchnorm
             (momentum 0.1, eps 1e-5) + ReLU after every hidden layer
  quantizer  twn, t = 0.7, per tensor, closed-form alpha = mean |W| over the
             kept weights, identity STE: the `ternary` function of
             tests/reference/gen_fixtures.py, the definition tern's fixtures are
             checked against (imported, not copied); 8-bit per-sample absmax
             fake-quant of each ternary layer's input with an identity STE
             (`act_quant`, quant.act_bits: 8 as the shipped configs train)
  init       He normal, std sqrt(2 / fan_in), zero biases, batchnorm 1 / 0
  optimizer  Adam (lr 1e-3, betas 0.9 / 0.999, eps 1e-8), cosine schedule
             without warm-up over epochs x batches steps:
             lr(step) = 0.5 lr (1 + cos(pi step / total)), as tern_sched_lr
  batch      128

It prints one line,
    torch model=M epochs=E samples_per_s=S seconds=T test_acc=A peak_rss_mb=R
where S counts the training steps only (zero_grad, forward, loss, backward,
Adam step; batch gathering and the test evaluation excluded), the same span
that tern's metrics.csv times. Run it as the peers are run:

    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 experiments/peers/torch_qat.py --model lenet5 --epochs 1

torch.set_num_threads(2) is set inside (--threads): the machine has 2 cores.
Exit status 3, with a message, when torch is not installed.
"""
import argparse
import gzip
import math
import os
import resource
import sys
import time

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    print("torch_qat: skipped: /usr/bin/python3 cannot import torch (apt-get install python3-torch)", file=sys.stderr)
    sys.exit(3)
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
import gen_fixtures as ref  # noqa: E402  (the quantizer and layer definitions)

# configs/mnist_*.yaml in gen_fixtures' layer vocabulary.
MODELS = {
    "mlp": [
        dict(type="flatten", name="flat"),
        dict(type="linear", name="fc1", out=256, ternary=True, bias=False),
        dict(type="bn", name="bn1", act="relu"),
        dict(type="linear", name="fc2", out=256, ternary=True, bias=False),
        dict(type="bn", name="bn2", act="relu"),
        dict(type="linear", name="fc3", out=10, ternary=False),
    ],
    "lenet5": [
        dict(type="conv", name="conv1", out=32, k=5, stride=1, pad=0, ternary=False, bias=False),
        dict(type="bn", name="bn1", act="relu"),
        dict(type="maxpool", name="pool1", k=2, stride=2, pad=0),
        dict(type="conv", name="conv2", out=64, k=5, stride=1, pad=0, ternary=True, bias=False),
        dict(type="bn", name="bn2", act="relu"),
        dict(type="maxpool", name="pool2", k=2, stride=2, pad=0),
        dict(type="flatten", name="flat"),
        dict(type="linear", name="fc1", out=512, ternary=True, bias=False),
        dict(type="bn", name="bn3", act="relu"),
        dict(type="linear", name="fc2", out=10, ternary=False),
    ],
}
QUANT = dict(ref.BASE, method="twn", act_bits=8)  # t 0.7, per tensor, identity STE, closed-form alpha, W1.58A8


def read_idx(path):
    """An idx file (raw or .gz) as a numpy array of its declared shape."""
    for p in (path, path + ".gz"):
        if os.path.exists(p):
            with (gzip.open(p, "rb") if p.endswith(".gz") else open(p, "rb")) as f:
                data = f.read()
            ndim = data[3]
            shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
            return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)
    raise FileNotFoundError("%s: no such idx file (run datasets/fetch.sh)" % path)


def load(data_dir, split):
    x = read_idx(os.path.join(data_dir, "%s-images-idx3-ubyte" % split)).astype(np.float32)
    y = read_idx(os.path.join(data_dir, "%s-labels-idx1-ubyte" % split)).astype(np.int64)
    x = (x / 255.0 - 0.1307) / 0.3081
    return torch.from_numpy(x).reshape(-1, 1, 28, 28).contiguous(), torch.from_numpy(y)


def init_params(layers, in_shape, gen):
    """tern's names and tern_model_init's scheme (He normal, zero bias, bn 1/0/0/1)."""
    P = {}
    shape = in_shape
    for L in layers:
        t, n = L["type"], L["name"]
        if t in ("linear", "conv"):
            fan_in = int(np.prod(shape)) if t == "linear" else shape[0] * L["k"] * L["k"]
            dims = (L["out"], fan_in) if t == "linear" else (L["out"], shape[0], L["k"], L["k"])
            P[n + ".weight"] = torch.randn(*dims, generator=gen) * math.sqrt(2.0 / fan_in)
            if L.get("bias", True):
                P[n + ".bias"] = torch.zeros(L["out"])
            if t == "linear":
                shape = (L["out"],)
            else:
                o = (shape[1] + 2 * L["pad"] - L["k"]) // L["stride"] + 1
                shape = (L["out"], o, o)
        elif t == "bn":
            C = shape[0]
            P[n + ".weight"], P[n + ".bias"] = torch.ones(C), torch.zeros(C)
            P[n + ".running_mean"], P[n + ".running_var"] = torch.zeros(C), torch.ones(C)
        elif t == "maxpool":
            o = (shape[1] - L["k"]) // L["stride"] + 1
            shape = (shape[0], o, o)
        elif t == "flatten":
            shape = (int(np.prod(shape)),)
    for k, v in P.items():
        if not ref.is_buffer(k):
            v.requires_grad_(True)
    return P


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=sorted(MODELS), default="mlp")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--data", default=os.path.join(ROOT, "datasets", "data", "mnist"))
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    try:
        xtr, ytr = load(a.data, "train")
        xte, yte = load(a.data, "t10k")
    except (OSError, ValueError) as e:
        print("torch_qat: %s" % e, file=sys.stderr)
        return 2
    layers = MODELS[a.model]
    arch = dict(layers=layers)
    P = init_params(layers, (1, 28, 28), gen)
    trainable = [v for k, v in P.items() if not ref.is_buffer(k)]
    opt = torch.optim.Adam(trainable, lr=a.lr)

    n = xtr.shape[0]
    drop_last = n % a.batch == 1  # tern drops a last batch of one sample (batchnorm needs two)
    batches = n // a.batch if drop_last else (n + a.batch - 1) // a.batch
    total = a.epochs * batches
    step, seconds, seen = 0, 0.0, 0
    for _ in range(a.epochs):
        order = torch.randperm(n, generator=gen)
        for b in range(batches):
            idx = order[b * a.batch:(b + 1) * a.batch]
            x, y = xtr[idx], ytr[idx]
            lr = 0.5 * a.lr * (1.0 + math.cos(math.pi * step / total))
            t0 = time.perf_counter()
            for g in opt.param_groups:
                g["lr"] = lr
            opt.zero_grad(set_to_none=False)
            loss = F.cross_entropy(ref.forward(arch, P, x, QUANT, None), y)
            loss.backward()
            opt.step()
            seconds += time.perf_counter() - t0
            seen += x.shape[0]
            step += 1

    correct = 0
    with torch.no_grad():
        for i in range(0, xte.shape[0], a.batch):
            logits = ref.forward(arch, P, xte[i:i + a.batch], QUANT, None, training=False)
            correct += (logits.argmax(1) == yte[i:i + a.batch]).sum().item()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB
    print("torch model=%s epochs=%d samples_per_s=%.1f seconds=%.3f test_acc=%.4f peak_rss_mb=%.1f loss=%.4f"
          % (a.model, a.epochs, seen / seconds, seconds, correct / xte.shape[0], rss_mb, loss.item()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
