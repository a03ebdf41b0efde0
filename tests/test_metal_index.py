"""The metallic-line index: known equivalent widths injected on known continua."""

import numpy as np
import pytest

from bhbfinder.balmer import BalmerStage
from bhbfinder.balmer import flags as F
from bhbfinder.balmer.metals import (
    EXCLUDED,
    INDEX_RANGE,
    METAL_LINES,
    measure_metal_index,
    metal_template,
)
from bhbfinder.balmer.profile import sersic_profile
from bhbfinder.batch import PreparedBatch, meta_table
from bhbfinder.spectra.lines import LINES_VACUUM

# the nominal LAMOST log-linear grid (Luo et al. 2015, RAA 15, 1095)
GRID = 10 ** (3.5682 + 1e-4 * np.arange(3909))


def _gauss_lines(wave, ew, fwhm, lines=METAL_LINES):
    """Absorption of Gaussian lines of equivalent width ``ew`` (Å) each, FWHM ``fwhm``."""
    return 1.0 - ew * metal_template(wave, fwhm, lines)


def _noisy(model, snr, n, seed):
    rng = np.random.default_rng(seed)
    flux = model[None, :] + rng.normal(0.0, 1.0 / snr, (n, model.size))
    return flux, np.full(flux.shape, snr ** 2), np.zeros(flux.shape, bool)


@pytest.mark.parametrize("ew", [0.0, 0.03, 0.12])
def test_recovers_injected_equivalent_width_with_honest_errors(ew):
    model = _gauss_lines(GRID, ew, 2.5)
    flux, ivar, mask = _noisy(model, 30.0, 400, seed=1)
    out = measure_metal_index(GRID, flux, ivar, mask, 2.5)
    assert (out["flags"] == 0).all()
    k, err = out["index"], out["index_err"]
    assert abs(np.mean(k) - ew) < 4 * np.std(k) / np.sqrt(len(k))
    # the formal error is the scatter of the estimates
    assert np.std(k) == pytest.approx(np.median(err), rel=0.15)


def test_balmer_wings_and_a_tilted_continuum_do_not_bias_it():
    ew = 0.05
    model = _gauss_lines(GRID, ew, 2.5)
    flat = measure_metal_index(GRID, model[None], np.full((1, GRID.size), 1e6),
                               np.zeros((1, GRID.size), bool), 2.5)["index"][0]
    curved = model * (1 + 0.1 * (GRID - 4400) / 600)
    for name, (a, b, c) in {"Hdelta": (0.7, 12.0, 0.8), "Hgamma": (0.7, 13.0, 0.8),
                            "Hbeta": (0.65, 14.0, 0.8)}.items():
        curved = curved * sersic_profile(GRID, a, b, c, LINES_VACUUM[name])
    k = measure_metal_index(GRID, curved[None], np.full((1, GRID.size), 1e6),
                            np.zeros((1, GRID.size), bool), 2.5)["index"][0]
    assert flat == pytest.approx(ew, rel=1e-3)
    # broad wings of a high-gravity A star: the segments' quadratics follow them
    assert k == pytest.approx(ew, rel=0.1)


def test_weaker_metal_lines_give_a_smaller_index_at_any_resolution():
    rich = _gauss_lines(GRID, 0.10, 3.5)
    poor = _gauss_lines(GRID, 0.01, 3.5)
    flux = np.stack([rich, poor])
    ivar = np.full(flux.shape, 1e6)
    mask = np.zeros(flux.shape, bool)
    for assumed in (2.0, 2.5, 4.0):
        k = measure_metal_index(GRID, flux, ivar, mask, assumed)["index"]
        assert k[0] > 5 * k[1] > 0


@pytest.mark.parametrize("true, factor", [(2.5, 1.0), (4.0, 0.62), (2.0, 1.16)])
def test_resolution_mismatch_scales_as_documented(true, factor):
    """Lines of FWHM ``true`` measured with the 2.5 Å template: the factors of the module
    docstring (exact where the widths match)."""
    ew = 0.08
    model = _gauss_lines(GRID, ew, true)
    out = measure_metal_index(GRID, model[None], np.full((1, GRID.size), 1e8),
                              np.zeros((1, GRID.size), bool), 2.5)
    assert out["index"][0] / ew == pytest.approx(factor, abs=0.02 if factor != 1 else 1e-6)


def test_flags_for_masked_uncovered_and_bad_rows():
    model = _gauss_lines(GRID, 0.05, 2.5)
    flux, ivar, mask = _noisy(model, 50.0, 3, seed=2)
    inside = (GRID > INDEX_RANGE[0]) & (GRID < INDEX_RANGE[1])
    mask[1, inside & (GRID < 4600)] = True          # most of the fit range masked
    rows = np.array([True, True, False])
    out = measure_metal_index(GRID, flux, ivar, mask, 2.5, rows=rows)
    assert out["flags"][0] == 0 and np.isfinite(out["index"][0])
    assert out["flags"][1] & F.MASKED and np.isnan(out["index"][1])
    assert out["flags"][2] & F.BAD_ROW and np.isnan(out["index"][2])
    short = GRID < 4500
    out = measure_metal_index(GRID[short], flux[:, short], ivar[:, short], mask[:, short], 2.5)
    assert (out["flags"] & F.NOT_COVERED).all() and np.isnan(out["index"]).all()


def test_balmer_cores_are_left_out_and_pixel_count_reported():
    model = np.ones(GRID.size)
    out = measure_metal_index(GRID, model[None], np.ones((1, GRID.size)),
                              np.zeros((1, GRID.size), bool), 2.5)
    inside = (GRID >= INDEX_RANGE[0]) & (GRID <= INDEX_RANGE[1])
    for centre, half in EXCLUDED:
        inside &= np.abs(GRID - centre) > half
    assert out["npix"][0] == inside.sum()


def test_stage_writes_the_index_columns():
    rich = _gauss_lines(GRID, 0.10, 2.5)
    poor = _gauss_lines(GRID, 0.01, 2.5)
    flux, ivar, mask = _noisy(np.ones(GRID.size), 100.0, 2, seed=3)
    flux = flux * np.stack([rich, poor])
    batch = PreparedBatch(GRID, flux.astype(np.float32), ivar.astype(np.float32), mask,
                          meta_table([{}] * 2))
    table = BalmerStage(criteria="xue2008").run(batch)
    k = np.asarray(table["metal_index"])
    assert str(table["metal_index"].unit) == "Angstrom"
    assert k[0] == pytest.approx(0.10, abs=5 * table["metal_index_err"][0])
    assert k[1] == pytest.approx(0.01, abs=5 * table["metal_index_err"][1])
    assert list(table["metal_flags"]) == [0, 0]
