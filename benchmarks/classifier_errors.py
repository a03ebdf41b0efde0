"""Where a classifier errs on the default recipe's held-out-by-star test split.

Scores a model file (default: the shipped one) on the test (or validation) split of the default
recipe's library, exactly as in training, and prints

* BHB-candidate precision and recall at the model's stored threshold, and the best precision
  at recall >= 90 % (P@R90);
* both by simulated S/N: how many BHB spectra are found, how many others pass;
* the template stars behind the false positives and the false negatives, with their class and
  parameters (each star contributes many noisy copies, so a few stars carry the percentages).

    OMP_NUM_THREADS=2 python benchmarks/classifier_errors.py --data ../shared/data \\
        --cache /tmp/bhb-cache [--model PATH] [--split test|validation]
"""

import argparse
from collections import Counter

import numpy as np
import torch

from bhbfinder.classify import metrics as M
from bhbfinder.classify.modelfile import default_model_path, load_model
from bhbfinder.classify.recipes import DEFAULT_RECIPE, prepared_arrays
from bhbfinder.classify.training import DEFAULT_TRAINING, _label_indices, split_by_star

SNR_BINS = (10, 20, 35, 60, 101)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--cache", default=None)
    ap.add_argument("--model", default=str(default_model_path()))
    ap.add_argument("--split", choices=("test", "validation"), default="test")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--stars", type=int, default=8, help="stars listed per error kind")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    arrays = prepared_arrays(args.data, DEFAULT_RECIPE, args.cache, log=None)
    clf = load_model(args.model, device="cpu")
    classes = list(clf.classes)
    y = _label_indices(arrays["labels"], classes)
    cfg = dict(DEFAULT_TRAINING, **DEFAULT_RECIPE["training"])
    tr, va, te = split_by_star(arrays["star_ids"], y, cfg["split"], cfg["seed"])
    rows = te if args.split == "test" else va
    res = clf.predict_arrays(arrays["flux"][rows], arrays["mask"][rows], arrays["ivar"][rows])
    pos = clf.positive_index
    truth = y[rows] == pos
    cand = res["is_bhb_candidate"]
    score = np.where(res["stage1_index"] == pos, res["p_bhb_stage2"], -np.inf)
    stars = arrays["star_ids"][rows]

    tp, fp, fn = (cand & truth).sum(), (cand & ~truth).sum(), (~cand & truth).sum()
    print(f"{args.model}: {args.split} split, {len(rows)} spectra, {truth.sum()} BHB "
          f"({len(np.unique(stars[truth]))} stars); threshold {clf.threshold:.3f}")
    print(f"candidates: precision {tp / max(tp + fp, 1):.3f} recall {tp / max(truth.sum(), 1):.3f}"
          f" (FP {fp}, FN {fn}); P@R90 {M.precision_at_recall(truth, score, 0.9):.3f}")

    if "snr" in arrays:
        snr = arrays["snr"][rows]
        print("\nby simulated S/N      BHB  found  recall   others  passed  precision")
        for lo, hi in zip(SNR_BINS[:-1], SNR_BINS[1:]):
            s = (snr >= lo) & (snr < hi)
            n_b, found, n_o, passed = (s & truth).sum(), (s & cand & truth).sum(), \
                (s & ~truth).sum(), (s & cand & ~truth).sum()
            print(f"  {lo:3d}-{hi - 1:<3d}          {n_b:5d}  {found:5d}  "
                  f"{found / max(n_b, 1):6.3f}   {n_o:6d}  {passed:6d}  "
                  f"{found / max(found + passed, 1):9.3f}")
    else:
        print("\n(this cache holds no per-row S/N: rebuild it for the S/N breakdown)")

    has_params = all(k in arrays for k in ("teff", "logg", "feh"))
    for name, sel in (("false positives", cand & ~truth), ("false negatives", ~cand & truth)):
        print(f"\n{name}: {sel.sum()} spectra of {len(np.unique(stars[sel]))} stars")
        for star, n in Counter(stars[sel]).most_common(args.stars):
            mine = stars == star
            i = np.nonzero(mine)[0][0]
            label = classes[y[rows][i]]
            params = ""
            if has_params:
                r = rows[i]
                params = (f"  Teff {arrays['teff'][r]:6.0f} K  log g {arrays['logg'][r]:4.2f}"
                          f"  [Fe/H] {arrays['feh'][r]:+5.2f}")
            print(f"  {star:28s} {label:6s} {n:3d} of {mine.sum():3d}{params}")


if __name__ == "__main__":
    main()
