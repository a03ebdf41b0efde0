"""Real spectra: MILES A/BHB stars degraded to LAMOST resolution through the Balmer stage.

MILES v9.1 (Sánchez-Blázquez et al. 2006; Falcón-Barroso et al. 2011): 1-D spectra on a linear
air-wavelength grid, FWHM 2.5 Å. They are degraded to R ≈ 1800 where MILES is sharper (a
Gaussian of FWHM² = (λ/1800)² − 2.5², i.e. only redward of 4500 Å; at Hδ and Hγ MILES is
already slightly coarser than LAMOST), moved to vacuum, resampled onto the LAMOST log grid and
scaled to unit median: the stage's local continuum does the rest.

Classes: BHB = "HB" in the spectral type, or inside the Kiel box (Culpan et al.
2024) with [Fe/H] ≤ −1 (the metal-rich Population I giants in that box are not horizontal-branch
stars); high-gravity A stars = log g ≥ 4 and 7500 ≤ Teff ≤ 10000 K.
"""

import numpy as np
import pytest

from bhbfinder.balmer import BalmerStage, get_criteria
from bhbfinder.batch import PreparedBatch, meta_table
from bhbfinder.spectra.lines import air_to_vacuum

R_LAMOST = 1800.0
SNR = 100.0  # assumed per-pixel S/N for the inverse variance (MILES ships no errors)
GRID = 10 ** (3.5682 + 1e-4 * np.arange(3909))
GRID = GRID[(GRID > 3700) & (GRID < 5300)]
AIR_RANGE = (3600.0, 5400.0)


def _kernel_matrix(lam, fwhm_in, cdelt):
    """Dense variable-width Gaussian convolution matrix over ``lam`` (rows sum to one)."""
    sig = np.sqrt(np.clip((lam / R_LAMOST) ** 2 - fwhm_in ** 2, 0, None)) / 2.3548 / cdelt
    k = np.arange(len(lam))
    d = k[None, :] - k[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        K = np.exp(-0.5 * (d / sig[:, None]) ** 2)
    K = np.where(sig[:, None] > 0.05, K, (d == 0).astype(float))
    return K / K.sum(axis=1, keepdims=True)


def miles_prepared(folder):
    """(PreparedBatch, labels Table) of the MILES stars in ``folder`` (shared_data/miles)."""
    from astropy.io import fits
    from astropy.table import Table

    labels = Table.read(folder / "miles_hot_labels.csv", format="ascii.csv")
    fluxes, K, ref = [], None, None
    for name in labels["file"]:
        with fits.open(folder / name) as hdul:
            flux = np.asarray(hdul[0].data, dtype=float)
            hdr = hdul[0].header
        lam = hdr["CRVAL1"] + hdr["CDELT1"] * (np.arange(len(flux)) + 1 - hdr.get("CRPIX1", 1))
        sel = (lam > AIR_RANGE[0]) & (lam < AIR_RANGE[1])
        key = (hdr["CRVAL1"], hdr["CDELT1"], len(flux), hdr.get("FWHM", 2.5))
        if key != ref:
            K, ref = _kernel_matrix(lam[sel], hdr.get("FWHM", 2.5), hdr["CDELT1"]), key
        smooth = K @ flux[sel]
        res = np.interp(GRID, air_to_vacuum(lam[sel]), smooth)
        fluxes.append(res / np.median(res))
    flux = np.array(fluxes, dtype=np.float32)
    ivar = (SNR / flux) ** 2
    batch = PreparedBatch(GRID, flux, ivar.astype(np.float32), np.zeros(flux.shape, bool),
                          meta_table([{"file": f} for f in labels["file"]]))
    return batch, labels


def miles_classes(labels):
    """"BHB", "Adwarf" or "other" per row (module docstring)."""
    teff = np.asarray(labels["teff"], float)
    logg = np.asarray(labels["logg"], float)
    feh = np.ma.filled(np.ma.asarray(labels["feh"], dtype=float), np.nan)
    lt = np.log10(teff)
    kiel = (logg > 4.0150 * lt - 12.742) & (logg < 4.4157 * lt - 13.720)
    hb = np.array(["HB" in s for s in labels["sptype"]])
    bhb = hb | (kiel & (feh <= -1.0))
    adw = (logg >= 4.0) & (teff >= 7500) & (teff <= 10000)
    return np.where(bhb, "BHB", np.where(adw, "Adwarf", "other"))


@pytest.fixture(scope="module")
def miles(shared_data):
    folder = shared_data / "miles"
    if not (folder / "miles_hot_labels.csv").is_file():
        pytest.skip("no MILES stars in the shared data folder")
    batch, labels = miles_prepared(folder)
    table = BalmerStage(criteria="xue2008").run(batch)
    return batch, labels, table, miles_classes(labels)


@pytest.mark.realdata
def test_miles_hgamma_box_separates_bhb_from_a_dwarfs(miles):
    _, _, table, cls = miles
    bhb, adw = cls == "BHB", cls == "Adwarf"
    assert bhb.sum() == 9 and adw.sum() == 20
    assert np.all(table["hgamma_flags"][bhb | adw] == 0)
    inside, _ = get_criteria("xue2008-hgamma").evaluate(table)
    # BHB stars: a clear majority inside the Hγ (c, b) box
    assert inside[bhb].mean() >= 0.75
    # high-gravity A stars: broader Hγ (larger b) and far more often outside the box; the cool
    # (< 8100 K) Am/Ap dwarfs overlap the box in (c, b) alone (see docs/balmer.rst)
    b = np.asarray(table["hgamma_b"])
    assert np.median(b[adw]) > np.median(b[bhb]) + 1.0
    assert (~inside[adw]).mean() >= 0.45
    assert (~inside[adw]).mean() > 3 * (~inside[bhb]).mean()


@pytest.mark.realdata
def test_miles_xue2008_confirms_bhb_and_rejects_a_dwarfs(miles):
    _, _, table, cls = miles
    bhb, adw = cls == "BHB", cls == "Adwarf"
    confirmed = np.asarray(table["balmer_confirmed"])
    assert confirmed[bhb].mean() >= 0.75
    assert (~confirmed[adw]).mean() >= 0.75
    # the Ca II K screen keeps every metal-poor BHB star
    cak, _ = get_criteria("cak-screen").evaluate(table)
    assert cak[bhb].all()


# --- real LAMOST spectra: read -> prepare -> balmer ------------------------------------------

@pytest.mark.realdata
def test_lamost_repeat_visits_get_the_same_verdict(shared_data):
    """DR8 repeat visits of one star (repeat_groups.csv) through the real read and prepare
    stages: every visit is measured, and the visits of a star agree."""
    from pathlib import Path

    from astropy.table import Table

    from bhbfinder.io.read import read_batch
    from bhbfinder.spectra.prepare import prepare

    folder = shared_data / "lamost" / "dr8"
    if not (folder / "repeat_groups.csv").is_file():
        pytest.skip("no LAMOST DR8 repeat groups in the shared data folder")
    groups = Table.read(folder / "repeat_groups.csv", format="ascii.csv")
    by_group = {}
    for name, gid in zip(groups["combined_file"], groups["GroupID"], strict=True):
        if (folder / Path(name).name).is_file():
            by_group.setdefault(int(gid), []).append(str(folder / Path(name).name))
    pairs = [files[:2] for files in by_group.values() if len(files) >= 2]
    assert len(pairs) >= 10
    batch = prepare(read_batch([f for pair in pairs for f in pair]))
    table = BalmerStage(criteria="xue2008").run(batch)
    assert np.all(batch.ok)
    flags = np.asarray(table["hgamma_flags"]).reshape(-1, 2)
    verdict = np.asarray(table["balmer_confirmed"]).reshape(-1, 2)
    assert (flags == 0).mean() > 0.8
    assert np.mean(verdict[:, 0] == verdict[:, 1]) >= 0.9
    # Hγ widths of A-type visits agree within their errors (4σ, allowing one outlier)
    sub = np.asarray(batch.meta["subclass"]).astype(str).reshape(-1, 2)
    a_type = np.char.startswith(sub[:, 0], "A") & np.all(flags == 0, axis=1)
    b = np.ma.filled(table["hgamma_b"], np.nan).reshape(-1, 2)[a_type]
    e = np.ma.filled(table["hgamma_b_err"], np.nan).reshape(-1, 2)[a_type]
    z = np.abs(b[:, 0] - b[:, 1]) / np.hypot(e[:, 0], e[:, 1])
    assert a_type.sum() >= 5 and np.sum(z > 4) <= 1


@pytest.mark.realdata
def test_miles_metal_index_separates_bhb_stars_from_giants_of_their_temperature(miles):
    """The metallic-line index (bhbfinder.balmer.metals) of every MILES BHB star lies below
    that of every A or B giant (log g 3–4, [Fe/H] above −0.6) of its temperature range: the
    giants that share the BHB stars' gravity and differ from them by metallicity."""
    _, labels, table, cls = miles
    assert np.all(table["metal_flags"] == 0)
    k = np.asarray(table["metal_index"], float)
    teff = np.asarray(labels["teff"], float)
    logg = np.asarray(labels["logg"], float)
    feh = np.ma.filled(np.ma.asarray(labels["feh"], dtype=float), np.nan)
    giants = (cls == "other") & (logg >= 3.0) & (logg < 4.0) & ~(feh <= -0.6)
    for lo, hi in ((7000.0, 8500.0), (8500.0, 11000.0)):
        bhb = (cls == "BHB") & (teff >= lo) & (teff < hi)
        others = giants & (teff >= lo) & (teff < hi)
        assert bhb.sum() >= 4 and others.sum() >= 10
        assert k[bhb].max() < k[others].min()
        assert np.median(k[others]) > 2 * np.median(k[bhb])


@pytest.mark.realdata
def test_lamost_phot_confirms_no_dr1_disk_a_star_given_their_lasp_teff(shared_data):
    """The DR1 disk A stars through the real read and prepare stages, with LASP's Teff (an
    independent pipeline's) as ``teff_phot``: ``lamost-phot`` confirms none of them, and the
    stars without a LASP Teff are refused for that reason; the default ``lamost`` confirms
    none of the A stars either."""
    from astropy.table import Table

    from bhbfinder.io.read import read_batch
    from bhbfinder.spectra.prepare import prepare

    folder = shared_data / "lamost" / "dr1"
    catalogue = folder / "my_data3_DR1_catalog_subset.csv"
    if not catalogue.is_file():
        pytest.skip("no LAMOST DR1 files in the shared data folder")
    lasp = Table.read(catalogue, format="ascii.csv")
    teff = {str(f).split("/")[-1].replace(".gz", ""): float(t)
            for f, t in zip(lasp["filename"], lasp["teff"], strict=True)}
    files = sorted(folder.glob("*.fits"))
    batch = prepare(read_batch([str(f) for f in files]))
    phot = np.array([teff.get(f.name, np.nan) for f in files])
    phot = np.where(phot > 0, phot, np.nan)
    batch.meta["teff_phot"] = phot
    sub = np.asarray(batch.meta["subclass"]).astype(str)
    a_stars = np.char.startswith(sub, "A") & np.isfinite(phot)
    assert a_stars.sum() >= 15
    table = BalmerStage(criteria="lamost-phot").run(batch)
    assert not np.any(np.asarray(table["balmer_confirmed"])[a_stars])
    # they are refused by the cuts, not for lack of a measurement
    rejecting = get_criteria("lamost-phot").reject_flags
    assert ((np.asarray(table["hdelta_flags"])[a_stars] & rejecting) == 0).mean() > 0.8
    reasons = np.asarray(table["balmer_reason"]).astype(str)
    ok = np.asarray(batch.ok)
    assert all(r.startswith("teff_phot not given") for r in reasons[ok & ~np.isfinite(phot)])
    every_a = np.char.startswith(sub, "A") & ok
    assert every_a.sum() >= 30
    assert not np.any(np.asarray(BalmerStage().run(batch)["balmer_confirmed"])[every_a])
