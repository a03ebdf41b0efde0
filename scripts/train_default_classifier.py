"""Train the shipped default classifier ``bhbfinder/data/msfanet_default.asdf``.

Equivalent to ``bhbfinder train bhbfinder/data/msfanet_default.asdf --recipe default --data DIR``
(the recipe is `bhbfinder.classify.recipes.DEFAULT_RECIPE`; see its docstring for the library).

    OMP_NUM_THREADS=1 python scripts/train_default_classifier.py \\
        --data ../shared/data --cache /tmp/bhb-cache [--output PATH] [--threads 1]

The shipped file was trained on one thread (CPU results depend on the thread count bit for
bit) in about 8 minutes after the library (fitting the label-space generator and simulating
and preparing the library take a few minutes more); the log prints every epoch.
``--stage1-from MODEL`` reuses the stage 1 of an earlier model of the same recipe and trains
only stage 2.
"""

import argparse
import time
from pathlib import Path

import torch

from bhbfinder.classify.modelfile import default_model_path
from bhbfinder.classify.recipes import train_from_recipe


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data", help="template material folder")
    ap.add_argument("--cache", default=None, help="cache folder for the prepared library")
    ap.add_argument("--output", default=str(default_model_path()))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default=None)
    ap.add_argument("--stage1-from", default=None,
                    help="model file of this recipe whose stage 1 is reused (stage 2 only)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.time()

    def log(msg):
        print(f"[{time.time() - t0:7.0f} s] {msg}", flush=True)

    stage1 = None
    if args.stage1_from:
        from bhbfinder.classify.modelfile import load_model

        stage1 = load_model(args.stage1_from, device="cpu").stage1
    clf, _ = train_from_recipe(Path(args.output), args.data, "default", cache_dir=args.cache,
                               device=args.device, log=log, stage1_network=stage1)
    test = clf.metrics["test"]
    log(f"test stage-1 confusion matrix (rows true {clf.classes}):")
    for name, row in zip(clf.classes, test["stage1"]["confusion_matrix"]):
        log(f"  {name:6s} {row}")
    log(f"candidates: {test['candidates']}")


if __name__ == "__main__":
    main()
