"""De-duplication: friends-of-friends on the sky, Gaia-id grouping, representatives."""

import astropy.units as u
import numpy as np
import pytest
from astropy.table import MaskedColumn, Table

from bhbfinder.crossmatch._sky import angular_separation_arcsec, radec_to_unit, unit_to_radec
from bhbfinder.crossmatch.dedup import (
    SkyFoFDedup,
    friends_of_friends,
    group_rows,
    pick_representatives,
)
from bhbfinder.errors import ConfigurationError


def _offset(ra, dec, sep_arcsec, pa_deg):
    """A point ``sep_arcsec`` from (ra, dec) at position angle ``pa_deg`` (exact on the sphere)."""
    from astropy.coordinates import SkyCoord

    c = SkyCoord(ra * u.deg, dec * u.deg).directional_offset_by(pa_deg * u.deg,
                                                                 sep_arcsec * u.arcsec)
    return c.ra.deg, c.dec.deg


@pytest.mark.parametrize("ra0, dec0", [(150.0, 20.0), (0.0, -30.0), (359.9999, 45.0),
                                        (123.0, 89.9995), (200.0, -89.9999)])
def test_pairs_at_2p9_group_and_at_3p1_do_not(ra0, dec0):
    ra_near, dec_near = _offset(ra0, dec0, 2.9, 73.0)
    ra_far, dec_far = _offset(ra0, dec0, 3.1, 73.0)
    assert angular_separation_arcsec(ra0, dec0, ra_near, dec_near) == pytest.approx(2.9, abs=1e-6)
    assert list(friends_of_friends([ra0, ra_near], [dec0, dec_near], 3.0)) == [0, 0]
    assert list(friends_of_friends([ra0, ra_far], [dec0, dec_far], 3.0)) == [0, 1]
    # the radius is configurable, also as a Quantity
    assert list(friends_of_friends([ra0, ra_far], [dec0, dec_far], 3.2 * u.arcsec)) == [0, 0]


def test_ra_wrap_pairs_group_across_zero():
    ra = [359.9997, 0.0003]
    dec = [0.0, 0.0]
    assert angular_separation_arcsec(ra[0], dec[0], ra[1], dec[1]) == pytest.approx(2.16, abs=0.01)
    assert list(friends_of_friends(ra, dec)) == [0, 0]


def test_pole_points_at_very_different_ra_group():
    # near the pole, RA differences of 180 deg are a few arcsec on the sky
    dec = 90.0 - 1.0 / 3600  # 1" from the pole
    labels = friends_of_friends([0.0, 180.0, 90.0, 0.0], [dec, dec, dec, 89.0])
    assert list(labels) == [0, 0, 0, 1]


def test_chain_groups_transitively():
    ra_b, dec_b = _offset(30.0, 10.0, 2.5, 90.0)
    ra_c, dec_c = _offset(ra_b, dec_b, 2.5, 90.0)
    assert angular_separation_arcsec(30.0, 10.0, ra_c, dec_c) > 3.0  # A and C are not friends
    labels = friends_of_friends([30.0, ra_b, ra_c, 31.0], [10.0, dec_b, dec_c, 10.0])
    assert list(labels) == [0, 0, 0, 1]


def test_rows_without_position_are_their_own_groups():
    labels = friends_of_friends([10.0, np.nan, 10.0, np.nan], [0.0, np.nan, 0.0, 5.0])
    assert list(labels) == [0, 1, 0, 2]


def test_gaia_id_overrides_sky():
    ra_b, dec_b = _offset(30.0, 10.0, 1.0, 0.0)
    ra_far, dec_far = _offset(30.0, 10.0, 60.0, 0.0)
    ra = [30.0, ra_b, ra_far, np.nan, 30.0]
    dec = [10.0, dec_b, dec_far, np.nan, 10.0]
    # rows 0 and 1 are 1" apart but different stars; rows 0, 2 and 3 share an id
    sid = np.ma.array([11, 22, 11, 11, 0], mask=[False, False, False, False, True])
    labels = group_rows(ra, dec, sid)
    assert labels[0] == labels[2] == labels[3]
    assert labels[1] != labels[0]
    # the id-less row 4 at row 0's position joins row 0's id group
    assert labels[4] == labels[0]


def test_idless_bridge_between_two_ids_is_split():
    ra_b, dec_b = _offset(30.0, 10.0, 2.0, 90.0)   # id-less, between the two
    ra_c, dec_c = _offset(30.0, 10.0, 3.5, 90.0)   # id 2, 1.5" from b
    ra_d, dec_d = _offset(30.0, 10.0, 0.5, 90.0)   # id-less, next to a
    labels = group_rows([30.0, ra_b, ra_c, ra_d], [10.0, dec_b, dec_c, dec_d], [1, 0, 2, 0])
    assert labels[0] != labels[2]
    assert labels[1] == labels[2]  # nearest id row of b is c
    assert labels[3] == labels[0]


def test_pick_representatives_rules():
    labels = np.array([0, 0, 0, 1, 1, 2])
    snr = np.array([5.0, np.nan, 9.0, 3.0, 3.0, np.nan])
    assert list(pick_representatives(labels, snr)) == [False, False, True, True, False, True]
    assert list(pick_representatives(labels, None)) == [True, False, False, True, False, True]
    ok = np.array([True, True, False, True, True, True])
    assert list(pick_representatives(labels, snr, ok)) == [True, False, False, True, False, True]


def test_stage_columns_and_options():
    ra2, dec2 = _offset(10.0, 0.0, 2.0, 45.0)
    cat = Table({
        "file": ["a", "b", "c", "d"],
        "ra": MaskedColumn([10.0, ra2, 50.0, np.nan], mask=[False, False, False, True]),
        "dec": MaskedColumn([0.0, dec2, 0.0, np.nan], mask=[False, False, False, True]),
        "snr_g": [20.0, 40.0, 5.0, np.nan],
        "status": ["ok", "ok", "ok", "unreadable"],
    })
    out = SkyFoFDedup().run(cat)
    assert len(out) == len(cat)
    assert list(out["group_id"]) == [0, 0, 1, 2]
    assert list(out["group_size"]) == [2, 2, 1, 1]
    assert list(out["is_representative"]) == [False, True, True, True]
    assert out["group_id"].description
    out = SkyFoFDedup(representative="first").run(cat)
    assert list(out["is_representative"]) == [True, False, True, True]

    def hook(catalog, group_id):
        return np.array([f in ("a", "c", "d") for f in catalog["file"]])

    assert list(SkyFoFDedup(representative=hook).run(cat)["is_representative"]) == \
        [True, False, True, True]
    with pytest.raises(ConfigurationError, match="radius"):
        SkyFoFDedup(radius=-1)
    with pytest.raises(ConfigurationError, match="no such column"):
        SkyFoFDedup(representative="nope").run(cat)


def test_stage_uses_gaia_source_id_column():
    cat = Table({"ra": [10.0, 10.0, 80.0], "dec": [0.0, 0.0, 0.0], "snr_g": [1.0, 2.0, 3.0],
                 "gaia_source_id": MaskedColumn([5, 6, 5], mask=[False, False, False])})
    out = SkyFoFDedup().run(cat)
    assert list(out["group_id"]) == [0, 1, 0]
    assert list(out["is_representative"]) == [False, True, True]


def test_empty_catalogue():
    out = SkyFoFDedup().run(Table({"ra": np.zeros(0), "dec": np.zeros(0)}))
    assert len(out) == 0 and set(out.colnames) == {"group_id", "group_size", "is_representative"}


def test_many_random_pairs_match_brute_force():
    rng = np.random.default_rng(1)
    n = 400
    # clustered points so that groups form, compared against an O(n^2) reference
    ra0, dec0 = rng.uniform(-0.05, 0.05, n) % 360, rng.uniform(-0.025, 0.025, n)
    labels = friends_of_friends(ra0, dec0, 3.0)
    xyz = radec_to_unit(ra0, dec0)
    sep = np.degrees(2 * np.arcsin(np.linalg.norm(xyz[:, None] - xyz[None], axis=-1) / 2)) * 3600
    from scipy.sparse.csgraph import connected_components

    _, ref = connected_components(sep < 3.0, directed=False)
    # same partition
    pairs_a = labels[:, None] == labels[None]
    pairs_b = ref[:, None] == ref[None]
    assert np.array_equal(pairs_a, pairs_b)
    assert 1 < labels.max() + 1 < n


def test_unit_vector_round_trip():
    ra = np.array([0.0, 359.5, 180.0, 12.3])
    dec = np.array([0.0, -89.0, 89.9, 45.0])
    ra2, dec2 = unit_to_radec(radec_to_unit(ra, dec))
    np.testing.assert_allclose(ra2, ra, atol=1e-9)
    np.testing.assert_allclose(dec2, dec, atol=1e-9)


@pytest.mark.realdata
def test_lamost_dr8_repeat_groups(shared_data):
    """The sky-fof groups of the DR8 repeat visits are the groups LAMOST's catalogue gives."""
    t = Table.read(shared_data / "lamost" / "dr8" / "repeat_groups.csv", format="ascii.csv")
    cat = Table({"ra": t["combined_ra_obs"], "dec": t["combined_dec_obs"],
                 "snr_g": t["combined_snrg"], "status": ["ok"] * len(t)})
    out = SkyFoFDedup().run(cat)
    ref = np.asarray(t["GroupID"])
    same_ours = out["group_id"][:, None] == out["group_id"][None, :]
    same_ref = ref[:, None] == ref[None, :]
    assert np.array_equal(same_ours, same_ref)
    assert out["group_id"].max() + 1 == len(np.unique(ref)) == 99
    np.testing.assert_array_equal(out["group_size"], np.asarray(t["GroupSize"]).astype(int))
    # one representative per group, the highest S/N_g of its group
    rep = np.asarray(out["is_representative"])
    assert rep.sum() == 99
    snr = np.asarray(t["combined_snrg"], dtype=float)
    for g in np.unique(ref):
        members = np.flatnonzero(ref == g)
        assert rep[members].sum() == 1
        assert snr[members][rep[members]][0] == snr[members].max()
