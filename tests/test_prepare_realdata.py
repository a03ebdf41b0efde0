"""The prepare stage on the real LAMOST files of the shared data folder (never copied here)."""

import numpy as np
import pytest

from bhbfinder.io.read import iter_paths, read_batch
from bhbfinder.spectra.lines import C_KMS
from bhbfinder.spectra.prepare import PrepareConfig, catalog_redshift, prepare

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def lamost_raw(shared_data):
    folder = shared_data / "lamost"
    if not folder.is_dir():
        pytest.skip(f"{folder} not present")
    paths = list(iter_paths(folder))
    assert len(paths) > 200
    return read_batch(paths)


def test_every_lamost_file_prepares_without_nan(lamost_raw):
    out = prepare(lamost_raw)
    assert len(out) == len(lamost_raw)
    assert np.isfinite(out.flux).all() and np.isfinite(out.ivar).all()
    assert (out.ivar[out.mask] == 0).all()
    read_ok = lamost_raw.ok
    assert read_ok.all()
    assert (np.asarray(out.meta["status"])[read_ok] == "ok").all()
    rv = np.asarray(out.meta["rv"])
    source = np.asarray(out.meta["rv_source"])
    assert np.isfinite(rv[source != "none"]).all()
    assert np.isnan(rv[source == "none"]).all()
    # Z = -9999 (the "Unknown" DR7 edge cases) never passes as a catalogue redshift
    z = np.ma.filled(np.ma.asarray(lamost_raw.meta["z"], dtype=float), np.nan)
    assert not np.any((source == "catalog") & (z < -1))
    snr = np.asarray(out.meta["snr_prepared"])
    assert np.isfinite(snr).all()
    # typical good spectra: normalised flux near 1 on average
    assert 0.8 < np.median(out.flux[~out.mask]) < 1.1


def test_xcorr_rv_agrees_with_dr8_catalogue(lamost_raw):
    dr8 = np.array(["/dr8/" in str(f) for f in lamost_raw.meta["file"]])
    assert dr8.sum() == 160
    z, _, trusted = catalog_redshift(lamost_raw.meta)
    rows = np.flatnonzero(dr8 & trusted)
    assert rows.size == 160
    sub = prepare(_take(lamost_raw, rows), PrepareConfig(rest_frame="xcorr"))
    assert (sub.meta["rv_source"] == "xcorr").all()
    diff = np.asarray(sub.meta["rv"]) - C_KMS * z[rows]
    median = np.median(diff)
    robust_sigma = 1.4826 * np.median(np.abs(diff - median))
    # measured: median -5.6 km/s, robust sigma 4.0 km/s, all within 31 km/s (a known LAMOST
    # LASP zero-point offset of a few km/s is expected)
    assert abs(median) < 10
    assert robust_sigma < 8
    assert np.mean(np.abs(diff - median) < 25) >= 0.95


def _take(raw, rows):
    from bhbfinder.batch import RawBatch

    return RawBatch(raw.wavelength[rows], raw.flux[rows], raw.ivar[rows], raw.mask[rows],
                    raw.npix[rows], raw.meta[rows])
