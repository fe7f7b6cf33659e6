#!/usr/bin/env python3
"""PyTorch peer for tern's fp32 training-throughput benchmark.

Trains the same 784-256-256-10 MLP (ReLU) with the same optimizer (Adam,
lr 1e-3) on the same kind of data (random inputs and labels) at the same
batch size, and prints one line: `torch samples_per_s=<median>` over the
timed steps of this run. Run it the way tern's peers are run:

    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 experiments/peers/torch_train_mlp.py

torch.set_num_threads(2) is set inside: the machine has 2 cores.
"""
import argparse
import statistics
import sys
import time

try:
    import torch
except ImportError:
    print("torch skipped: python3-torch is not installed (apt-get install python3-torch)", file=sys.stderr)
    sys.exit(3)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    n_batches = 16  # cycle through a fixed pool of random batches, as tern does
    xs = [torch.randn(a.batch, 784) for _ in range(n_batches)]
    ys = [torch.randint(0, 10, (a.batch,)) for _ in range(n_batches)]

    times = []
    for step in range(a.warmup + a.steps):
        x, y = xs[step % n_batches], ys[step % n_batches]
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=False)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        t1 = time.perf_counter()
        if step >= a.warmup:
            times.append(t1 - t0)
    med = statistics.median(times)
    print(f"torch samples_per_s={a.batch / med:.1f} step_ms={med * 1e3:.3f} loss={loss.item():.4f}")


if __name__ == "__main__":
    main()
