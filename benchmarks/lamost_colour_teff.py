"""The real LAMOST files of the shared data run with a photometric Teff from their headers'
g − r: does a colour temperature make the verdict call any real file BHB that it did not?

LAMOST headers carry the input catalogue's magnitudes (``MAG1``–``MAG7``, their bands named
in order by ``MAGTYPE``; the reader's ``mag_g`` and ``mag_r``,
`bhbfinder.io.lamost.header_magnitudes`). ``find_bhb`` runs on every file twice: as shipped,
and with ``prepare.teff_phot_from_colour``, which gives every file with a g and an r within
the shipped relation's colours a ``teff_phot`` (`bhbfinder.params.colour_teff`; not
dereddened, as the MILES colours it is fitted on are not). The files called BHB either way
are listed with their LAMOST class and subclass, colour and temperatures.

    python benchmarks/lamost_colour_teff.py [--data ../shared/data]
"""

import argparse
from pathlib import Path

import numpy as np

from bhbfinder.params.colour_teff import G_R_RELATION


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

    lo, hi = G_R_RELATION.colour_range
    print(f"relation: log10 Teff = cubic(g - r) over g - r {lo:.2f} to {hi:.2f}, colour "
          f"scatter {G_R_RELATION.colour_scatter:.3f} mag ({G_R_RELATION.meta['n_stars']} "
          "MILES stars)")
    paths = sorted(str(p) for p in Path(args.data, "lamost").rglob("*.fits*"))
    plain = find_bhb(paths, progress=False)
    given = find_bhb(paths, config={"prepare": {"teff_phot_from_colour": True}},
                     progress=False)
    for cat in (plain, given):
        cat.sort("file")
    gr = _values(given, "mag_g") - _values(given, "mag_r")
    source = np.ma.filled(given["teff_phot_source"], "")
    print(f"{len(paths)} files; g and r in {np.isfinite(gr).sum()}, within the relation's "
          f"colours (a teff_phot) in {(source == 'g_r').sum()}")
    teff_phot = _values(given, "teff_phot")
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
