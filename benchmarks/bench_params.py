"""Inference speed of the params estimators: kernel emulator vs per-pixel SVR reference.

Both models are trained on the shipped model's MILES library (247 stars of 6000–16000 K, 1192
pixels of the default grid; `bhbfinder.params.training.DEFAULT_TRAINING` with 2 realisations per
star, which does not change the speed) and invert the same LAMOST-like S/N 50 spectra. The
emulator inverts a batch of ``--n-emulator`` spectra at once (repeats of the library
observations); the SVR reference (SLAM's recipe: one `sklearn.svm.SVR` per pixel,
``least_squares`` per spectrum) inverts ``--n-svr`` of them one by one. The shipped model file
itself (``bhbfinder/data/slam_hot_default.asdf``, calibrated errors) is timed on the same batch,
and so is the label-grid posterior the params stage adds (``p_bhb_region``, alone and with the
second-solution mass of ``params_flags`` bit 16, which the stage computes in the same pass),
and the stage's work where every spectrum has a photometric Teff (``teff_phot``: the
posterior with the prior first, which chooses each fit's start, then the fit with the
prior). Printed: spectra per second of each and the ratio.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_params.py [--miles DIR] [--n-svr 4]
"""

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from bhbfinder.params.emulator import SlamEmulator
from bhbfinder.params.region import LabelGridPosterior
from bhbfinder.params.svr_reference import SvrSlam
from bhbfinder.params.training import (
    DEFAULT_MODEL_HYPERPARAMS,
    DEFAULT_TRAINING,
    miles_library,
    miles_observations,
)
from bhbfinder.stages.params import default_model_path
from bhbfinder.verdict.features import in_bhb_region

HERE = Path(__file__).resolve().parent


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--miles", default=str(HERE.parent.parent / "shared" / "data" / "miles"))
    parser.add_argument("--n-emulator", type=int, default=2000)
    parser.add_argument("--n-svr", type=int, default=4)
    args = parser.parse_args(argv)

    config = replace(DEFAULT_TRAINING, n_realisations=2)
    library = miles_library(args.miles, config)
    flux, ivar, labels, _ = miles_observations(args.miles, 50.0, seed=3, config=config)
    npix = flux.shape[1]

    t = time.perf_counter()
    emulator = SlamEmulator(**DEFAULT_MODEL_HYPERPARAMS).fit(library.flux, library.ivar,
                                                             library.labels)
    fit_emu = time.perf_counter() - t
    t = time.perf_counter()
    svr = SvrSlam(C=1.0, epsilon=0.05).fit(library.flux, library.ivar, library.labels)
    fit_svr = time.perf_counter() - t

    reps = int(np.ceil(args.n_emulator / len(flux)))
    big_f = np.tile(flux, (reps, 1))[: args.n_emulator]
    big_i = np.tile(ivar, (reps, 1))[: args.n_emulator]
    emulator.predict(big_f[:10], big_i[:10])  # warm-up
    t = time.perf_counter()
    emulator.predict(big_f, big_i)
    rate_emu = args.n_emulator / (time.perf_counter() - t)
    shipped = SlamEmulator.load(default_model_path())
    shipped.predict(big_f[:10], big_i[:10])
    t = time.perf_counter()
    labels, _, _ = shipped.predict(big_f, big_i)
    rate_shipped = args.n_emulator / (time.perf_counter() - t)
    # the label-grid posterior behind p_bhb_region, which the params stage adds
    posterior = LabelGridPosterior(shipped)
    t = time.perf_counter()
    _ = posterior.depths  # the grid's spectra, computed once per stage
    grid_setup = time.perf_counter() - t
    t = time.perf_counter()
    posterior.region_probability(big_f, big_i, in_bhb_region)
    rate_region_only = args.n_emulator / (time.perf_counter() - t)
    # what the stage computes: the region's mass and the second-solution mass in one pass
    t = time.perf_counter()
    posterior.posterior_summary(big_f, big_i, in_bhb_region, teff=labels[:, 0])
    rate_region = args.n_emulator / (time.perf_counter() - t)

    # the stage given a photometric Teff for every spectrum (teff_phot, 250 K): one pass of
    # the posterior with the prior gives each fit's start, the region's mass and the Teff
    # marginal, the fit weighs the prior, and the far mass comes from the marginal (the
    # prior's means: the fitted Teff, offset at random)
    fitted = labels[:, 0]
    prior = (fitted + 250.0 * np.random.default_rng(0).standard_normal(len(fitted)),
             np.full(len(fitted), 250.0))
    t = time.perf_counter()
    _, _, start, marginal = posterior.posterior_summary(
        big_f, big_i, in_bhb_region, teff_prior=prior, return_best=True,
        return_teff_marginal=True)
    found, _, _ = shipped.predict(big_f, big_i, start_labels=start, teff_prior=prior)
    posterior.far_mass(marginal, found[:, 0])
    rate_phot = args.n_emulator / (time.perf_counter() - t)

    t = time.perf_counter()
    svr.predict(flux[: args.n_svr], ivar[: args.n_svr])
    rate_svr = args.n_svr / (time.perf_counter() - t)

    print(f"{len(library.labels)} training stars, {npix} pixels")
    print(f"fit:       emulator {fit_emu:6.1f} s (incl. hyper-parameter search) | "
          f"SVR {fit_svr:6.1f} s ({npix} regressors)")
    print(f"inference: emulator {rate_emu:8.1f} spectra/s ({args.n_emulator} in one batch) | "
          f"SVR {rate_svr:6.3f} spectra/s ({args.n_svr} spectra)")
    print(f"shipped model file ({len(shipped.train_labels_)} stars, calibrated errors): "
          f"{rate_shipped:8.1f} spectra/s")
    print(f"p_bhb_region ({len(posterior.labels)} grid labels): {rate_region_only:8.1f} "
          f"spectra/s, with the second-solution mass {rate_region:8.1f} spectra/s (grid "
          f"spectra computed once in {grid_setup:.1f} s); params stage with both: "
          f"{1 / (1 / rate_shipped + 1 / rate_region):8.1f} spectra/s")
    print(f"params stage given a photometric Teff for every spectrum (posterior with the "
          f"prior, joint fit): {rate_phot:8.1f} spectra/s")
    print(f"speed-up:  {rate_emu / rate_svr:,.0f}x")


if __name__ == "__main__":
    main()
