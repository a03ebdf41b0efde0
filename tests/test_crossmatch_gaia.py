"""Gaia DR3 cross-match: ADQL, upload, chunks, retries, cache and epochs, with a mocked TAP."""

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.table import MaskedColumn, Table

from bhbfinder.crossmatch import gaia
from bhbfinder.crossmatch._sky import angular_separation_arcsec
from bhbfinder.errors import ConfigurationError, RemoteServiceError


def _offset(ra, dec, sep_arcsec, pa_deg):
    c = SkyCoord(ra * u.deg, dec * u.deg).directional_offset_by(pa_deg * u.deg,
                                                                 sep_arcsec * u.arcsec)
    return float(c.ra.deg), float(c.dec.deg)


# --- a small sky: each catalogue row has a Gaia star; one moves fast ----------------------------

CAT_RA = np.array([10.0, 200.0, 359.9999, 45.0, 120.0, 300.0])
CAT_DEC = np.array([5.0, -30.0, 0.0, 89.99, 10.0, -60.0])
STATUS = ["ok", "ok", "ok", "ok", "bad file", "ok"]
CANDIDATE = [True, True, True, True, True, False]
PM_FAST = 150.0  # mas/yr in Dec for the row-1 star


def _catalog():
    return Table({
        "file": [f"f{i}" for i in range(6)],
        "ra": MaskedColumn(CAT_RA, mask=[False, False, False, False, True, False]),
        "dec": MaskedColumn(CAT_DEC, mask=[False, False, False, False, True, False]),
        "status": STATUS,
        "is_bhb_candidate": CANDIDATE,
    })


def _gaia_sky():
    """Gaia sources (J2016) around the catalogue: a true match per row plus decoys."""
    rows = []
    sid = 1000
    for i, (ra, dec) in enumerate(zip(CAT_RA, CAT_DEC, strict=True)):
        pmdec = PM_FAST if i == 1 else 0.0
        # at J2000 the star is 0.4" from the catalogue position; it moved pmdec * 16 yr since
        r0, d0 = _offset(ra, dec, 0.4, 30.0)
        r16, d16 = _offset(r0, d0, pmdec * 16 / 1000, 0.0)
        rows.append((sid + i, r16, d16, 16.0 + i, 0.1, 0.2, 0.02, 1.0, 0.0, pmdec))
        # a decoy 3.5" away: outside the 2" radius, inside the widened search radius
        rd, dd = _offset(ra, dec, 3.5, 200.0)
        rows.append((sid + 100 + i, rd, dd, 19.0, 1.2, 0.5, 0.3, 1.1, 1.0, 1.0))
    names = gaia.GAIA_COLUMNS
    return Table(rows=rows, names=names,
                 dtype=(np.int64,) + (float,) * (len(names) - 1))


class FakeJob:
    def __init__(self, result):
        self._result = result

    def get_results(self):
        return self._result


class FakeTap:
    """Answers upload joins from `_gaia_sky` like the archive would (a cone per uploaded row)."""

    def __init__(self, fail_times=0, exc=None):
        self.queries, self.uploads, self.names = [], [], []
        self.fail_times = fail_times
        self.exc = exc or ConnectionError("connection reset")
        self.sky = _gaia_sky()

    def launch_job_async(self, query, upload_resource=None, upload_table_name=None,
                         verbose=False):
        self.queries.append(query)
        self.uploads.append(upload_resource)
        self.names.append(upload_table_name)
        if self.fail_times > 0:
            self.fail_times -= 1
            raise self.exc
        radius = float(query.rsplit(",", 1)[1].strip(" )")) * 3600
        out = []
        for row_id, ra, dec in zip(upload_resource["row_id"], upload_resource["ra"],
                                   upload_resource["dec"], strict=True):
            sep = angular_separation_arcsec(ra, dec, self.sky["ra"], self.sky["dec"])
            for j in np.flatnonzero(sep <= radius):
                out.append((row_id,) + tuple(self.sky[j]))
        # the archive answers in upper case sometimes: the stage must not care
        names = ("ROW_ID",) + tuple(n.upper() for n in gaia.GAIA_COLUMNS)
        dtype = (np.int64, np.int64) + (float,) * (len(names) - 2)
        return FakeJob(Table(rows=out, names=names, dtype=dtype) if out else
                       Table(names=names, dtype=dtype))


def _no_sleep(recorded):
    return recorded.append


def test_build_adql_numbers_only():
    q = gaia.build_adql(5.2 / 3600)
    assert q.startswith("SELECT u.row_id, g.source_id, g.ra, g.dec, g.phot_g_mean_mag, g.bp_rp, "
                        "g.parallax, g.parallax_error, g.ruwe, g.pmra, g.pmdec ")
    assert "FROM tap_upload.bhbf_positions AS u JOIN gaiadr3.gaia_source AS g" in q
    assert "CONTAINS(POINT('ICRS', g.ra, g.dec), CIRCLE('ICRS', u.ra, u.dec, 0.0014444444))" in q
    for bad in (float("nan"), -1.0, 2.0, "0.1; DROP TABLE x", None):
        with pytest.raises(ConfigurationError):
            gaia.build_adql(bad)
    with pytest.raises(ConfigurationError):
        gaia.build_adql(0.001, table="gaiadr3.gaia_source; --")
    with pytest.raises(ConfigurationError):
        gaia.GaiaDR3Crossmatch(gaia_table="x y")


def test_propagate_positions():
    # 100 mas/yr north for 10 yr: 1" in Dec
    ra, dec = gaia.propagate_positions(30.0, 10.0, 0.0, 100.0, 10.0)
    assert angular_separation_arcsec(30.0, 10.0, ra, dec) == pytest.approx(1.0, rel=1e-6)
    assert dec > 10.0 and ra == pytest.approx(30.0)
    # pmra is on the sky (includes cos dec): 1" east at Dec 60 is 2" of RA
    ra, dec = gaia.propagate_positions(30.0, 60.0, 100.0, 0.0, 10.0)
    assert (ra - 30.0) * 3600 == pytest.approx(2.0, rel=1e-4)
    # across RA 0 and near the pole: finite, the right distance
    ra, dec = gaia.propagate_positions([359.99999, 0.0], [0.0, 89.99999], [-1000.0, 500.0],
                                       [0.0, 500.0], [-16.0, 16.0])
    assert np.all(np.isfinite(ra)) and np.all((ra >= 0) & (ra < 360))
    assert angular_separation_arcsec(0.0, 89.99999, ra[1], dec[1]) == \
        pytest.approx(np.hypot(8, 8), rel=1e-4)
    # NaN proper motion: no motion
    ra, dec = gaia.propagate_positions(30.0, 10.0, np.nan, np.nan, 16.0)
    assert (ra, dec) == pytest.approx((30.0, 10.0))


def test_tap_crossmatch_with_mock(tmp_path):
    tap = FakeTap()
    stage = gaia.GaiaDR3Crossmatch(tap=tap, cache_dir=tmp_path)
    out = stage.run(_catalog())
    assert len(out) == 6
    # one job: the query and the uploaded table
    assert len(tap.queries) == 1 and tap.names == [gaia.UPLOAD_TABLE_NAME]
    expected_radius = (2.0 + 200.0 * 16 / 1000) / 3600
    assert tap.queries[0] == gaia.build_adql(expected_radius)
    up = tap.uploads[0]
    assert up.colnames == ["row_id", "ra", "dec"]
    # only ok candidates with positions: rows 0-3 (row 4 failed, row 5 is no candidate)
    assert list(up["row_id"]) == [0, 1, 2, 3]
    np.testing.assert_allclose(up["ra"], CAT_RA[:4])
    np.testing.assert_allclose(up["dec"], CAT_DEC[:4])

    assert list(out["gaia_source_id"].filled(-1)) == [1000, 1001, 1002, 1003, -1, -1]
    # separations at J2000 are the built-in 0.4" (row 1 only after moving its star back)
    np.testing.assert_allclose(out["gaia_separation"][:4], 0.4, atol=1e-4)
    assert out["gaia_separation"].unit == u.arcsec
    assert list(out["gaia_n_matches"]) == [1, 1, 1, 1, 0, 0]
    np.testing.assert_allclose(out["phot_g_mean_mag"][:4], [16, 17, 18, 19])
    assert out["parallax"].unit == u.mas and out["pmdec"][1] == pytest.approx(PM_FAST)
    assert out["parallax_over_error"][0] == pytest.approx(10.0)
    assert out["phot_g_mean_mag"].mask[4] and out["phot_g_mean_mag"].mask[5]
    # CMD and distance columns ride along: plx 0.2 +- 0.02 -> 5 kpc
    assert out["distance"][0] == pytest.approx(5.0)
    assert out["distance_method"][0] == "parallax" and out["distance_method"][5] == ""
    # G=16, plx 0.2: G_abs = 16 + 5 log10(0.2) - 10 = 2.505; BP-RP 0.1 -> upper(0.1) ~ 2.9
    assert out["in_bhb_cmd_region"][0] and not out["in_bhb_cmd_region"].mask[0]


def test_epoch_matters_for_the_fast_star(tmp_path):
    # matching at J2016 (no epoch gap): the fast star is 2.4" off and lost
    stage = gaia.GaiaDR3Crossmatch(tap=FakeTap(), cache_dir=tmp_path, epoch=2016.0)
    out = stage.run(_catalog())
    assert out["gaia_source_id"].mask[1]
    assert out["gaia_source_id"][0] == 1000
    # the epoch can come per row from a column (here MJD 51544.5 = J2000)
    cat = _catalog()
    cat["mjd"] = np.full(6, 51544.5)
    stage = gaia.GaiaDR3Crossmatch(tap=FakeTap(), use_cache=False, epoch=2016.0,
                                   epoch_column="mjd", epoch_format="mjd")
    assert stage.run(cat)["gaia_source_id"][1] == 1001


def test_chunks_and_row_offsets(tmp_path):
    tap = FakeTap()
    stage = gaia.GaiaDR3Crossmatch(tap=tap, cache_dir=tmp_path, chunk_size=3,
                                   only_candidates=False)
    out = stage.run(_catalog())
    assert len(tap.uploads) == 2
    assert [len(t) for t in tap.uploads] == [3, 2]  # 5 rows with positions
    assert list(tap.uploads[1]["row_id"]) == [0, 1]
    assert list(out["gaia_source_id"].filled(-1)) == [1000, 1001, 1002, 1003, -1, 1005]


def test_retries_with_backoff(tmp_path):
    slept = []
    tap = FakeTap(fail_times=2)
    stage = gaia.GaiaDR3Crossmatch(tap=tap, cache_dir=tmp_path, retries=3, backoff=1.5,
                                   sleep=slept.append)
    out = stage.run(_catalog())
    assert out["gaia_source_id"][0] == 1000
    assert slept == [1.5, 3.0] and len(tap.queries) == 3

    slept.clear()
    stage = gaia.GaiaDR3Crossmatch(tap=FakeTap(fail_times=10), use_cache=False, retries=2,
                                   sleep=slept.append)
    with pytest.raises(RemoteServiceError, match="failed 3 times"):
        stage.run(_catalog())
    assert slept == [2.0, 4.0]


def test_cache_hit_avoids_second_call(tmp_path):
    tap = FakeTap()
    first = gaia.GaiaDR3Crossmatch(tap=tap, cache_dir=tmp_path).run(_catalog())
    assert len(tap.queries) == 1 and len(list(tmp_path.glob("gaia-*.ecsv"))) == 1
    tap2 = FakeTap(fail_times=100)  # would fail if asked
    stage = gaia.GaiaDR3Crossmatch(tap=tap2, cache_dir=tmp_path, retries=0)
    second = stage.run(_catalog())
    assert tap2.queries == [] and stage.calls == 0
    for name in ("gaia_source_id", "gaia_separation", "parallax", "distance"):
        np.testing.assert_array_equal(first[name].filled(-1), second[name].filled(-1))
    # a different position is a different chunk: asked again
    cat = _catalog()
    cat["ra"][0] = 10.0001
    tap3 = FakeTap()
    gaia.GaiaDR3Crossmatch(tap=tap3, cache_dir=tmp_path).run(cat)
    assert len(tap3.queries) == 1


def test_client_is_lazy():
    stage = gaia.GaiaDR3Crossmatch(use_cache=False)
    assert stage._tap is None  # nothing built (or contacted) until a query


def test_nothing_to_match(tmp_path):
    cat = _catalog()
    cat["is_bhb_candidate"] = False
    tap = FakeTap()
    out = gaia.GaiaDR3Crossmatch(tap=tap, cache_dir=tmp_path).run(cat)
    assert tap.queries == [] and out["gaia_source_id"].mask.all() and len(out) == 6


@pytest.mark.parametrize("suffix", [".fits", ".ecsv", ".csv"])
def test_local_mode_matches_like_remote(tmp_path, suffix):
    sky = _gaia_sky()
    # VizieR-style names in one file format to check the aliases
    if suffix == ".csv":
        sky.rename_columns(["source_id", "ra", "dec", "phot_g_mean_mag", "bp_rp", "parallax",
                            "parallax_error", "ruwe", "pmra", "pmdec"],
                           ["Source", "RA_ICRS", "DE_ICRS", "Gmag", "BP-RP", "Plx", "e_Plx",
                            "RUWE", "pmRA", "pmDE"])
    path = tmp_path / f"gaia{suffix}"
    sky.write(path)
    local = gaia.GaiaLocalCrossmatch(path=path).run(_catalog())
    remote = gaia.GaiaDR3Crossmatch(tap=FakeTap(), use_cache=False).run(_catalog())
    assert local.colnames == remote.colnames
    for name in ("gaia_source_id", "gaia_separation", "phot_g_mean_mag", "bp_rp", "distance",
                 "gaia_n_matches"):
        np.testing.assert_allclose(np.ma.filled(local[name], -1).astype(float),
                                   np.ma.filled(remote[name], -1).astype(float), atol=1e-9)
    with pytest.raises(ConfigurationError, match="path"):
        gaia.GaiaLocalCrossmatch()


def test_stages_registered():
    from bhbfinder.stages import available_stages, get_stage

    assert {"gaia-dr3", "gaia-local"} <= set(available_stages("crossmatch"))
    assert "sky-fof" in available_stages("dedup")
    assert "catalogs" in available_stages("known")
    stage = get_stage("crossmatch", tap=FakeTap(), use_cache=False)
    assert isinstance(stage, gaia.GaiaDR3Crossmatch)
    assert stage.run(_catalog())["gaia_source_id"][0] == 1000


def test_no_astroquery_at_import():
    import subprocess
    import sys

    code = ("import sys, bhbfinder.crossmatch.gaia, bhbfinder.crossmatch.known, "
            "bhbfinder.stages.crossmatch, bhbfinder.crossmatch.dedup, bhbfinder.crossmatch.cmd; "
            "bad = [m for m in sys.modules if m.startswith(('astroquery', 'matplotlib'))]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_qtable_with_quantity_positions(tmp_path):
    from astropy.table import QTable

    cat = _catalog()
    q = QTable({"ra": np.asarray(cat["ra"].filled(np.nan)) * u.deg,
                "dec": np.asarray(cat["dec"].filled(np.nan)) * u.deg,
                "status": cat["status"], "is_bhb_candidate": cat["is_bhb_candidate"]})
    q["ra"] = q["ra"].to(u.hourangle)  # units are honoured
    out = gaia.GaiaDR3Crossmatch(tap=FakeTap(), use_cache=False).run(q)
    assert list(out["gaia_source_id"].filled(-1)) == [1000, 1001, 1002, 1003, -1, -1]
