"""Tests of bhbfinder.simulate: classes, templates, analytic model, simulator, library."""

import numpy as np
import pytest
from astropy.table import Table
from scipy.optimize import curve_fit

from bhbfinder.errors import ConfigurationError, ModelFileError
from bhbfinder.simulate import (
    CLASSES,
    SimulationConfig,
    TemplateLibrary,
    TrainingLibrary,
    analytic_spectrum,
    analytic_templates,
    build_library,
    classify_star,
    culpan_kiel_limits,
    lamost_wavelength,
    simulate,
    simulate_junk,
    simulate_rows,
)
from bhbfinder.simulate.analytic import analytic_wavelength
from bhbfinder.simulate.simulator import degrade_templates
from bhbfinder.spectra.lines import C_KMS, LINES_VACUUM

#: An instrument with nothing but noise (for known-answer tests).
CLEAN = dict(distortion_sigma=0.0, dichroic_step=0.0, cosmic_rate=0.0, bad_segment_rate=0.0,
             edge_bad_max=0, vary_grid=False, sky_line_strength=0.0)


def _line_library(centre, sigma_kms, fwhm=None, depth=0.5):
    """A flat template with one Gaussian absorption line, on the analytic grid."""
    wave = analytic_wavelength()
    sig = centre * sigma_kms / C_KMS
    flux = 1.0 - depth * np.exp(-0.5 * ((wave - centre) / sig) ** 2)
    labels = Table({"name": ["line"], "star_id": ["test:line"], "label": ["A"],
                    "teff": [np.nan], "logg": [np.nan], "feh": [np.nan], "sptype": [""],
                    "source": ["test"]})
    return TemplateLibrary(wave, flux[None, :], labels, fwhm=fwhm)


def _flat_library():
    wave = analytic_wavelength()
    labels = Table({"name": ["flat"], "star_id": ["test:flat"], "label": ["other"],
                    "teff": [np.nan], "logg": [np.nan], "feh": [np.nan], "sptype": [""],
                    "source": ["test"]})
    return TemplateLibrary(wave, np.ones((1, wave.size)), labels)


def _gauss(x, a, mu, s, c):
    return c - a * np.exp(-0.5 * ((x - mu) / s) ** 2)


def _fit_line(wave, flux, centre, half=15.0):
    m = np.abs(wave - centre) < half
    p, _ = curve_fit(_gauss, wave[m], flux[m], p0=(0.3 * flux[m].max(), centre, 1.5,
                                                    flux[m].max()))
    return p


# ------------------------------------------------------------------------ classes


@pytest.mark.parametrize("args, expected", [
    ((7569, 2.6, -1.6, "A2 (HB)"), "BHB"),          # HB type below the Kiel box
    ((8667, 3.1, -1.25, "A0"), "BHB"),              # in the box, metal-poor
    ((8692, 3.45, 0.18, "A3V"), "A"),               # in the box but metal-rich
    ((8330, 1.45, 0.08, "A5Ib"), "other"),          # supergiant: hard negative
    ((7261, 0.85, -2.52, "B8"), "other"),           # metal-poor post-AGB-like
    ((11704, 3.94, -0.74, "B9IV"), "B"),
    ((28000, 5.6, np.nan, "sdB"), "HotSD"),
    ((15000, 8.0, np.nan, ""), "WD"),
    ((6500, 4.3, 0.0, "F5V"), "other"),
    ((5500, 2.4, -1.1, "HB"), "other"),             # red horizontal branch
    ((9000, 4.2, np.nan, None), "A"),               # no type: by Teff
    ((12000, 4.0, np.nan, None), "B"),
])
def test_classify_star_known_answers(args, expected):
    assert classify_star(*args) == expected


def test_classify_star_rejects_unknown_threshold():
    with pytest.raises(ConfigurationError, match="unknown threshold"):
        classify_star(9000, 4, 0, "A0", bhb_teff=1)


# ------------------------------------------------------------------------ analytic model


def _widths(label_rows):
    lib = analytic_templates(params=Table(rows=label_rows, names=("label", "teff", "logg",
                                                                  "feh")))
    log_w, flux = degrade_templates(lib, np.arange(len(lib)), 1800.0)
    wave = 10 ** log_w
    out = []
    for f in flux:
        lam = LINES_VACUUM["Hgamma"]
        side = (np.abs(wave - lam) > 60) & (np.abs(wave - lam) < 90)
        cont = np.polyval(np.polyfit(wave[side] - lam, f[side], 1), wave - lam)
        y = f / cont
        core = np.abs(wave - lam) < 60
        half = 1 - 0.5 * (1 - y[core].min())
        below = wave[core][y[core] < half]
        out.append((below.max() - below.min(), y[core].min()))
        kk = np.abs(wave - LINES_VACUUM["CaII_K"]) < 1.5
        out[-1] += (y[kk].min() if kk.any() else np.nan,)
    return out


def test_analytic_bhb_lines_narrower_than_a_dwarf():
    (w_bhb, d_bhb, _), (w_a, d_a, _), (w_wd, _, _) = _widths(
        [("BHB", 8500, 3.2, -2.0), ("A", 8500, 4.2, -2.0), ("WD", 15000, 8.0, 0.0)])
    # Clewley et al. 2002, Xue et al. 2008: at one Teff, low-gravity BHB lines are narrower and
    # deeper-cored
    assert w_bhb < 0.8 * w_a
    assert d_bhb < d_a
    assert w_wd > 1.5 * w_a


def test_analytic_ca_k_grows_with_metallicity():
    (_, _, k_poor), (_, _, k_rich) = _widths([("A", 8000, 4.2, -2.0), ("A", 8000, 4.2, 0.0)])
    assert k_rich < k_poor - 0.2


def test_analytic_a_class_includes_metal_rich_stars_in_the_bhb_box():
    """Evolved A stars sit in the Culpan box, are metal-rich, and the labelling rule calls
    them A (so the library teaches that only metallicity tells them from BHB stars)."""
    from bhbfinder.simulate.classes import culpan_kiel_box
    from bhbfinder.simulate.library import jitter_parameters

    lab = analytic_templates(400, seed=5, classes=("A",)).labels
    in_box = culpan_kiel_box(lab["teff"], lab["logg"])
    assert 0.15 < in_box.mean() < 0.35                      # evolved_fraction 0.25
    assert np.all(np.asarray(lab["feh"])[in_box] >= -0.8)
    assert {classify_star(r["teff"], r["logg"], r["feh"]) for r in lab[in_box]} == {"A"}
    jit = jitter_parameters(lab, np.random.default_rng(3))
    np.testing.assert_array_equal(culpan_kiel_box(jit["teff"], jit["logg"]), in_box)
    assert np.all(np.asarray(jit["feh"])[in_box] >= -0.8)


def test_analytic_spectrum_is_deterministic_and_validates():
    w = analytic_wavelength()[::10]
    a = analytic_spectrum(w, [9000, 30000], [3.3, 5.5], [-1.5, -1.0], ["BHB", "HotSD"])
    b = analytic_spectrum(w, [9000, 30000], [3.3, 5.5], [-1.5, -1.0], ["BHB", "HotSD"])
    assert a.shape == (2, w.size) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ConfigurationError, match="unknown label"):
        analytic_spectrum(w, 9000, 3.3, -1.5, "sdB")


# ------------------------------------------------------------------------ simulator


def test_same_seed_identical_different_seed_different():
    lib = analytic_templates(1, seed=4, classes=("BHB", "A", "WD"))
    a = simulate(lib, 5, seed=11, junk_fraction=0.4)
    b = simulate(lib, 5, seed=11, junk_fraction=0.4)
    c = simulate(lib, 5, seed=12, junk_fraction=0.4)
    for name in ("flux", "ivar", "andmask", "ormask"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    for k in a.meta.colnames:
        x, y = np.asarray(a.meta[k]), np.asarray(b.meta[k])
        assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), k
    assert not np.array_equal(a.flux, c.flux)


def test_snr_and_ivar_consistent_with_noise():
    lib = _flat_library()
    cfg = SimulationConfig(**CLEAN)
    sim = simulate_rows(lib, np.zeros(40, int), 3, cfg, rv=0.0, snr=25.0)
    wave = lamost_wavelength()
    g = np.flatnonzero((wave > 4000) & (wave < 5500))
    chi2, resid = [], []
    for f, iv in zip(sim.flux, sim.ivar, strict=True):
        ok = iv > 0
        level = np.sum(f[ok] * iv[ok]) / np.sum(iv[ok])
        chi2.append(np.mean((f[ok] - level) ** 2 * iv[ok]))
        resid.append((f[g] - level) / level)
    assert abs(np.mean(chi2) - 1.0) < 0.02
    # empirical S/N without ivar: the scatter of the pixels in 20 slices of the g band (the
    # noise varies along the band with the throughput), median over slices
    resid = np.array(resid)
    snr = [1.0 / np.std(chunk) for chunk in np.array_split(resid, 20, axis=1)]
    assert abs(np.median(snr) / 25.0 - 1.0) < 0.03
    np.testing.assert_allclose(sim.meta["snr_g"], 25.0, rtol=1e-6)


def test_rv_shift_puts_line_where_expected():
    lam0 = 5000.0
    lib = _line_library(lam0, 20.0)
    sim = simulate_rows(lib, [0, 0], 1, SimulationConfig(**CLEAN), rv=[300.0, -150.0],
                        snr=1e4)
    wave = lamost_wavelength()
    for f, rv in zip(sim.flux, (300.0, -150.0), strict=False):
        mu = _fit_line(wave, f, lam0 * (1 + rv / C_KMS))[1]
        assert abs(mu - lam0 * (1 + rv / C_KMS)) < 0.02 * 1.15   # < 0.02 pixel
    np.testing.assert_allclose(sim.meta["z_true"], np.array([300.0, -150.0]) / C_KMS)


def test_resolution_degradation_known_fwhm():
    lam0 = 6000.0
    wave = lamost_wavelength()
    # intrinsic narrow line (sigma 10 km/s) → FWHM² = (c/R)² + (2.3548·10)²
    sim = simulate_rows(_line_library(lam0, 10.0), [0], 2, SimulationConfig(**CLEAN), rv=0.0,
                        snr=1e5)
    s = _fit_line(wave, sim.flux[0], lam0)[2]
    expected = lam0 * np.hypot(C_KMS / 1800.0, 2.3548 * 10.0) / C_KMS
    assert abs(2.3548 * abs(s) / expected - 1) < 0.03
    # a template whose line is its own 1.0 Å resolution: only the difference is added
    lib = _line_library(lam0, 1.0 / 2.3548 / lam0 * C_KMS, fwhm=1.0)
    sim = simulate_rows(lib, [0], 2, SimulationConfig(**CLEAN), rv=0.0, snr=1e5)
    s = _fit_line(wave, sim.flux[0], lam0)[2]
    assert abs(2.3548 * abs(s) / (lam0 / 1800.0) - 1) < 0.03


@pytest.mark.parametrize("fwhm,slope", [(2.0, 0.0), (3.4, 0.0), (4.0, 0.0), (3.0, 0.2)])
def test_blue_arm_fwhm_known_answer(fwhm, slope):
    """A line of the blue arm gets the requested FWHM (with its slope in wavelength), the red
    arm keeps R = 1800, and the recorded R is the blue arm's at 4500 Å."""
    wave = lamost_wavelength()
    config = SimulationConfig(**CLEAN, blue_fwhm=fwhm, blue_fwhm_slope=slope)
    for lam0, instrument in ((4200.0, fwhm * (1 + slope * (4200.0 - 4500.0) / 1000.0)),
                             (5000.0, fwhm * (1 + slope * 0.5)), (7000.0, 7000.0 / 1800.0)):
        # intrinsic line of sigma 10 km/s, added in quadrature
        expected = np.hypot(instrument, 2.3548 * 10.0 * lam0 / C_KMS)
        sim = simulate_rows(_line_library(lam0, 10.0), [0], 2, config, rv=0.0, snr=1e5)
        s = _fit_line(wave, sim.flux[0], lam0)[2]
        assert abs(2.3548 * abs(s) / expected - 1) < 0.04, (lam0, 2.3548 * abs(s), expected)
    assert sim.meta["resolving_power"][0] == pytest.approx(4500.0 / fwhm)


def test_blue_arm_fwhm_drawn_per_spectrum_in_range():
    config = SimulationConfig(**CLEAN, blue_fwhm=(2.0, 4.0))
    sim = simulate_rows(_line_library(4500.0, 10.0), np.zeros(40, int), 3, config, rv=0.0,
                        snr=1e5)
    fwhm = 4500.0 / np.asarray(sim.meta["resolving_power"])
    assert fwhm.min() >= 2.0 and fwhm.max() <= 4.0 and np.ptp(fwhm) > 1.0
    # narrower recorded FWHM, deeper line core
    depth = 1 - sim.flux.min(axis=1) / np.median(sim.flux, axis=1)
    assert np.corrcoef(fwhm, depth)[0, 1] < -0.9
    assert SimulationConfig().blue_fwhm is None


def test_grid_variation_masks_and_meta():
    lib = analytic_templates(2, seed=1, classes=("BHB",))
    cfg = SimulationConfig(bad_segment_rate=3.0, cosmic_rate=3.0)
    sim = simulate_rows(lib, np.zeros(60, int), 5, cfg)
    npix, start = np.asarray(sim.meta["npix"]), np.asarray(sim.meta["start"])
    assert npix.min() >= 3751 - 200 and (start + npix).max() <= 3909
    assert (sim.meta["n_masked"] > 0).all()
    assert sim.meta["n_cosmic"].sum() > 0
    bad = sim.ivar <= 0
    assert np.all(sim.flux[bad] == 0)
    assert np.all(sim.andmask[sim.andmask != 0] > 0) and (sim.andmask > 0).sum() > 0
    assert set(sim.meta["label"]) == {"BHB"} and set(sim.meta["class"]) == {"STAR"}
    rec = sim.record(0)
    np.testing.assert_allclose(rec.wavelength, lamost_wavelength(start[0], npix[0]))
    assert rec.meta["z_err"] > 0 and abs(rec.meta["z"] - rec.meta["z_true"]) < 10 * rec.meta[
        "z_err"]


def test_junk_negatives():
    sim = simulate_junk(["galaxy", "qso", "noise"], 3)
    assert list(sim.meta["label"]) == ["other"] * 3
    assert list(sim.meta["class"]) == ["GALAXY", "QSO", "Unknown"]
    assert sim.meta["z"][0] > 0.005 and sim.meta["z"][2] == -9999.0
    assert np.isfinite(sim.flux).all()


# ------------------------------------------------------------------------ library


def test_library_star_ids_split_save_load(tmp_path):
    lib = build_library(n_per_class=8, seed=2, analytic_stars_per_class=3, snr=(20, 50))
    assert len(lib) == 8 * len(CLASSES)
    assert lib.provenance["counts"] == {c: 8 for c in CLASSES}
    stars = lib.star_ids
    star_only = np.asarray(lib.meta["source"]) == "analytic"
    # 3 analytic stars per class, each used for several spectra
    assert np.unique(stars[star_only]).size == 3 * len(CLASSES)
    train, val, test = lib.split_by_star((0.34, 0.33, 0.33), seed=0)
    assert len(train) + len(val) + len(test) == len(lib)
    assert not set(stars[train]) & set(stars[test]) and not set(stars[val]) & set(stars[test])
    path = tmp_path / "lib.asdf"
    lib.save(path)
    back = TrainingLibrary.load(path)
    np.testing.assert_array_equal(back.flux, lib.flux)
    np.testing.assert_array_equal(back.andmask, lib.andmask)
    assert back.meta.colnames == lib.meta.colnames
    assert list(back.meta["star_id"]) == list(lib.meta["star_id"])
    assert back.meta["rv"].unit == "km/s"
    assert back.provenance == lib.provenance
    (tmp_path / "junk.asdf").write_bytes(b"not asdf")
    with pytest.raises(ModelFileError):
        TrainingLibrary.load(tmp_path / "junk.asdf")


def test_library_to_raw_batch():
    lib = build_library(n_per_class=2, seed=5, augment="heavy")
    raw = lib.to_raw_batch()
    assert raw.flux.shape[0] == len(lib) and raw.flux.dtype == np.float32
    for i in range(len(lib)):
        k = raw.npix[i]
        s = lib.meta["start"][i]
        np.testing.assert_allclose(raw.wavelength[i, :k], lamost_wavelength(s, k))
        np.testing.assert_array_equal(raw.flux[i, :k], lib.flux[i, s:s + k])
        assert np.all(raw.mask[i, k:]) and np.all(np.isnan(raw.wavelength[i, k:]))
    assert list(raw.meta["label"]) == list(lib.meta["label"])
    assert (raw.ok).all()


def test_build_library_rejects_bad_input():
    with pytest.raises(ConfigurationError, match="augment"):
        build_library(n_per_class=1, augment="extreme")
    with pytest.raises(ConfigurationError, match="unknown classes"):
        build_library(n_per_class=1, classes=("BHB", "sdB"))


# ------------------------------------------------------------------------ real data


@pytest.mark.realdata
def test_miles_air_to_vacuum_and_labels(shared_data):
    from bhbfinder.simulate import load_miles

    lib = load_miles(shared_data / "miles")
    assert len(lib) == 136 and lib.fwhm == 2.5
    assert lib.class_counts()["BHB"] == 9          # data README: 7 in the box + 2 HB types
    row = int(np.flatnonzero(np.asarray(lib.labels["name"]) == "HD031295")[0])   # A0V
    lam = LINES_VACUUM["Hgamma"]
    m = np.abs(lib.wavelength - lam) < 4
    p = np.polyfit(lib.wavelength[m] - lam, lib.flux[row, m], 2)
    centre = lam - p[1] / (2 * p[0])
    assert abs(centre - 4341.69) < 0.4              # vacuum, not air (4340.47)
    assert lib.meta["native_end_vacuum"] < 7420 and lib.wavelength[-1] > 9100
    sim = simulate(lib, 4, seed=1, classes=("BHB",))
    assert set(sim.meta["label"]) == {"BHB"} and np.isfinite(sim.flux).all()
    with_params = load_miles(shared_data / "miles", labels="paramsMILES_v9.1.txt",
                             extend_to=None)
    assert list(with_params.labels["label"]) == list(lib.labels["label"])
    # without the red extension, pixels beyond MILES are masked as NODATA
    sim = simulate_rows(with_params, [row], 1, SimulationConfig(**CLEAN), rv=0.0, snr=50)
    red = lamost_wavelength() > 7420
    assert np.all(sim.ivar[0, red] == 0) and np.all(sim.andmask[0, red] & 32)
    assert np.all(sim.ivar[0, ~red & (lamost_wavelength() < 7400)] > 0)


@pytest.mark.realdata
def test_eigenstars_load_with_mapped_classes(shared_data):
    from bhbfinder.simulate import load_eigenstars

    lib = load_eigenstars(shared_data / "templates" / "spEigenStar-55734.fits")
    assert len(lib) == 123 and lib.flux.shape == (123, 5933)
    assert abs(lib.wavelength[0] - 10 ** 3.4842) < 1e-6
    label = dict(zip(lib.labels["name"], lib.labels["label"], strict=False))
    assert label["A0 (19510)"] == "A" and label["A9V (154660)"] == "A"
    assert label["B9 (105262)"] == "B" and label["O8e (188001)"] == "B"
    assert label["WDhotter"] == "WD" and label["WDcooler"] == "WD"
    assert label["sdF3 (140283)"] == "other" and label["K3V (32147)"] == "other"
    assert label["A2Ia (14489)"] == "other"     # supergiant: hard negative
    sim = simulate(lib, 3, seed=2, classes=("WD",))
    assert set(sim.meta["label"]) == {"WD"}


# ------------------------------------------------------------------------ files


@pytest.mark.parametrize("layout, compress, dialect", [("A", False, "dr6"), ("B", "gzip", "dr6"),
                                                       ("A", "gzip-as-fits", "dr1")])
def test_files_round_trip_through_reader(tmp_path, layout, compress, dialect):
    from bhbfinder.io.lamost import read_lamost
    from bhbfinder.simulate import simulate_files

    lib = analytic_templates(1, seed=3, classes=("BHB", "A"))
    sim = simulate(lib, 3, seed=9, junk_fraction=0.34)
    truth = simulate_files(tmp_path, sim, layout=layout, compress=compress, dialect=dialect)
    back = Table.read(tmp_path / "truth.ecsv")
    assert list(back["label"]) == list(sim.meta["label"])
    assert list(back["star_id"]) == list(sim.meta["star_id"])
    for i, name in enumerate(truth["file"]):
        arr = read_lamost(tmp_path / name)
        s, k = int(sim.meta["start"][i]), int(sim.meta["npix"][i])
        np.testing.assert_allclose(arr.wavelength, lamost_wavelength(s, k), rtol=1e-6)
        np.testing.assert_array_equal(arr.flux, sim.flux[i, s:s + k])
        np.testing.assert_array_equal(arr.ivar, sim.ivar[i, s:s + k])
        np.testing.assert_array_equal(arr.mask, sim.ivar[i, s:s + k] <= 0)
        z = sim.meta["z"][i]
        assert arr.meta["z"] == (None if z == -9999.0 else pytest.approx(z))
        assert sim.record(i).meta["z"] == (None if z == -9999.0 else pytest.approx(z))
        assert arr.meta["snr_g"] == pytest.approx(sim.meta["snr_g"][i], rel=1e-5)
        if dialect == "dr6":
            assert arr.meta["obsid"] == sim.meta["obsid"][i]


def test_cli_simulate_writes_files_and_truth(tmp_path):
    from bhbfinder.cli import main
    from bhbfinder.io.lamost import read_lamost

    out = tmp_path / "sim"
    assert main(["simulate", str(out), "-n", "4", "--seed", "3", "--classes", "BHB", "WD",
                 "--snr", "30", "--layout", "B", "--gzip"]) == 0
    truth = Table.read(out / "truth.ecsv")
    assert len(truth) == 4 and sorted(truth["label"]) == ["BHB", "BHB", "WD", "WD"]
    for name in truth["file"]:
        assert name.endswith(".fits.gz")
        assert read_lamost(out / name).flux.size > 3700
    assert main(["simulate", str(out), "-n", "2", "--snr", "1", "2", "3"]) == 1


def test_simulate_files_from_a_number(tmp_path):
    from bhbfinder.simulate import simulate_files

    truth = simulate_files(tmp_path, 3, seed=4, classes=("BHB", "A"), snr=40,
                           compress="gzip-as-fits")
    assert sorted(truth["label"]) == ["A", "BHB", "BHB"]
    assert all(name.endswith(".fits") for name in truth["file"])
    assert (tmp_path / truth["file"][0]).read_bytes()[:2] == b"\x1f\x8b"   # gzip content


@pytest.mark.realdata
def test_analytic_model_reproduces_miles_hdelta_widths(shared_data):
    """The analytic model at the MILES stars' own parameters gives their Hδ D0.2 (R = 1800)."""
    from bhbfinder.simulate import load_miles

    miles = load_miles(shared_data / "miles")
    lab = miles.labels
    teff, logg = np.asarray(lab["teff"], float), np.asarray(lab["logg"], float)
    rows = np.flatnonzero(np.isin(np.asarray(lab["label"]), ["A", "BHB", "B"])
                          & (teff > 7200) & (teff < 12500) & np.isfinite(logg))
    feh = np.nan_to_num(np.asarray(lab["feh"], float)[rows])
    params = Table({"label": np.where(np.asarray(lab["label"])[rows] == "BHB", "BHB", "A"),
                    "teff": teff[rows], "logg": logg[rows], "feh": feh})
    log_w, f_miles = degrade_templates(miles, rows, 1800.0)
    _, f_model = degrade_templates(analytic_templates(params=params), np.arange(len(rows)),
                                   1800.0)
    wave = 10 ** log_w
    lam = LINES_VACUUM["Hdelta"]
    side = (np.abs(wave - lam) > 100) & (np.abs(wave - lam) < 120)
    core = np.abs(wave - lam) < 60

    def d02(f):
        y = f / np.polyval(np.polyfit(wave[side] - lam, f[side], 1), wave - lam)
        below = wave[core][y[core] < 0.8]
        return below.max() - below.min()

    diff = np.array([d02(a) - d02(b) for a, b in zip(f_model, f_miles, strict=True)])
    assert len(rows) > 50
    assert abs(diff.mean()) < 3.0                     # Å; measured +0.9
    assert np.sqrt(np.mean(diff ** 2)) < 10.0         # Å; measured 7.5 (catalogue log g scatter)


def test_interstellar_ca_k_has_the_requested_width_at_rest():
    """The interstellar K line sits at its rest wavelength, not the star's velocity, with the
    equivalent width asked for; off by default."""
    from bhbfinder.simulate.simulator import SimulationConfig

    lib = analytic_templates(params={"label": ["HotSD"], "teff": [30000.0], "logg": [5.5],
                                     "feh": [-1.0]})
    clean = SimulationConfig(vary_grid=False, bad_segment_rate=0, cosmic_rate=0, edge_bad_max=0,
                             ism_rv_sigma=0.0)
    w = lamost_wavelength()
    base = simulate_rows(lib, [0], 1, config=clean, rv=[300.0], snr=[5000.0]).flux[0]

    def k_width(cfg):
        ratio = simulate_rows(lib, [0], 1, config=cfg, rv=[300.0], snr=[5000.0]).flux[0] / base
        near = np.abs(w - 3934.78) < 20
        side = near & (np.abs(w - 3934.78) > 6)
        cont = np.polyval(np.polyfit(w[side], ratio[side], 1), w)
        core = np.abs(w - 3934.78) < 6
        return np.sum((1 - ratio[core] / cont[core]) * np.gradient(w)[core])

    assert k_width(clean.replace(ism_cak_ew=0.3)) == pytest.approx(0.3, abs=0.01)
    assert abs(k_width(clean)) < 1e-6
    assert SimulationConfig().ism_cak_ew == 0.0


# ------------------------------------------------------------------------ label-space stars

class _LineGenerator:
    """A toy generator: a Balmer-like line whose depth grows with log g, on a fixed grid."""

    def __init__(self):
        self.meta = {"wavelength": 10 ** (3.58 + 1e-4 * np.arange(1192))}

    def predict_spectra(self, labels):
        labels = np.atleast_2d(labels)
        w = self.meta["wavelength"]
        depth = 0.1 * labels[:, 1:2]
        return 1.0 - depth * np.exp(-0.5 * ((w[None, :] - 4102.9) / 8.0) ** 2)


def test_label_space_is_dense_at_the_kiel_box_edges():
    from bhbfinder.simulate.generated import sample_label_space

    rng = np.random.default_rng(0)
    t = sample_label_space(20000, rng)
    lo, hi = culpan_kiel_limits(np.asarray(t["teff"]))
    g = np.asarray(t["logg"])
    near = (np.abs(g - lo) < 0.1) | (np.abs(g - hi) < 0.1)
    far = (np.abs(g - lo) > 0.6) & (np.abs(g - hi) > 0.6) & (g > 2.5) & (g < 4.6)
    # per 0.1 dex of log g, the edges are drawn several times more densely than elsewhere
    assert near.mean() / 0.4 > 2.0 * far.mean() / max(np.ptp(g) - 1.2 - 0.4, 0.1)
    assert t["teff"].min() >= 7000 and t["teff"].max() <= 12500


def test_generated_templates_labels_follow_the_rule_and_spectra_the_generator():
    from bhbfinder.simulate import classify_star
    from bhbfinder.simulate.generated import generated_templates

    gen = _LineGenerator()
    lib = generated_templates(gen, {"BHB": 30, "A": 30, "B": 10}, seed=4, max_distance=None)
    assert lib.class_counts()["BHB"] == 30 and lib.class_counts()["B"] == 10
    lab = lib.labels
    for row in lab:
        assert classify_star(row["teff"], row["logg"], row["feh"]) == row["label"]
    assert len(set(lab["star_id"])) == len(lab)
    flux = lib.template_flux(np.arange(len(lab)))
    core = np.argmin(np.abs(lib.wavelength - 4102.9))
    # the line depth carries the label (under a smooth Planck slope)
    ratio = flux[:, core] / (0.5 * (flux[:, core - 40] + flux[:, core + 40]))
    assert np.corrcoef(np.asarray(lab["logg"]), 1 - ratio)[0, 1] > 0.99
    # simulated like any library
    sim = simulate_rows(lib, np.arange(5), 0, SimulationConfig(**CLEAN), rv=0.0, snr=1e4)
    assert np.isfinite(sim.flux).all()


def test_generated_templates_refuse_an_empty_class():
    from bhbfinder.simulate.generated import generated_templates

    with pytest.raises(ConfigurationError, match="too few"):
        generated_templates(_LineGenerator(), {"WD": 1}, max_distance=None, max_draws=5000)
    with pytest.raises(ConfigurationError, match="wavelength"):
        generated_templates(object(), {"BHB": 1})


def test_blue_arm_fwhm_records_what_a_coarse_template_allows():
    """A 2.5 Å template (MILES) cannot be rendered at 2 Å: the recorded R says 2.5 Å."""
    lib = _line_library(4500.0, 10.0, fwhm=2.5)
    sim = simulate_rows(lib, np.zeros(30, int), 1, SimulationConfig(**CLEAN, blue_fwhm=(2.0, 4.0)),
                        rv=0.0, snr=1e4)
    fwhm = 4500.0 / np.asarray(sim.meta["resolving_power"])
    assert fwhm.min() == pytest.approx(2.5) and fwhm.max() > 3.0
    drawn_sharp = np.isclose(fwhm, 2.5)
    assert 0 < drawn_sharp.sum() < 30
