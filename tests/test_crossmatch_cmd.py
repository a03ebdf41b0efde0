"""The Gaia CMD region and the distance formulas, against hand-computed values."""

import numpy as np
import pytest
from astropy.table import MaskedColumn, Table

from bhbfinder.crossmatch import cmd


def test_absolute_magnitude():
    np.testing.assert_allclose(cmd.absolute_magnitude([15.0, 15.0], [1.0, 0.1]), [5.0, 0.0])
    assert np.isnan(cmd.absolute_magnitude(15.0, -0.3))


def test_region_boundaries_by_hand():
    assert cmd.cmd_upper(0.0) == pytest.approx(3.8459)
    assert cmd.cmd_lower(0.0) == pytest.approx(-0.2)
    # 138.07*.2**6 - 153.85*.2**5 - 40.727*.2**4 + 73.368*.2**3 - 7.4054*.2**2 - 9.5575*.2 + 3.8459
    assert cmd.cmd_upper(0.2) == pytest.approx(2.1195693, abs=1e-6)
    # -3.2382*.2**3 + 7.1259*.2**2 - 3.583*.2 - 0.2
    assert cmd.cmd_lower(0.2) == pytest.approx(-0.6574696, abs=1e-6)


def test_in_region_and_mask():
    #              inside  too bright  poor plx  too red  faint   no plx  nan colour
    bp_rp = np.array([0.0, 0.0, 0.0, 0.6, 0.2, 0.0, np.nan])
    g = np.array([15.0, 14.5, 15.0, 15.0, 17.2, 15.0, 15.0])
    plx = np.array([0.1, 0.1, 0.1, 0.1, 0.1, np.nan, 0.1])
    eplx = np.array([0.01, 0.01, 0.025, 0.01, 0.01, 0.01, 0.01])
    # faint star: G_abs = 17.2 - 10 - 5 = 2.2 > upper(0.2) = 2.12 -> outside
    res = cmd.in_bhb_cmd_region(bp_rp, g, plx, eplx)
    assert list(np.ma.getmaskarray(res)) == [False, False, True, False, False, True, True]
    assert list(res.filled(False)) == [True, False, False, False, False, False, False]
    # a looser parallax cut makes the poor-parallax star testable (and inside)
    res = cmd.in_bhb_cmd_region(bp_rp, g, plx, eplx, min_parallax_over_error=3)
    assert not res.mask[2] and res[2]


def test_deason_relation_by_hand():
    x = -0.1
    expected = 0.434 - 0.169 * x + 2.319 * x**2 + 20.449 * x**3 + 94.517 * x**4
    assert expected == pytest.approx(0.4630927)
    np.testing.assert_allclose(cmd.deason2011_abs_g([x, 0.0]), [0.4630927, 0.434], atol=1e-7)
    assert np.isnan(cmd.deason2011_abs_g(-0.3)) and np.isnan(cmd.deason2011_abs_g(0.05))


def test_distance_from_absmag():
    d, e = cmd.distance_from_absmag(15.434, 0.434, 0.1)
    assert d == pytest.approx(10.0)
    assert e == pytest.approx(10.0 * np.log(10) / 5 * 0.1)


def test_bhb_distances_methods():
    plx = np.array([0.1, 0.1, np.nan, 0.02, np.nan])
    eplx = np.array([0.01, 0.05, np.nan, 0.01, np.nan])
    g = np.array([np.nan, 15.5, 15.5, 15.5, np.nan])
    g0 = np.array([np.nan, 15.4630927, np.nan, np.nan, np.nan])
    gr0 = np.array([np.nan, -0.1, np.nan, np.nan, np.nan])
    dist, err, method = cmd.bhb_distances(plx, eplx, g, g0, gr0)
    assert list(method) == ["parallax", "bhb_absmag", "bhb_absmag_gaia", "bhb_absmag_gaia", ""]
    assert dist[0] == pytest.approx(10.0) and err[0] == pytest.approx(1.0)
    # Deason M_g(-0.1) = 0.4630927: g0 - M_g = 15.0
    assert dist[1] == pytest.approx(10.0, rel=1e-6)
    assert err[1] == pytest.approx(10.0 * np.log(10) / 5 * cmd.DEASON2011_SIGMA, rel=1e-6)
    # Gaia fallback: G - M_G = 15.5 - 0.5
    assert dist[2] == pytest.approx(10.0)
    assert err[2] == pytest.approx(10.0 * np.log(10) / 5 * 0.3)
    assert np.isnan(dist[4]) and np.isnan(err[4])
    # a zero point moves the parallax distance: 1 / (0.1 - (-0.025)) = 8 kpc
    dist, _, _ = cmd.bhb_distances(plx, eplx, g, parallax_zero_point=-0.025)
    assert dist[0] == pytest.approx(8.0)


def test_cmd_columns_table():
    t = Table({
        "phot_g_mean_mag": MaskedColumn([15.0, 15.5, 0.0], mask=[False, False, True]),
        "bp_rp": MaskedColumn([0.0, 0.1, 0.0], mask=[False, False, True]),
        "parallax": MaskedColumn([0.1, 0.01, 0.0], mask=[False, False, True]),
        "parallax_error": MaskedColumn([0.01, 0.05, 0.0], mask=[False, False, True]),
    })
    out = cmd.cmd_columns(t)
    assert out["in_bhb_cmd_region"][0] and not out["in_bhb_cmd_region"].mask[0]
    assert out["in_bhb_cmd_region"].mask[1] and out["in_bhb_cmd_region"].mask[2]
    assert list(out["distance_method"]) == ["parallax", "bhb_absmag_gaia", ""]
    assert out["distance"].unit == "kpc"
    assert out["distance"][0] == pytest.approx(10.0)
    assert out["distance"][1] == pytest.approx(10.0)
    assert out["distance"].mask[2]
    assert out["abs_g"][0] == pytest.approx(0.0)


def test_plot_cmd_draws_region_and_points():
    import matplotlib

    matplotlib.use("Agg")
    ax = cmd.plot_cmd([0.0, 0.3], [0.5, 3.0], in_region=[True, False])
    assert ax.yaxis_inverted()
    assert len(ax.collections) >= 3  # region fill + two scatters
    import matplotlib.pyplot as plt

    plt.close(ax.figure)
