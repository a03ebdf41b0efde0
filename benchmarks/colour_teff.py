"""How well a g−r colour alone gives Teff for A and late-B stars: the case for a photometric
constraint on the params stage (docs/params.rst, *Colours*).

SDSS g and r AB magnitudes are synthesised from the MILES spectra (Sánchez-Blázquez et al.
2006; Falcón-Barroso et al. 2011: flux-calibrated, 3540–7410 Å, air wavelengths) with the
SDSS filter curves of the ``speclite`` package (``pip install speclite``; not a dependency of
bhbfinder). The stars of 6800–11500 K with complete labels whose spectra cover the r band are
fitted with ``log10 Teff = cubic(g − r) + a log g + b [Fe/H]`` and each star is predicted from a
fit without it (closed-form leave-one-out of least squares); printed per Teff bin: the number of
stars, the bias (median) and the robust scatter (1.4826 MAD) of the predicted Teff against the
catalogue's. The MILES stars are nearby but not dereddened, so their reddening (and MILES's
flux calibration) is part of the scatter.

    python benchmarks/colour_teff.py [--data ../shared/data]

`colour_teff_by_fold` gives every real star of a held-out fold plan a Teff from its own
template's g − r, the photometric stand-in of ``held_out_stars.py --also-colour-teff`` and
``scripts/derive_balmer_lamost.py --colour-teff``. `pseudo_colour` is a colour of a spectrum's
own flux (no filter curves), for ``spectrum_colour.py`` and
``heldout_params_variants.py --spectrum-colour``.
"""

import argparse
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table

from bhbfinder.spectra.lines import air_to_vacuum

FOLDERS = (("miles", "miles_hot_labels.csv"), ("miles_more", "miles_more_labels.csv"))
TEFF_RANGE = (6800.0, 11500.0)
BINS = ((7000.0, 8500.0), (8500.0, 10000.0), (10000.0, 11500.0))


def _filters():
    try:
        import speclite.filters
    except ImportError:
        raise SystemExit("this benchmark needs speclite for the SDSS filter curves: "
                         "pip install speclite") from None
    return speclite.filters.load_filters("sdss2010-g", "sdss2010-r")


def miles_spectra(data):
    """Yield ``(star_id, (teff, logg, feh), air wavelength, flux)`` of every MILES star of
    `FOLDERS`.

    ``star_id`` as in `bhbfinder.training.heldout.FoldPlan` (``MILES:0974``); labels NaN where
    MILES has none; wavelengths in Å from the file's linear solution.
    """
    for folder, labels in FOLDERS:
        table = Table.read(Path(data) / folder / labels, format="ascii.csv")
        for row in table:
            label = tuple(float(row[c]) if row[c] is not np.ma.masked else np.nan
                          for c in ("teff", "logg", "feh"))
            with fits.open(Path(data) / folder / str(row["file"])) as hdul:
                flux = np.asarray(hdul[0].data, float).ravel()
                head = hdul[0].header
            pix = np.arange(flux.size) + 1.0 - head.get("CRPIX1", 1.0)
            yield (f"MILES:{int(row['miles_id']):04d}", label,
                   head["CRVAL1"] + head["CDELT1"] * pix, flux)


def synthetic_colours(data):
    """``{star_id: (teff, logg, feh, g − r)}`` of every MILES star whose spectrum covers r
    (see `miles_spectra`)."""
    bands = _filters()
    r_end = bands[1].wavelength[-1]
    out = {}
    for star_id, label, wave_air, flux in miles_spectra(data):
        wave = air_to_vacuum(wave_air)
        if wave[-1] < r_end:
            continue
        mags = bands.get_ab_magnitudes(np.clip(flux, 0.0, None) * 1e-13, wave)
        out[star_id] = (*label, float(mags["sdss2010-g"][0] - mags["sdss2010-r"][0]))
    return out


def synthetic_g_r(data):
    """(teff, logg, feh, g − r) of every MILES star in range with complete labels."""
    rows = [v for v in synthetic_colours(data).values()
            if np.isfinite(v[:3]).all() and TEFF_RANGE[0] <= v[0] <= TEFF_RANGE[1]]
    return np.array(rows)


#: Catalogue Teff range (K) of the stars `colour_teff_by_fold` fits its relation on.
COLOUR_TEFF_RANGE = (6800.0, 13000.0)
#: Least catalogue log g of those stars, the lower end of the BHB stars' gravities: below it
#: lie supergiants, bright giants and post-AGB stars, luminous, distant and reddened (the
#: MILES A supergiants of Cepheus have g − r of +0.25 to +0.39 at 8,800-9,300 K), off the
#: relation of the HB, giant and dwarf stars it is for. With them (14 stars) the relation
#: turns back above g − r = +0.1 and its leave-one-out scatter is 511 K instead of 319 K.
COLOUR_LOGG_MIN = 2.5


#: Windows (vacuum Å) of `pseudo_colour`: near the SDSS g and r bands, between the strong
#: Balmer lines where possible, on the blue arm and the red arm of LAMOST away from their join
#: (5,700–6,000 Å), and inside MILES's 3,540–7,410 Å.
PSEUDO_BLUE = ((4150.0, 4300.0), (4400.0, 4800.0), (4950.0, 5500.0))
PSEUDO_RED = ((6000.0, 6500.0), (6650.0, 7300.0))


def pseudo_colour(wave, flux, good=None, min_pixels=10):
    """A g − r-like colour of a spectrum's own flux: ``−2.5 log10(B / R)``, with B and R the
    means over `PSEUDO_BLUE` and `PSEUDO_RED` of each window's median of ``f_λ λ²`` (∝ f_ν).

    ``good``: the usable pixels (default: finite flux). NaN where a window has fewer than
    ``min_pixels`` usable pixels or a mean is not positive. The median makes it robust to
    cosmic rays and to lines inside the windows; only the flux's shape counts, not its scale.
    """
    wave, flux = np.asarray(wave, float), np.asarray(flux, float)
    good = np.isfinite(flux) if good is None else np.asarray(good, bool) & np.isfinite(flux)

    def level(windows):
        values = []
        for lo, hi in windows:
            s = good & (wave >= lo) & (wave < hi)
            if s.sum() < min_pixels:
                return np.nan
            values.append(np.median(flux[s] * (wave[s] / 5500.0) ** 2))
        return float(np.mean(values))

    blue, red = level(PSEUDO_BLUE), level(PSEUDO_RED)
    if not (blue > 0 and red > 0):
        return np.nan
    return float(-2.5 * np.log10(blue / red))


def template_pseudo_colours(libs):
    """``{star_id: pseudo_colour}`` of every template of ``libs``
    (`~bhbfinder.simulate.TemplateLibrary`, vacuum wavelengths)."""
    colour = {}
    for lib in libs:
        ids = np.asarray(lib.labels["star_id"]).astype(str)
        wave = np.asarray(lib.wavelength, float)
        colour.update((sid, pseudo_colour(wave, np.asarray(lib.flux[i], float)))
                      for i, sid in enumerate(ids))
    return colour


def fit_colour_relation(gr, teff, degree=3, colour="g_r"):
    """``log10 Teff = polynomial(g − r)`` fitted on stars' colours and catalogue Teff, as a
    `~bhbfinder.params.colour_teff.ColourTeffRelation` over the colours fitted, whose
    ``colour_scatter`` is the robust scatter (1.4826 MAD) of the stars' colours about the
    relation at their catalogue Teff (the relation inverted on a fine grid; it is monotonic
    over the fitted colours, tested for the shipped one). ``colour`` names the colour in the
    relation (any colour fits the same way, e.g. a `pseudo_colour`)."""
    from bhbfinder.params.colour_teff import ColourTeffRelation

    gr, teff = np.asarray(gr, float), np.asarray(teff, float)
    coef = np.polyfit(gr, np.log10(teff), degree)
    grid = np.linspace(gr.min(), gr.max(), 4001)
    log_t = np.polyval(coef, grid)
    order = np.argsort(log_t)
    predicted = np.interp(np.log10(teff), log_t[order], grid[order])
    resid = gr - predicted
    return ColourTeffRelation(colour, tuple(float(c) for c in coef),
                              (float(gr.min()), float(gr.max())),
                              float(1.4826 * np.median(np.abs(resid - np.median(resid)))))


def template_colours(libs):
    """``{star_id: g − r}``: the synthetic SDSS g − r (`_filters`) of every template of
    ``libs`` (`~bhbfinder.simulate.TemplateLibrary`; MILES and the SDSS templates are
    flux-calibrated, not dereddened) whose wavelengths cover the r band."""
    bands = _filters()
    colour = {}
    for lib in libs:
        ids = np.asarray(lib.labels["star_id"]).astype(str)
        if lib.wavelength[-1] < bands[1].wavelength[-1]:
            continue
        mags = bands.get_ab_magnitudes(np.clip(np.asarray(lib.flux, float), 0, None) * 1e-13,
                                       lib.wavelength)
        gr = np.asarray(mags["sdss2010-g"] - mags["sdss2010-r"], float)
        colour.update(zip(ids, gr))
    return colour


def relation_sample(stars, colour):
    """``(star ids, g − r, catalogue Teff, usable)`` of a fold plan's ``stars`` table:
    ``usable`` marks the stars a colour relation is fitted on, those with a colour, a
    catalogue Teff in `COLOUR_TEFF_RANGE` and a log g of `COLOUR_LOGG_MIN` or more, neither
    doubtful nor with a catalogue Teff the audit finds contradicted
    (`bhbfinder.training.heldout.LABEL_AUDIT`)."""
    from bhbfinder.training.heldout import LABEL_AUDIT

    sids = np.asarray(stars["star_id"]).astype(str)
    teff = np.asarray(stars["teff"], float)
    logg = np.asarray(stars["logg"], float)
    gr = np.array([colour.get(s, np.nan) for s in sids])
    contradicted = np.isin(sids, [s for s, e in LABEL_AUDIT.items()
                                  if e.get("teff_contradicted")])
    usable = (np.isfinite(gr) & np.isfinite(teff) & (teff >= COLOUR_TEFF_RANGE[0])
              & (teff <= COLOUR_TEFF_RANGE[1]) & (logg >= COLOUR_LOGG_MIN)
              & ~np.asarray(stars["doubtful"], bool) & ~contradicted)
    return sids, gr, teff, usable


def relations_by_fold(plan, colour, degree=3, name="g_r"):
    """``{fold: ColourTeffRelation}``: ``log10 Teff = polynomial(colour)`` of ``degree`` fitted
    for each fold of ``plan`` on the other folds' stars (`relation_sample`,
    `fit_colour_relation`); ``colour`` is ``{star_id: colour}`` (`template_colours`,
    `template_pseudo_colours`)."""
    sids, values, teff, usable = relation_sample(plan.stars, colour)
    folds = np.asarray(plan.stars["fold"], int)
    out = {}
    for k in np.unique(folds):
        fit = usable & (folds != k)
        rel = fit_colour_relation(values[fit], teff[fit], degree, colour=name)
        lo, hi = rel.colour_range
        print(f"fold {k}: colour Teff from {name} over {lo:.2f} to {hi:.2f} ({fit.sum()} "
              f"stars), colour scatter {rel.colour_scatter:.3f} mag", flush=True)
        out[int(k)] = rel
    return out


def colour_teff_by_fold(libs, plan, degree=3):
    """A photometric Teff for every real star from the colour of its own template.

    The synthetic SDSS g − r of each template's flux (`template_colours`) gives
    ``log10 Teff = polynomial(g − r)`` of ``degree``, fitted for each fold on the other
    folds' stars (`relations_by_fold`), with that fit's error (its colour scatter through
    its slope). A star gets its fold's relation's value where its colour lies within the
    colours fitted, else none; the stars without a catalogue Teff (the SDSS templates, ξ² Cet
    among them) get one too. The same fit on every fold's stars is the relation
    `bhbfinder.params.colour_teff` ships (``scripts/derive_colour_teff.py``).

    Returns
    -------
    dict
        ``{star_id: (teff_phot, teff_phot_err)}``.
    """
    colour = template_colours(libs)
    relations = relations_by_fold(plan, colour, degree)
    sids = np.asarray(plan.stars["star_id"]).astype(str)
    folds = np.asarray(plan.stars["fold"], int)
    gr = np.array([colour.get(s, np.nan) for s in sids])
    out = {}
    for k, rel in relations.items():
        mine = np.flatnonzero(folds == k)
        t, e = rel.teff(gr[mine])
        out.update((sids[i], (float(ti), float(ei)))
                   for i, ti, ei in zip(mine, t, e, strict=True) if np.isfinite(ti))
    return out


def loo_predictions(design, target):
    """Leave-one-out predictions of least squares (``e_i / (1 − h_ii)``)."""
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    hat = np.einsum("ij,jk,ik->i", design, np.linalg.pinv(design.T @ design), design)
    resid = target - design @ coef
    return target - resid / (1.0 - hat)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" /
                                          "data"))
    args = ap.parse_args(argv)
    stars = synthetic_g_r(args.data)
    teff, logg, feh, gr = stars.T
    design = np.column_stack([np.ones_like(gr), gr, gr**2, gr**3, logg, feh])
    predicted = 10.0 ** loo_predictions(design, np.log10(teff))
    print(f"{len(stars)} MILES stars of {TEFF_RANGE[0]:.0f}-{TEFF_RANGE[1]:.0f} K; Teff from "
          "synthetic g-r (+ log g, [Fe/H]), leave one out")
    print(f"{'Teff (K)':>14s} {'stars':>6s} {'bias':>7s} {'robust':>7s}")
    for lo, hi in BINS:
        m = (teff >= lo) & (teff < hi)
        d = predicted[m] - teff[m]
        med = np.median(d)
        print(f"{lo:6.0f}-{hi:<7.0f} {m.sum():6d} {med:+7.0f} "
              f"{1.4826 * np.median(np.abs(d - med)):7.0f}")


if __name__ == "__main__":
    main()
