"""The real LAMOST files of the shared data run with a photometric Teff from their headers'
g − r: does a colour temperature make the verdict call any real file BHB that it did not?

LAMOST headers carry the input catalogue's magnitudes (``MAG1``–``MAG7``, their bands named
in order by ``MAGTYPE``, e.g. ``ugriz``, ``gri``, ``ugrizjh``; 99 where missing). Where a file
has SDSS-like g and r, ``teff_phot`` = 10 ** cubic(g − r), the relation fitted on the
synthetic g − r of the MILES stars of 6,800–13,000 K (``benchmarks/colour_teff.py``; MILES
colours not dereddened, as the headers' are not), with the fit's robust scatter as
``teff_phot_err``; a colour outside the fitted range gives none. ``find_bhb`` runs on every
file twice, without and with that table column (``docs/params.rst``, *A photometric
temperature*), and the files called BHB either way are listed with their LAMOST class and
subclass, colour and temperatures. Needs ``speclite``.

    python benchmarks/lamost_colour_teff.py [--data ../shared/data]
"""

import argparse
import re
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table
from colour_teff import TEFF_RANGE, fit_colour_relation, synthetic_colours

#: The fitted Teff range (K) of the relation: the hot stars a colour can place.
RELATION_RANGE = (6800.0, 13000.0)


def colour_relation(data, degree=3):
    """``(coefficients of log10 Teff in g − r, robust scatter in K, (g − r min, max))``
    fitted on the MILES stars of `RELATION_RANGE`."""
    rows = np.array([v for v in synthetic_colours(data).values()
                     if np.isfinite(v[0]) and np.isfinite(v[3])
                     and RELATION_RANGE[0] <= v[0] <= RELATION_RANGE[1]])
    return fit_colour_relation(rows[:, 3], rows[:, 0], degree)


def header_g_r(header):
    """g − r from the header's catalogue magnitudes, NaN without both bands."""
    kind = str(header.get("MAGTYPE") or "")
    bands = re.sub(r"^(MOD|fibermag)", "", kind)
    mags = {}
    for i, band in enumerate(bands[:7]):
        value = header.get(f"MAG{i + 1}")
        if isinstance(value, (int, float)) and 0 < value < 90:
            mags.setdefault(band, float(value))
    return mags["g"] - mags["r"] if "g" in mags and "r" in mags else np.nan


def _values(cat, name, fill=np.nan):
    """A catalogue column as plain floats, ``fill`` where masked."""
    col = cat[name]
    data = np.ma.asarray(getattr(col, "value", col)).astype(float)
    return np.ma.filled(data, fill)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" /
                                          "data"))
    args = ap.parse_args(argv)
    from bhbfinder import find_bhb

    coef, sigma, (lo, hi) = colour_relation(args.data)
    print(f"relation: log10 Teff = cubic(g - r) on MILES stars of {RELATION_RANGE[0]:.0f}-"
          f"{RELATION_RANGE[1]:.0f} K (colour_teff.py's sample is {TEFF_RANGE}); g - r "
          f"{lo:.2f} to {hi:.2f}, robust scatter {sigma:.0f} K")
    paths = sorted(str(p) for p in Path(args.data, "lamost").rglob("*.fits*"))
    gr = np.full(len(paths), np.nan)
    for i, path in enumerate(paths):
        try:
            gr[i] = header_g_r(fits.getheader(path))
        except (OSError, ValueError):
            pass   # a broken file: find_bhb records it as a failure row
    inside = np.isfinite(gr) & (gr >= lo) & (gr <= hi)
    teff_phot = np.where(inside, 10 ** np.polyval(coef, np.where(inside, gr, 0.0)), np.nan)
    print(f"{len(paths)} files; g - r in {np.isfinite(gr).sum()}, within the relation's "
          f"colours (a teff_phot) in {inside.sum()}")
    plain = find_bhb(Table({"path": paths}), progress=False)
    given = find_bhb(Table({"path": paths, "teff_phot": teff_phot,
                            "teff_phot_err": np.full(len(paths), sigma)}), progress=False)
    for cat in (plain, given):
        cat.sort("file")
    order = np.argsort(paths)
    gr, teff_phot = gr[order], teff_phot[order]
    for name, cat in (("spectrum alone", plain), ("with teff_phot", given)):
        called = _values(cat, "is_bhb", 0.0) > 0
        v = {k: _values(cat, k) for k in ("ra", "teff", "logg", "feh", "p_bhb")}
        print(f"\n{name}: {called.sum()} of {len(cat)} files called BHB")
        for i in np.flatnonzero(called):
            print(f"  {Path(str(cat['file'][i])).name}: {cat['class'][i]} {cat['subclass'][i]}"
                  f", ra {v['ra'][i]:.4f}, g - r {gr[i]:.2f}, teff_phot {teff_phot[i]:.0f}, "
                  f"params Teff {v['teff'][i]:.0f}, log g {v['logg'][i]:.2f}, [Fe/H] "
                  f"{v['feh'][i]:.2f}, p_bhb {v['p_bhb'][i]:.2f}")
    p0, p1 = _values(plain, "p_bhb"), _values(given, "p_bhb")
    top = np.argsort(-np.nan_to_num(p1, nan=-1))[:5]
    print("\nhighest p_bhb with teff_phot (without): " + "; ".join(
        f"{Path(str(given['file'][i])).name} {given['subclass'][i]} {p1[i]:.2f} ({p0[i]:.2f})"
        for i in top if np.isfinite(p1[i])))


if __name__ == "__main__":
    main()
