"""How well a LAMOST spectrum's own flux gives its colour: the case against a temperature from
the spectrum's shape (docs/params.rst, *The spectrum's own colour*).

LAMOST spectra are flux-calibrated in relative terms (their shape, not their scale), so a
colour of the flux itself (`colour_teff.pseudo_colour`) could stand in for photometry. This
script measures how far it can be trusted:

1. on the MILES stars (flux-calibrated; needs ``speclite`` for the SDSS filter curves), the
   relation between the pseudo-colour and the synthetic SDSS g − r, a quadratic, and its
   scatter: how well the windows stand for the bands;
2. on every real LAMOST file of the shared data with a g and an r in its header
   (`bhbfinder.io.lamost.header_magnitudes`), the header's g − r minus the g − r the
   spectrum's pseudo-colour gives through that relation: median and robust scatter
   (1.4826 MAD), per release folder. Both colours are reddened alike (LAMOST's calibration
   takes the standard stars' reddening from a map, so a spectrum can be bluer than its star's
   photometry), and the photometry's own error (0.02–0.05 mag) is part of the scatter;
3. with ``--workdir`` (a ``held_out_stars.py`` work folder), the pseudo-colour of each stored
   rendering minus that of its template: the spread the simulator's flux-calibration
   distortion gives (``SimulationConfig.distortion_sigma``).

Run::

    python benchmarks/spectrum_colour.py --data ../shared/data [--workdir heldout]
"""

import argparse
import os
from pathlib import Path

import numpy as np
from astropy.table import Table
from colour_teff import _filters, miles_spectra, pseudo_colour, template_pseudo_colours

from bhbfinder.errors import SpectrumReadError
from bhbfinder.io.lamost import read_lamost
from bhbfinder.spectra.lines import air_to_vacuum


def robust(d):
    """(median, 1.4826 MAD) of the finite values of ``d``."""
    d = np.asarray(d, float)
    d = d[np.isfinite(d)]
    med = np.median(d)
    return float(med), float(1.4826 * np.median(np.abs(d - med)))


def miles_relation(data):
    """Quadratic ``g − r = poly(pseudo-colour)`` over the MILES stars with
    −0.6 < g − r < 1.0, and the robust scatter of g − r about it."""
    bands = _filters()
    pc, gr = [], []
    for _, _, wave_air, flux in miles_spectra(data):
        wave = air_to_vacuum(wave_air)
        if wave[-1] < bands[1].wavelength[-1]:
            continue
        mags = bands.get_ab_magnitudes(np.clip(flux, 0.0, None) * 1e-13, wave)
        gr.append(float(mags["sdss2010-g"][0] - mags["sdss2010-r"][0]))
        pc.append(pseudo_colour(wave, flux))
    pc, gr = np.array(pc), np.array(gr)
    ok = np.isfinite(pc) & np.isfinite(gr) & (gr > -0.6) & (gr < 1.0)
    coef = np.polyfit(pc[ok], gr[ok], 2)
    return coef, int(ok.sum()), robust(gr[ok] - np.polyval(coef, pc[ok]))[1]


def lamost_offsets(data, coef):
    """``(release folder, header g − r minus the spectrum's)`` of every real LAMOST file
    with a g and an r in its header."""
    rows = []
    for path in sorted(Path(data, "lamost").rglob("*.fits*")):
        try:
            arrays = read_lamost(path)
        except SpectrumReadError:      # the edge-case files that are meant to fail
            continue
        g, r = arrays.meta.get("mag_g"), arrays.meta.get("mag_r")
        if g is None or r is None or not (np.isfinite(g) and np.isfinite(r)):
            continue
        good = (np.asarray(arrays.ivar) > 0) & ~np.asarray(arrays.mask, bool)
        pc = pseudo_colour(arrays.wavelength, arrays.flux, good)
        diff = (g - r) - np.polyval(coef, pc)
        if np.isfinite(diff) and abs(g - r) < 3:
            rows.append((path.relative_to(Path(data, "lamost")).parts[0], diff))
    return rows


def rendering_offsets(work, libs):
    """The pseudo-colour of each stored rendering of a ``held_out_stars.py`` work folder minus
    its template's."""
    template = template_pseudo_colours(libs)
    diffs = []
    for fold in sorted(Path(work).glob("fold*")):
        cat = Table.read(fold / "catalog_standard.ecsv")
        for f, sid in zip(np.asarray(cat["file"]).astype(str),
                          np.asarray(cat["true_star_id"]).astype(str), strict=True):
            arrays = read_lamost(fold / "files" / os.path.basename(f))
            good = (np.asarray(arrays.ivar) > 0) & ~np.asarray(arrays.mask, bool)
            diffs.append(pseudo_colour(arrays.wavelength, arrays.flux, good)
                         - template.get(sid, np.nan))
    return np.array(diffs, float)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--workdir", default=None,
                    help="a held_out_stars.py work folder: measure its renderings too")
    args = ap.parse_args(argv)

    coef, n, scatter = miles_relation(args.data)
    print(f"MILES: g - r = {coef[0]:+.4f} pc^2 {coef[1]:+.4f} pc {coef[2]:+.4f} over {n} stars; "
          f"scatter {scatter:.3f} mag")
    rows = lamost_offsets(args.data, coef)
    print("real LAMOST files, header g - r minus the spectrum's (mag):")
    print(f"{'folder':16s} {'files':>5s} {'median':>7s} {'robust':>7s}")
    for name in sorted({r[0] for r in rows}) + ["all"]:
        d = [r[1] for r in rows if name in ("all", r[0])]
        med, sig = robust(d)
        print(f"{name:16s} {len(d):5d} {med:+7.3f} {sig:7.3f}")
    if args.workdir:
        from bhbfinder.training.heldout import load_real_templates

        d = rendering_offsets(args.workdir, load_real_templates(args.data))
        med, sig = robust(d)
        print(f"renderings of {args.workdir}: {np.isfinite(d).sum()} files, the rendering's "
              f"pseudo-colour minus its template's: median {med:+.3f}, robust {sig:.3f} mag "
              f"({coef[1] * sig:.3f} mag of g - r)")


if __name__ == "__main__":
    main()
