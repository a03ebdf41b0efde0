"""Live queries of the Gaia archive and VizieR (``--remote-data`` only; skipped by default)."""

import numpy as np
import pytest
from astropy.table import Table

from bhbfinder.crossmatch.gaia import GaiaDR3Crossmatch
from bhbfinder.crossmatch.known import KNOWN_CATALOGS, KnownBHBMatcher, fetch_vizier_positions


@pytest.mark.remote_data
@pytest.mark.realdata
def test_gaia_archive_for_a_few_segue_bhb_stars(shared_data, tmp_path):
    ref = Table.read(shared_data / "catalogs" / "barbosa2022_bhb_final.csv",
                     format="ascii.csv")[:6]
    cat = Table({"ra": ref["ra"], "dec": ref["dec"], "status": ["ok"] * len(ref)})
    stage = GaiaDR3Crossmatch(cache_dir=tmp_path, chunk_size=4)
    out = stage.run(cat)
    assert stage.calls == 2
    assert not out["gaia_source_id"].mask.any()
    assert np.all(out["gaia_separation"] < 2.0)
    # SDSS g from Barbosa's absolute magnitude and distance; for A stars G - g is ~ -0.1
    g = ref["abs_mag_gr"] + 5 * np.log10(ref["dist_gr"] / 10.0)
    assert np.all(np.abs(out["phot_g_mean_mag"] - g) < 0.5)
    assert np.all(out["bp_rp"] < 0.5)
    # a second run comes from the cache
    again = GaiaDR3Crossmatch(cache_dir=tmp_path, chunk_size=4)
    again.run(cat)
    assert again.calls == 0


@pytest.mark.remote_data
def test_vizier_known_catalogue(tmp_path):
    ra, dec = fetch_vizier_positions(KNOWN_CATALOGS["xue2011"].vizier_id)
    assert len(ra) > 1000 and np.all(np.abs(dec) <= 90)
    cat = Table({"ra": ra[:5] + 0.5 / 3600, "dec": dec[:5], "status": ["ok"] * 5})
    out = KnownBHBMatcher(catalogs=["xue2011"], cache_dir=tmp_path).run(cat)
    assert all("xue2011" in name for name in out["known_catalog"])
