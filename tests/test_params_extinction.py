"""Reddening of the params stage's colours: coefficients and dereddening (known answers)."""

import numpy as np
import pytest

from bhbfinder.errors import ConfigurationError
from bhbfinder.params.extinction import (
    EXTINCTION_COEFFICIENTS,
    color_bands,
    deredden,
    reddening_coefficient,
)


@pytest.mark.parametrize("name, bands", [
    ("g_r", ("g", "r")), ("u-g", ("u", "g")), ("bp_rp", ("BP", "RP")),
    ("BP-RP", ("BP", "RP")), ("g_rp", ("G", "RP")), ("G - RP", ("G", "RP")),
])
def test_colour_names_give_their_bands(name, bands):
    assert color_bands(name) == bands


@pytest.mark.parametrize("name", ["gr", "g_r_i", "", "g_"])
def test_bad_colour_names_are_refused(name):
    with pytest.raises(ConfigurationError, match="two band names"):
        color_bands(name)


def test_published_coefficients():
    # Schlafly & Finkbeiner (2011) Table 6, R_V = 3.1: g 3.303, r 2.285, u 4.239
    assert reddening_coefficient("g_r") == pytest.approx(1.018)
    assert reddening_coefficient("u_g") == pytest.approx(0.936)
    # Casagrande & VandenBerg (2018): G 2.740, BP 3.374, RP 2.035
    assert reddening_coefficient("bp_rp") == pytest.approx(1.339)
    assert reddening_coefficient("g_rp") == pytest.approx(0.705)
    assert set("ugriz") <= set(EXTINCTION_COEFFICIENTS)


def test_own_coefficients_extend_and_override():
    assert reddening_coefficient("j_h", {"j": 0.72, "h": 0.46}) == pytest.approx(0.26)
    assert reddening_coefficient("g_r", {"g_r": 1.1}) == 1.1
    with pytest.raises(ConfigurationError, match="no extinction coefficient for band 'j'"):
        reddening_coefficient("j_h")


def test_deredden_known_answer_and_error_propagation():
    colors = np.array([[0.30, 1.00], [0.10, 0.50]])
    intrinsic, err = deredden(colors, ["g_r", "bp_rp"], [0.1, 0.0], [0.02, 0.0],
                              [[0.02, 0.01], [0.03, 0.04]])
    np.testing.assert_allclose(intrinsic, [[0.30 - 0.1018, 1.00 - 0.1339], [0.10, 0.50]])
    np.testing.assert_allclose(err, [[np.hypot(0.02, 0.02036), np.hypot(0.01, 0.02678)],
                                     [0.03, 0.04]])
    # round trip: reddening intrinsic colours by E(B-V) and dereddening gives them back
    back, _ = deredden(intrinsic + np.array([1.018, 1.339]) * 0.25, ["g_r", "bp_rp"], 0.25)
    np.testing.assert_allclose(back, intrinsic)
    # unknown reddening: NaN colours
    out, _ = deredden([[0.3]], ["g_r"], np.nan)
    assert np.isnan(out).all()


def test_deredden_refuses_mismatched_input():
    with pytest.raises(ConfigurationError, match="2 colour columns but 1 names"):
        deredden([[0.1, 0.2]], ["g_r"], 0.1)
    with pytest.raises(ConfigurationError, match="non-negative"):
        deredden([[0.1]], ["g_r"], 0.1, -0.01)
