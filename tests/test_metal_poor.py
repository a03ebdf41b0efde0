"""Metal-poor copies of hot stars: known line depths scaled, Balmer lines and labels kept."""

import numpy as np
import pytest
from astropy.table import Table

from bhbfinder.errors import ConfigurationError
from bhbfinder.simulate import TemplateLibrary
from bhbfinder.simulate.metal_poor import (
    metal_poor_copies,
    scale_metal_lines,
    with_metal_poor_copies,
)

WAVE = np.arange(3700.0, 5400.0, 0.9)
METAL = (4233.2, 4550.1, 5170.5)          # Fe II-like lines of depth 0.2
MG = 4482.38


def _gauss(centre, depth, sigma=1.1):
    return depth * np.exp(-0.5 * ((WAVE - centre) / sigma) ** 2)


def _spectrum(depth=0.2, mg_depth=0.15):
    continuum = 1.0 + 0.2 * (WAVE - 4500.0) / 1000.0
    balmer = 1.0 - 0.6 / (1.0 + ((WAVE - 4102.89) / 6.0) ** 2)      # broad, kept
    lines = 1.0 - sum(_gauss(c, depth) for c in METAL) - _gauss(MG, mg_depth)
    return continuum * balmer * lines, continuum * balmer


def _depth(flux, smooth, centre):
    i = np.argmin(np.abs(WAVE - centre))
    return 1.0 - flux[i] / smooth[i]


def test_known_depths_are_scaled_and_balmer_kept():
    flux, smooth = _spectrum()
    new = scale_metal_lines(WAVE, flux, -1.0, alpha_delta=-0.6)
    for c in METAL:
        assert _depth(new, smooth, c) == pytest.approx(0.02, abs=0.004)
    assert _depth(new, smooth, MG) == pytest.approx(0.15 * 10 ** -0.6, abs=0.005)
    core = np.abs(WAVE - 4102.89) < 18.0
    np.testing.assert_array_equal(new[core], flux[core])
    clean = np.ones(WAVE.size, bool)
    for c in METAL + (MG, 4102.89):
        clean &= np.abs(WAVE - c) > 30.0
    np.testing.assert_allclose(new[clean], flux[clean], rtol=2e-3)
    # no change asked: the spectrum comes back
    np.testing.assert_allclose(scale_metal_lines(WAVE, flux, 0.0), flux, rtol=1e-12)


def test_saturated_lines_weaken_by_their_optical_depth():
    """With ``saturation``, d = s (1 - exp(-tau)) and tau scales: a weak line as before, a
    strong one less than linearly (known answers)."""
    flux, smooth = _spectrum(depth=0.6)
    new = scale_metal_lines(WAVE, flux, -1.0, saturation=0.9)
    for c in METAL:
        before = _depth(flux, smooth, c)                       # 0.56-0.60 at the pixel
        expected = 0.9 * (1.0 - (1.0 - before / 0.9) ** 0.1)  # exp(-tau / 10)
        assert _depth(new, smooth, c) == pytest.approx(expected, abs=0.004)
        assert _depth(new, smooth, c) > 1.5 * before * 0.1    # well above the linear
    weak, smooth = _spectrum(depth=0.01, mg_depth=0.01)
    np.testing.assert_allclose(scale_metal_lines(WAVE, weak, -1.0, saturation=0.9),
                               scale_metal_lines(WAVE, weak, -1.0), rtol=2e-4)


def test_scale_metal_lines_shape_error():
    with pytest.raises(ConfigurationError, match="does not match"):
        scale_metal_lines(WAVE, np.ones(10), -1.0)


def _library():
    flux, _ = _spectrum()
    labels = Table({"name": ["giant", "cool", "pec", "poor", "dwarf"],
                    "star_id": ["S:1", "S:2", "S:3", "S:4", "S:5"],
                    "label": ["A", "A", "other", "A", "B"],
                    "teff": [10200.0, 7000.0, 10500.0, 10000.0, 11500.0],
                    "logg": [3.55, 3.5, 3.6, 3.5, 4.3],
                    "feh": [-0.3, 0.0, 0.0, -0.7, 0.1],
                    "sptype": [""] * 5, "source": ["MILES"] * 5})
    return TemplateLibrary(WAVE, np.tile(flux, (5, 1)), labels, fwhm=2.5)


def test_copies_labels_ids_and_selection():
    lib = _library()
    copies = metal_poor_copies(lib, targets=(-1.2, -1.8))
    names = list(np.asarray(copies.labels["name"]).astype(str))
    # the cool star and the peculiar one get none
    assert names == ["giant [Fe/H]-1.2", "giant [Fe/H]-1.8", "poor [Fe/H]-1.2",
                     "poor [Fe/H]-1.8", "dwarf [Fe/H]-1.2", "dwarf [Fe/H]-1.8"]
    assert list(copies.labels["star_id"]) == ["S:1", "S:1", "S:4", "S:4", "S:5", "S:5"]
    assert list(copies.labels["feh"]) == [-1.2, -1.8, -1.2, -1.8, -1.2, -1.8]
    # in the BHB box and metal-poor: BHB; the high-gravity star stays a B star
    assert list(copies.labels["label"]) == ["BHB", "BHB", "BHB", "BHB", "B", "B"]
    assert copies.fwhm == lib.fwhm and copies.flux.shape == (6, WAVE.size)
    # a target less than 0.3 dex below a parent's [Fe/H] gives no copy of it; below -0.7
    # no star is a parent
    few = metal_poor_copies(lib, targets=(-0.8,))
    assert list(few.labels["star_id"]) == ["S:1", "S:5"]
    assert len(metal_poor_copies(lib, min_feh=0.0)) == 2
    both = with_metal_poor_copies(lib, targets=(-1.2, -1.8))
    assert len(both) == 11 and both.meta["metal_poor_copies"]["alpha_fe"] == 0.4
    np.testing.assert_array_equal(both.flux[:5], lib.flux)


def test_no_parent_gives_the_library_back():
    lib = _library()
    assert len(metal_poor_copies(lib, teff_range=(20000.0, 30000.0))) == 0
    assert with_metal_poor_copies(lib, teff_range=(20000.0, 30000.0)) is lib


def test_training_config_records_the_option():
    from dataclasses import replace

    from bhbfinder.params.training import DEFAULT_TRAINING

    assert "metal_poor" not in DEFAULT_TRAINING.to_dict()
    cfg = replace(DEFAULT_TRAINING, metal_poor={"targets": (-1.5,)})
    assert cfg.to_dict()["metal_poor"] == {"targets": [-1.5]}
    assert hash(cfg) != hash(DEFAULT_TRAINING)


@pytest.mark.realdata
def test_copies_of_real_stars_stay_in_their_parents_fold(shared_data):
    """A copy is a spectrum derived from its parent: a fold that holds the parent out must
    not train on the copy (issue 14: no star, or spectrum derived from it, on both sides)."""
    from bhbfinder.training.heldout import FoldPlan, load_real_templates

    libraries = load_real_templates(shared_data)
    plan = FoldPlan.build(libraries, n_folds=5, seed=0)
    miles = [lib for lib in libraries if str(lib.meta.get("folder", "")).endswith("miles")][0]
    copies = metal_poor_copies(miles)
    ids = np.asarray(copies.labels["star_id"]).astype(str)
    assert len(ids) >= 20 and set(ids) <= set(np.asarray(miles.labels["star_id"]).astype(str))
    parent_fold = plan.fold_of(ids)
    assert np.all(parent_fold >= 0)
    for k in range(plan.n_folds):
        np.testing.assert_array_equal(plan.training_mask(ids, k), parent_fold != k)
