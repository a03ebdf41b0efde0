"""The prepare stage: grids, resampling, radial velocity, continuum, cleaning, config.

Known-answer tests on spectra made here with numpy (never the package's own RV templates, so the
cross-correlation is tested against a model it was not built from).
"""

import asdf
import astropy.units as u
import numpy as np
import pytest

from bhbfinder.batch import RawBatch
from bhbfinder.errors import ConfigurationError, PreprocessingMismatchError
from bhbfinder.io.base import SpectrumArrays
from bhbfinder.spectra.clean import CleanConfig, flag_spikes
from bhbfinder.spectra.continuum import ContinuumConfig, fit_continuum
from bhbfinder.spectra.grid import GRIDS, ModelGrid, get_grid
from bhbfinder.spectra.lines import C_KMS, LINES_VACUUM
from bhbfinder.spectra.prepare import (
    PrepareConfig,
    PrepareStage,
    catalog_redshift,
    check_compatible,
    prepare,
)
from bhbfinder.spectra.resample import resample_batch
from bhbfinder.spectra.rv import RVConfig

LAMOST_LOGLAM0 = 3.5682
LAMOST_NPIX = 3909

# a star unlike the RV templates: Gaussian-cored Balmer lines + a few metal lines
STAR_LINES = {
    "bhb": [(n, 0.55, 4.5, 0.0) for n in ("Hbeta", "Hgamma", "Hdelta", "Hepsilon", "H8")]
    + [("CaII_K", 0.1, 1.2, 0.0)],
    "f": [(n, 0.35, 2.5, 2.0) for n in ("Hbeta", "Hgamma", "Hdelta", "Hepsilon")]
    + [("CaII_K", 0.6, 2.0, 0.0), ("CaII_H", 0.5, 2.0, 0.0)],
}


def star(wave_rest, kind="bhb"):
    """Normalised model spectrum (Gaussian core σ + Lorentzian wing γ per line)."""
    flux = np.ones_like(wave_rest)
    for name, depth, sigma, gamma in STAR_LINES[kind]:
        x = wave_rest - LINES_VACUUM[name]
        prof = np.exp(-0.5 * (x / sigma) ** 2)
        if gamma:
            prof = 0.6 * prof + 0.4 / (1 + (x / gamma) ** 2)
        flux *= 1 - depth * prof
    return flux


def smooth_continuum(wave):
    x = (wave - 4500.0) / 1500.0
    return 100.0 * (1 + 0.4 * x - 0.3 * x**2 + 0.1 * x**3)


def lamost_like(n, rng, snr=30.0, rv=None, kind="bhb", z=None, z_err=1e-5, offset=True):
    """A RawBatch of LAMOST-like spectra (native grids of 3751–3909 px, own starts)."""
    records = []
    rv = np.zeros(n) if rv is None else np.asarray(rv, float)
    for i in range(n):
        start = rng.integers(0, 20) if offset else 0
        k = int(rng.integers(3751, LAMOST_NPIX + 1)) if offset else LAMOST_NPIX
        wave = 10 ** (LAMOST_LOGLAM0 + 1e-4 * (start + np.arange(k)))
        model = star(wave / (1 + rv[i] / C_KMS), kind) * smooth_continuum(wave)
        sigma = model / snr
        flux = model + rng.normal(size=k) * sigma
        meta = {"file": f"fake-{i}.fits", "z": None if z is None else z[i], "z_err": z_err}
        records.append(SpectrumArrays(wave, flux.astype(np.float32),
                                      (1 / sigma**2).astype(np.float32), np.zeros(k, bool),
                                      meta))
    return RawBatch.from_records(records)


# ---------------------------------------------------------------- grids


def test_default_grid_is_loglinear_blue():
    grid = get_grid()
    assert grid.name == "blue-3800-5000"
    assert grid.npix == 1192
    assert grid.wavelength[0] == pytest.approx(3800.0)
    assert 4995 < grid.wavelength[-1] <= 5000
    assert np.allclose(np.diff(np.log10(grid.wavelength)), 1e-4)
    # edges bracket the centres, geometric midpoints
    assert np.allclose(np.sqrt(grid.edges[:-1] * grid.edges[1:]), grid.wavelength)
    assert grid.velocity_step == pytest.approx(69.04, abs=0.01)
    assert {"blue-3800-5000", "lamost-full"} <= set(GRIDS)


def test_grid_dict_round_trip_and_errors():
    grid = ModelGrid("x", 4000, 4500, 2e-4)
    assert ModelGrid.from_dict(grid.to_dict()) == grid
    assert get_grid(grid.to_dict()) == grid
    assert grid != ModelGrid("x", 4000, 4600, 2e-4)
    with pytest.raises(ConfigurationError, match="unknown model grid"):
        get_grid("nope")
    with pytest.raises(ConfigurationError, match="wave_min"):
        ModelGrid("bad", 5000, 4000)


# ---------------------------------------------------------------- resampling


def _edges(wave):
    """Pixel edges as the resampler places them: midpoints, outer half-pixels mirrored."""
    edges = np.empty(wave.size + 1)
    edges[1:-1] = 0.5 * (wave[1:] + wave[:-1])
    edges[0] = 1.5 * wave[0] - 0.5 * wave[1]
    edges[-1] = 1.5 * wave[-1] - 0.5 * wave[-2]
    return edges


def test_rebin_by_two_mean_and_variance():
    wave = 10 ** (3.6 + 1e-4 * np.arange(200))
    edges_in = _edges(wave)
    flux = np.linspace(1, 2, 200)
    ivar = np.full(200, 4.0)
    ivar[1::2] = 1.0                                  # σ² = 0.25 and 1 alternately
    out_edges = edges_in[::2]
    f, iv, m, cov = resample_batch(wave[None], flux[None], ivar[None], np.zeros((1, 200), bool),
                                   out_edges)
    widths = np.diff(edges_in)
    w0, w1 = widths[0::2], widths[1::2]
    expect = (w0 * flux[0::2] + w1 * flux[1::2]) / (w0 + w1)
    expect_var = (w0**2 * 0.25 + w1**2 * 1.0) / (w0 + w1) ** 2
    assert not m.any()
    assert np.allclose(f[0], expect, rtol=1e-12)
    assert np.allclose(1 / iv[0], expect_var, rtol=1e-9)
    assert np.allclose(cov, 1.0)
    # equal σ: rebinning by two halves the variance (of the mean)
    f, iv, m, _ = resample_batch(wave[None], flux[None], np.ones((1, 200)),
                                 np.zeros((1, 200), bool), out_edges)
    assert np.allclose(iv[0], 2.0, rtol=2e-4)


def test_resampling_conserves_flux_integral():
    rng = np.random.default_rng(1)
    wave = 10 ** (LAMOST_LOGLAM0 + 1e-4 * np.arange(1000))
    flux = rng.uniform(0.5, 2.0, 1000)
    edges_in = _edges(wave)
    # a grid with another step and phase, inside the coverage
    out_edges = 10 ** np.arange(np.log10(wave[5]), np.log10(wave[-5]), 1.37e-4)
    f, iv, m, _ = resample_batch(wave[None], flux[None], np.ones((1, 1000)),
                                 np.zeros((1, 1000), bool), out_edges)
    assert not m.any()
    cum = np.concatenate([[0], np.cumsum(flux * np.diff(edges_in))])
    expect = np.interp(out_edges[-1], edges_in, cum) - np.interp(out_edges[0], edges_in, cum)
    assert np.sum(f[0] * np.diff(out_edges)) == pytest.approx(expect, rel=1e-12)


def test_resampled_variance_matches_monte_carlo():
    rng = np.random.default_rng(2)
    wave = 10 ** (3.6 + 1e-4 * np.arange(300))
    sigma = rng.uniform(0.5, 2.0, 300)
    out_edges = 10 ** np.arange(3.6 + 2e-4, 3.6 + 0.028, 0.73e-4)   # finer than the input
    nreal = 4000
    flux = rng.normal(size=(nreal, 300)) * sigma
    ivar = np.broadcast_to(1 / sigma**2, (nreal, 300))
    f, iv, m, _ = resample_batch(np.broadcast_to(wave, (nreal, 300)), flux, ivar,
                                 np.zeros((nreal, 300), bool), out_edges)
    assert not m.any()
    ratio = f.var(axis=0) * iv[0]
    assert np.all(np.abs(ratio - 1) < 0.15)
    assert abs(ratio.mean() - 1) < 0.02


def test_masked_and_outside_pixels_are_masked_not_invented():
    wave = 10 ** (3.6 + 1e-4 * np.arange(100))
    flux = np.ones(100)
    ivar = np.ones(100)
    mask = np.zeros(100, bool)
    flux[50] = 1e6                     # a masked pixel must contribute nothing
    mask[50] = True
    grid = ModelGrid("t", 10 ** 3.599, 10 ** 3.6115, 1e-4)   # runs past the red end
    f, iv, m, cov = resample_batch(wave[None], flux[None], ivar[None], mask[None], grid.edges)
    assert f.max() == pytest.approx(1.0)
    covered = (grid.wavelength > wave[0]) & (grid.wavelength < wave[-1])
    assert m[0, grid.wavelength > wave[-1] + 1].all()
    assert (f[0, m[0]] == 0).all() and (iv[0, m[0]] == 0).all()
    # the output pixel at the masked input pixel has no good overlap
    j = np.argmin(np.abs(grid.wavelength - wave[50]))
    assert m[0, j]
    assert not m[0, covered & (np.abs(np.arange(grid.npix) - j) > 1)].any()


def test_padded_rows_and_empty_rows():
    rng = np.random.default_rng(3)
    raw = lamost_like(3, rng)
    wave = raw.wavelength.copy()
    wave[2] = np.nan                  # a failed file: no pixels
    npix = raw.npix.copy()
    npix[2] = 0
    grid = get_grid()
    f, iv, m, _ = resample_batch(wave, raw.flux, raw.ivar, raw.mask, grid.edges, npix=npix)
    assert m[2].all() and not m[:2].any()
    assert np.isfinite(f).all() and np.isfinite(iv).all()


# ---------------------------------------------------------------- continuum


def _clear_windows(wave):
    """Pixels far from every line of STAR_LINES."""
    far = np.ones(wave.shape, bool)
    for centre in list(LINES_VACUUM.values()) + [3836.47, 3798.98]:
        far &= np.abs(wave - centre) > 40
    return far


def _normalise_many(snr, n, rng, poisson=False):
    grid = get_grid()
    wave = grid.wavelength
    true = smooth_continuum(wave)
    model = star(wave) * true
    sigma = model / snr
    flux = model + rng.normal(size=(n, wave.size)) * sigma
    ivar = np.broadcast_to(1 / sigma**2, flux.shape)
    if poisson:   # ivar estimated from the noisy flux itself, as pipelines do
        ivar = snr**2 / np.maximum(flux, 1e-3) ** 2
    cont, ok = fit_continuum(wave, flux, ivar, np.zeros(flux.shape, bool))
    assert ok.all()
    return cont / true, _clear_windows(wave)


def test_continuum_recovered_to_one_percent_at_snr20():
    rng = np.random.default_rng(4)
    ratio, clear = _normalise_many(20.0, 100, rng)
    # every single spectrum, away from lines, within 1 % on average
    per_spectrum = np.abs(ratio[:, clear] - 1).mean(axis=1)
    assert per_spectrum.max() < 0.01
    assert np.abs(ratio.mean(axis=0)[clear] - 1).max() < 0.01


@pytest.mark.parametrize("poisson", [False, True])
def test_continuum_has_no_snr_dependent_bias(poisson):
    rng = np.random.default_rng(5)
    low, clear = _normalise_many(5.0, 400, rng, poisson)
    high, _ = _normalise_many(200.0, 50, rng, poisson)
    assert abs(low.mean() - high.mean()) < 0.003
    assert abs(low[:, clear].mean() - high[:, clear].mean()) < 0.003


def test_continuum_survives_white_dwarf_lines():
    grid = get_grid()
    wave = grid.wavelength
    flux = smooth_continuum(wave)
    for name in ("Hbeta", "Hgamma", "Hdelta", "Hepsilon", "H8"):
        flux = flux * (1 - 0.7 / (1 + ((wave - LINES_VACUUM[name]) / 25.0) ** 2))
    cont, ok = fit_continuum(wave, flux[None], np.full((1, wave.size), 1e4),
                             np.zeros((1, wave.size), bool))
    assert ok.all() and np.all(cont > 0)
    # a pseudo-continuum through the line peaks: never far below the spectrum's upper envelope
    assert np.all(cont[0] < 1.1 * smooth_continuum(wave))
    assert np.median(flux / cont[0]) < 1.02


# ---------------------------------------------------------------- cleaning


def test_spike_cleaning_flags_cosmic_rays_not_lines():
    rng = np.random.default_rng(6)
    raw = lamost_like(20, rng, snr=100.0)
    flux = raw.flux.copy()
    hits = rng.integers(100, 3700, size=(20, 3))
    for i in range(20):
        flux[i, hits[i]] *= 3.0
    flags = flag_spikes(flux, raw.ivar, raw.mask)
    for i in range(20):
        assert flags[i, hits[i]].all()
    assert flags.sum() == hits.size          # nothing else: absorption lines stay
    assert not flag_spikes(flux, raw.ivar, raw.mask, CleanConfig(enabled=False)).any()


# ---------------------------------------------------------------- radial velocity


@pytest.mark.parametrize("kind", ["bhb", "f"])
def test_shifted_spectrum_returns_to_rest_within_a_tenth_pixel(kind):
    rng = np.random.default_rng(7)
    rv = np.array([-450.0, -180.0, -33.3, 0.0, 21.7, 140.0, 305.5, 480.0])
    raw = lamost_like(rv.size, rng, snr=60.0, rv=rv, kind=kind)
    out = prepare(raw, PrepareConfig(rest_frame="xcorr"))
    assert (out.meta["rv_source"] == "xcorr").all()
    step = get_grid().velocity_step
    dpix = (np.asarray(out.meta["rv"]) - rv) / step
    # every shift is undone to 0.1 px of where the same star at rest lands
    assert np.abs(dpix - dpix[rv == 0]).max() < 0.1
    err = np.asarray(out.meta["rv_err"])
    assert np.all((err > 0) & (err < 0.2 * step))
    if kind == "f":
        # the star is not one of the analytic templates (Ca II H / Hε blend ratio differs):
        # a constant zero-point offset, small
        assert abs(dpix[rv == 0][0]) < 0.15
        return
    assert np.abs(dpix).max() < 0.1
    # and the prepared spectra line up with an unshifted one to 0.1 px
    rest = prepare(lamost_like(1, rng, snr=1e4, kind=kind, offset=False),
                   PrepareConfig(rest_frame="observed"))
    wave = out.wavelength
    core = np.abs(wave - LINES_VACUUM["Hgamma"]) < 40
    ref = rest.flux[0, core] - 1
    for row in out.flux[:, core] - 1:
        lags = np.arange(-3, 4)
        cc = [np.sum(np.roll(ref, k)[5:-5] * row[5:-5]) for k in lags]
        j = int(np.argmax(cc))
        peak = lags[j] + 0.5 * (cc[j - 1] - cc[j + 1]) / (cc[j - 1] - 2 * cc[j] + cc[j + 1])
        assert abs(peak) < 0.1


def test_rv_uncertainty_is_calibrated():
    rng = np.random.default_rng(8)
    rv = rng.uniform(-300, 300, 150)
    raw = lamost_like(rv.size, rng, snr=15.0, rv=rv)
    out = prepare(raw, PrepareConfig(rest_frame="xcorr"))
    pull = (np.asarray(out.meta["rv"]) - rv) / np.asarray(out.meta["rv_err"])
    assert 0.6 < np.std(pull) < 1.5
    assert abs(np.mean(pull)) < 0.3


def test_catalogue_redshift_trust_rules():
    rng = np.random.default_rng(9)
    rv = np.full(6, 120.0)
    z = [120.0 / C_KMS, -9999.0, None, 0.1, 120.0 / C_KMS, 120.0 / C_KMS]
    raw = lamost_like(6, rng, snr=40.0, rv=rv, z=z)
    raw.meta["z_err"][4] = -9999.0            # flagged
    raw.meta["z_err"][5] = 0.01               # too uncertain
    _, _, trusted = catalog_redshift(raw.meta, PrepareConfig())
    assert trusted.tolist() == [True, False, False, False, False, False]
    out = prepare(raw)
    assert out.meta["rv_source"].tolist() == ["catalog"] + ["xcorr"] * 5
    assert out.meta["rv"][0] == pytest.approx(120.0)
    assert np.allclose(out.meta["rv"][1:], 120.0, atol=8.0)
    catalog_only = prepare(raw, PrepareConfig(rest_frame="catalog"))
    assert catalog_only.meta["rv_source"].tolist() == ["catalog"] + ["none"] * 5
    assert np.isnan(catalog_only.meta["rv"][1:]).all()
    assert (catalog_only.meta["status"] == "ok").all()


def test_rv_failure_keeps_observed_frame_or_fails():
    rng = np.random.default_rng(10)
    raw = lamost_like(2, rng, snr=50.0, rv=[0.0, 0.0])
    k = raw.npix[1]
    featureless = smooth_continuum(raw.wavelength[1, :k])
    raw.flux[1, :k] = featureless + rng.normal(size=k) * featureless / 50.0
    raw.ivar[1, :k] = (50.0 / featureless) ** 2
    out = prepare(raw, PrepareConfig(rest_frame="xcorr"))
    assert out.meta["rv_source"].tolist() == ["xcorr", "none"]
    assert np.isnan(out.meta["rv"][1]) and out.meta["status"][1] == "ok"
    failed = prepare(raw, PrepareConfig(rest_frame="xcorr", rv_failure="fail"))
    assert failed.meta["status"].tolist() == ["ok", "no radial velocity"]
    assert failed.mask[1].all() and (failed.ivar[1] == 0).all()


# ---------------------------------------------------------------- the stage


def test_prepare_output_contract():
    rng = np.random.default_rng(11)
    good = lamost_like(2, rng, rv=[50.0, -80.0], z=[50.0 / C_KMS, -80.0 / C_KMS])
    red_only = SpectrumArrays(np.linspace(6000, 9000, 2000), np.ones(2000, np.float32),
                              np.ones(2000, np.float32), np.zeros(2000, bool),
                              {"file": "red.fits", "z": 0.0, "z_err": 1e-5})
    records = [SpectrumArrays(good.wavelength[i, :good.npix[i]], good.flux[i, :good.npix[i]],
                              good.ivar[i, :good.npix[i]], good.mask[i, :good.npix[i]],
                              {"file": f"g{i}", "z": float(good.meta["z"][i]), "z_err": 1e-5})
               for i in range(2)]
    raw = RawBatch.from_records(records + [red_only, None],
                                metas=[r.meta for r in records] + [red_only.meta,
                                                                   {"file": "broken.fits"}],
                                statuses=["ok", "ok", "ok", "unreadable FITS"])
    out = prepare(raw)
    grid = get_grid()
    assert out.flux.shape == (4, grid.npix) and out.flux.dtype == np.float32
    assert out.ivar.dtype == np.float32 and out.mask.dtype == bool
    assert np.array_equal(out.wavelength, grid.wavelength)
    assert np.isfinite(out.flux).all() and np.isfinite(out.ivar).all()
    assert out.meta["status"].tolist() == ["ok", "ok", "no coverage of the grid",
                                           "unreadable FITS"]
    assert out.mask[2:].all() and (out.ivar[2:] == 0).all()
    assert (out.ivar[out.mask] == 0).all()
    assert out.meta["rv"].unit == u.km / u.s
    for name in ("rv", "rv_err", "rv_source", "snr_prepared"):
        assert out.meta[name].description
    assert np.all(np.asarray(out.meta["snr_prepared"][:2]) > 20)
    assert np.isnan(out.meta["snr_prepared"][2:]).all()
    # normalised: continuum ~ 1 away from lines
    clear = _clear_windows(grid.wavelength)
    assert np.abs(np.median(out.flux[:2, clear], axis=1) - 1).max() < 0.01
    assert out.config == PrepareConfig()
    spec = out.to_spectrum()
    assert spec.flux.shape == (4, grid.npix)


def test_prepare_stage_object():
    rng = np.random.default_rng(12)
    raw = lamost_like(2, rng, z=[0.0, 0.0])
    stage = PrepareStage(config={"grid": "lamost-full"})
    out = stage.run(raw)
    assert out.flux.shape == (2, GRIDS["lamost-full"].npix)
    assert out.config.grid.name == "lamost-full"
    assert "lamost-full" in repr(stage)


def test_prepare_stage_is_registered():
    from bhbfinder import plugins
    from bhbfinder.stages import get_stage

    assert "bhbfinder.stages.prepare" in plugins.BUILTIN_PLUGINS
    stage = get_stage("prepare")
    assert isinstance(stage, PrepareStage)
    assert stage.config == PrepareConfig()


# ---------------------------------------------------------------- configuration


def test_config_round_trips_through_asdf(tmp_path):
    config = PrepareConfig(grid="lamost-full", rv=RVConfig(max_velocity=800.0),
                           continuum=ContinuumConfig(degree=9), clean=CleanConfig(sigma=7.0))
    path = tmp_path / "model.asdf"
    asdf.AsdfFile({"preprocessing": config.to_dict()}).write_to(path)
    with asdf.open(path) as af:
        back = PrepareConfig.from_dict(af.tree["preprocessing"])
    assert back == config
    assert back != PrepareConfig()
    check_compatible(config, back)
    check_compatible(config.to_dict(), back)


def test_config_equality_and_validation():
    assert PrepareConfig() == PrepareConfig(grid=get_grid().to_dict())
    assert PrepareConfig() != PrepareConfig(continuum=ContinuumConfig(degree=4))
    with pytest.raises(ConfigurationError, match="rest_frame"):
        PrepareConfig(rest_frame="magic")
    with pytest.raises(ConfigurationError, match="unknown preprocessing keys"):
        PrepareConfig.from_dict({"colour": "blue"})
    with pytest.raises(ConfigurationError, match="templates"):
        RVConfig(templates=("Z",))


def test_mismatch_error_names_what_differs():
    model = PrepareConfig()
    batch = PrepareConfig(grid="lamost-full", continuum=ContinuumConfig(degree=7))
    with pytest.raises(PreprocessingMismatchError) as info:
        check_compatible(model, batch)
    message = str(info.value)
    assert "grid.name" in message and "continuum.degree" in message
    assert "rest_frame" not in message
    with pytest.raises(PreprocessingMismatchError, match="no preprocessing"):
        check_compatible(model, None)


def test_masked_pixels_filled_and_sparse_rows_fail():
    rng = np.random.default_rng(13)
    raw = lamost_like(2, rng, z=[0.0, 0.0], offset=False)
    wave = raw.wavelength[0]
    gap = (wave > 4500) & (wave < 4520)
    raw.mask[0, gap] = True
    raw.ivar[0, gap] = 0
    raw.flux[0, gap] = 1e5                    # garbage under the mask must not leak
    raw.mask[1, (wave > 3900) & (wave < 4700)] = True   # two thirds of the grid gone
    out = prepare(raw)
    assert out.meta["status"].tolist() == ["ok", "too few good pixels in grid"]
    inside = (out.wavelength > 4502) & (out.wavelength < 4518)
    assert out.mask[0, inside].all() and (out.ivar[0, inside] == 0).all()
    # linear between the good neighbours: stays within their range, no spike
    lo, hi = np.flatnonzero(inside)[[0, -1]]
    left, right = out.flux[0, lo - 2], out.flux[0, hi + 2]
    assert np.all(out.flux[0, inside] >= min(left, right) - 0.05)
    assert np.all(out.flux[0, inside] <= max(left, right) + 0.05)
    assert out.mask[1].all() and np.isfinite(out.flux).all()


def test_config_and_batch_pickle_for_worker_processes():
    import pickle

    config = PrepareConfig(grid="lamost-full")
    _ = config.grid.wavelength                 # a cached property must not break pickling
    assert pickle.loads(pickle.dumps(config)) == config
    assert hash(config) == hash(pickle.loads(pickle.dumps(config)))
    rng = np.random.default_rng(14)
    out = prepare(lamost_like(1, rng, z=[0.0]))
    back = pickle.loads(pickle.dumps(out))
    assert np.array_equal(back.flux, out.flux) and back.config == out.config
