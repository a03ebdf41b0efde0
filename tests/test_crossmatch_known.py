"""Known-BHB flags: local files of several formats, a mocked VizieR with cache, real catalogue."""

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.table import Table

from bhbfinder.crossmatch import known
from bhbfinder.errors import ConfigurationError, RemoteServiceError


def _offset(ra, dec, sep_arcsec, pa_deg):
    c = SkyCoord(np.asarray(ra) * u.deg, np.asarray(dec) * u.deg)
    c = c.directional_offset_by(pa_deg * u.deg, sep_arcsec * u.arcsec)
    return c.ra.deg, c.dec.deg


REF_RA = np.array([10.0, 150.0, 359.9995, 250.0])
REF_DEC = np.array([5.0, -20.0, 0.0, 89.9999])


def _catalog():
    ra_in, dec_in = _offset(REF_RA, REF_DEC, 1.0, 45.0)      # 1" from each known star
    ra_out, dec_out = _offset(REF_RA[:2], REF_DEC[:2], 5.0, 45.0)  # 5": not the same star
    return Table({
        "ra": np.concatenate([ra_in, ra_out, [10.0]]),
        "dec": np.concatenate([dec_in, dec_out, [5.0]]),
        "status": ["ok"] * 7,
        # the last row sits on a known star but is no candidate
        "is_bhb_candidate": [True] * 6 + [False],
    })


@pytest.mark.parametrize("fmt, names", [
    ("csv", ("RAJ2000", "DEJ2000")), ("fits", ("RA", "DEC")), ("ecsv", ("ra_icrs", "de_icrs")),
    ("votable", ("_RAJ2000", "_DEJ2000")),
])
def test_local_catalogue_flags(tmp_path, fmt, names):
    path = tmp_path / f"mybhb.{'vot' if fmt == 'votable' else fmt}"
    Table({names[0]: REF_RA, names[1]: REF_DEC, "id": np.arange(4)}).write(path, format=(
        "ascii.csv" if fmt == "csv" else "ascii.ecsv" if fmt == "ecsv" else fmt))
    stage = known.KnownBHBMatcher(catalogs=(), files=[path])
    out = stage.run(_catalog())
    assert list(out["known_catalog"]) == ["mybhb"] * 4 + [""] * 3
    assert list(out["is_known"]) == [True] * 4 + [False] * 3
    np.testing.assert_allclose(out["known_separation"][:4], 1.0, atol=1e-4)
    assert out["known_separation"].unit == u.arcsec
    assert out["known_separation"].mask[4:].all()
    # every row, candidate or not, when asked
    out = known.KnownBHBMatcher(catalogs=(), files={"mine": path},
                                only_candidates=False).run(_catalog())
    assert out["known_catalog"][6] == "mine" and out["known_separation"][6] < 1e-4


def test_several_sources_and_radius(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    Table({"ra": REF_RA, "dec": REF_DEC}).write(a, format="ascii.csv")
    ra5, dec5 = _offset(REF_RA[:1], REF_DEC[:1], 5.0, 45.0)
    Table({"ra": ra5, "dec": dec5}).write(b, format="ascii.csv")
    out = known.KnownBHBMatcher(catalogs=(), files=[a, b]).run(_catalog())
    assert list(out["known_catalog"]) == ["a", "a", "a", "a", "b", "", ""]
    out = known.KnownBHBMatcher(catalogs=(), files=[a, b], radius=6 * u.arcsec).run(_catalog())
    assert list(out["known_catalog"])[:5] == ["a,b", "a", "a", "a", "a,b"]
    np.testing.assert_allclose(out["known_separation"][:5], [1, 1, 1, 1, 0], atol=1e-4)


def test_sexagesimal_positions(tmp_path):
    c = SkyCoord(REF_RA * u.deg, REF_DEC * u.deg)
    path = tmp_path / "sexa.csv"
    Table({"RA": c.ra.to_string(u.hourangle, sep=":", precision=4),
           "Dec": c.dec.to_string(sep=":", precision=3, alwayssign=True)}).write(path)
    out = known.KnownBHBMatcher(catalogs=(), files=[path]).run(_catalog())
    assert list(out["is_known"]) == [True] * 4 + [False] * 3


def test_bad_inputs(tmp_path):
    with pytest.raises(ConfigurationError, match="unknown known-BHB catalogue"):
        known.KnownBHBMatcher(catalogs=["nonsense catalogue"])
    with pytest.raises(ConfigurationError, match="no such file"):
        known.KnownBHBMatcher(catalogs=(), files=[tmp_path / "missing.csv"]).run(_catalog())
    path = tmp_path / "nocoords.csv"
    Table({"x": [1.0], "y": [2.0]}).write(path)
    with pytest.raises(ConfigurationError, match="right ascension"):
        known.KnownBHBMatcher(catalogs=(), files=[path]).run(_catalog())
    with pytest.raises(ConfigurationError, match="no known-BHB catalogue"):
        known.KnownBHBMatcher(catalogs=())


class FakeVizier:
    def __init__(self, fail_times=0):
        self.asked = []
        self.fail_times = fail_times

    def get_catalogs(self, catalog_id):
        self.asked.append(catalog_id)
        if self.fail_times:
            self.fail_times -= 1
            raise ConnectionError("VizieR is down")
        notes = Table({"Ref": ["a"]})
        return [Table({"_RAJ2000": REF_RA[:2], "_DEJ2000": REF_DEC[:2]}), notes,
                Table({"_RAJ2000": REF_RA[2:], "_DEJ2000": REF_DEC[2:]})]


def test_vizier_fetch_cache_and_retry(tmp_path):
    slept = []
    viz = FakeVizier(fail_times=1)
    stage = known.KnownBHBMatcher(catalogs=["xue2011"], cache_dir=tmp_path, vizier=viz,
                                  sleep=slept.append, backoff=0.5)
    out = stage.run(_catalog())
    assert viz.asked == ["J/ApJ/738/79", "J/ApJ/738/79"] and slept == [0.5]
    assert list(out["known_catalog"]) == ["xue2011"] * 4 + [""] * 3
    assert (tmp_path / "J_ApJ_738_79.ecsv").exists()
    # cached: a second matcher never asks
    viz2 = FakeVizier(fail_times=99)
    out2 = known.KnownBHBMatcher(catalogs=["xue2011"], cache_dir=tmp_path, vizier=viz2,
                                 retries=0).run(_catalog())
    assert viz2.asked == [] and list(out2["is_known"]) == list(out["is_known"])
    # no cache and a dead service: a clear error
    with pytest.raises(RemoteServiceError, match="files="):
        known.KnownBHBMatcher(catalogs=["J/A+A/654/A107"], use_cache=False,
                              vizier=FakeVizier(fail_times=9), retries=1,
                              sleep=slept.append).run(_catalog())


def test_default_catalogues_are_confirmed_ids():
    assert set(known.DEFAULT_KNOWN_CATALOGS) <= set(known.KNOWN_CATALOGS)
    ids = {c.vizier_id for c in known.KNOWN_CATALOGS.values()}
    assert ids == {"J/ApJ/684/1143", "J/ApJ/738/79", "J/A+A/654/A107"}


@pytest.mark.realdata
def test_barbosa2022_catalogue(shared_data):
    """Stars of the Barbosa et al. (2022) SEGUE BHB table are found; shifted positions are not."""
    path = shared_data / "catalogs" / "barbosa2022_bhb_final.csv"
    ref = Table.read(path, format="ascii.csv")
    assert len(ref) == 5699
    rng = np.random.default_rng(3)
    pick = rng.choice(len(ref), 60, replace=False)
    ra0, dec0 = np.asarray(ref["ra"])[pick], np.asarray(ref["dec"])[pick]
    ra_in, dec_in = _offset(ra0, dec0, 1.5, rng.uniform(0, 360, 60))
    ra_out, dec_out = _offset(ra0, dec0, 30.0, rng.uniform(0, 360, 60))
    cat = Table({"ra": np.concatenate([ra_in, ra_out]), "dec": np.concatenate([dec_in, dec_out]),
                 "status": ["ok"] * 120})
    out = known.KnownBHBMatcher(catalogs=(), files={"barbosa2022": path}).run(cat)
    assert list(out["known_catalog"][:60]) == ["barbosa2022"] * 60
    # the nearest catalogue star of each shifted position, by brute force
    all_ra, all_dec = np.radians(ref["ra"]), np.radians(ref["dec"])
    expect_out = []
    for r, d in zip(np.radians(ra_out), np.radians(dec_out), strict=True):
        cos = np.sin(d) * np.sin(all_dec) + np.cos(d) * np.cos(all_dec) * np.cos(r - all_ra)
        expect_out.append(np.degrees(np.arccos(np.clip(cos.max(), -1, 1))) * 3600 < 3.0)
    assert list(out["is_known"][60:]) == expect_out
    assert sum(expect_out) < 5  # shifted stars are (almost all) not known
    assert np.all(out["known_separation"][:60] <= 1.5 + 1e-3)
