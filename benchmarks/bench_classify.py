"""Stage-1 inference throughput of MSFA-Net on CPU: the default vs the published configuration.

Prints spectra/s (batch 32, fp32, eval mode, no grad) for each configuration on the same input
length (default: the default model grid, 1192 pixels), plus the published network on the
3909-pixel full LAMOST grid for reference.

    python benchmarks/bench_classify.py [--threads 2] [--npix 1190] [--repeats 5]
"""

import argparse
import time

import numpy as np
import torch

from bhbfinder.classify.msfanet import MSFANet, architecture_config, count_parameters


def throughput(net, npix, batch=32, repeats=5, warmup=2):
    x = torch.from_numpy(np.random.default_rng(0).normal(1, 0.05, (batch, 1, npix)).astype(
        np.float32))
    net.eval()
    with torch.no_grad():
        for _ in range(warmup):
            net(x)
        best = np.inf
        for _ in range(repeats):
            t0 = time.perf_counter()
            net(x)
            best = min(best, time.perf_counter() - t0)
    return batch / best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--npix", type=int, default=1192)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    configs = [
        ("default (band, 16/32/64)", architecture_config("default"), args.npix),
        ("published (64/128/256)", architecture_config("published"), args.npix),
        ("published, band attention", architecture_config("published", attention="band"),
         args.npix),
        ("published on 3909 px", architecture_config("published"), 3909),
    ]
    print(f"torch {torch.__version__}, {args.threads} thread(s), batch 32, fp32")
    rates = {}
    for name, cfg, npix in configs:
        net = MSFANet(cfg)
        rate = throughput(net, npix, repeats=args.repeats)
        rates[name] = rate
        print(f"{name:32s} {npix:5d} px  {count_parameters(net):9d} params  {rate:8.1f} spectra/s")
    ratio = rates[configs[0][0]] / rates[configs[1][0]]
    print(f"default / published throughput at {args.npix} px: {ratio:.2f}x")


if __name__ == "__main__":
    main()
