"""The batch read path: path expansion, chunked streaming, stacked arrays and meta."""

import os

import numpy as np
import pytest

from bhbfinder.batch import RawBatch
from bhbfinder.errors import ConfigurationError
from bhbfinder.io import checks
from bhbfinder.io.lamost import write_lamost
from bhbfinder.io.read import iter_batches, iter_paths, read_batch, read_one

WAVE = 10 ** (3.5682 + 1e-4 * np.arange(3909))


def _write(path, npix, obsid, **kwargs):
    rng = np.random.default_rng(obsid)
    flux = rng.uniform(100, 200, npix).astype(np.float32)
    ivar = np.ones(npix, np.float32)
    return write_lamost(path, WAVE[:npix], flux, ivar, meta={"obsid": obsid}, **kwargs)


@pytest.fixture
def archive(tmp_path):
    """Nested folders: 7 spectra of various lengths/layouts/compressions plus other files."""
    made = []
    specs = [("b/2/x.fits", 3800, "A", False), ("a/spec1.fits.gz", 3909, "B", "gzip"),
             ("a/spec0.fits", 3751, "A", "gzip-as-fits"), ("a/z/deep.fits", 3900, "B", False),
             ("top.fits", 3850, "A", False), ("b/1/y.fits.gz", 3909, "A", "gzip"),
             ("b/10/w.fits", 3790, "B", False)]
    for i, (rel, npix, layout, compress) in enumerate(specs):
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        made.append((_write(path, npix, 1000 + i, layout=layout, compress=compress), npix,
                     1000 + i))
    (tmp_path / "a" / "notes.txt").write_text("not a spectrum")
    (tmp_path / "b" / "catalog.csv").write_text("obsid\n1\n")
    return tmp_path, made


def test_iter_paths_directory_sorted_recursive(archive):
    root, made = archive
    paths = list(iter_paths(root))
    rel = [os.path.relpath(p, root) for p in paths]
    assert rel == ["top.fits", "a/spec0.fits", "a/spec1.fits.gz", "a/z/deep.fits",
                   "b/1/y.fits.gz", "b/10/w.fits", "b/2/x.fits"]
    assert list(iter_paths(str(root))) == paths  # str and Path alike, and repeatable
    everything = list(iter_paths(root, patterns=None))
    assert len(everything) == len(paths) + 2


def test_iter_paths_globs_lists_single(archive):
    root, made = archive
    assert [os.path.basename(p) for p in iter_paths(str(root / "a" / "*.fits*"))] == [
        "spec0.fits", "spec1.fits.gz"]
    deep = list(iter_paths(str(root / "**" / "*.fits.gz")))
    assert [os.path.basename(p) for p in deep] == ["spec1.fits.gz", "y.fits.gz"]
    single = made[0][0]
    assert list(iter_paths(single)) == [str(single)]
    mixed = [made[4][0], root / "a", str(root / "b" / "1" / "*.gz"), root / "missing.fits"]
    out = list(iter_paths(mixed))
    assert out[0] == str(made[4][0])
    assert [os.path.basename(p) for p in out[1:4]] == ["spec0.fits", "spec1.fits.gz",
                                                        "deep.fits"]
    assert os.path.basename(out[4]) == "y.fits.gz"
    assert out[5] == str(root / "missing.fits")  # kept: it becomes a failure row
    assert list(iter_paths(str(root / "nomatch*.fits"))) == [str(root / "nomatch*.fits")]
    with pytest.raises(TypeError):
        list(iter_paths(42))


def test_find_bhb_expands_inputs_with_iter_paths(archive):
    """One input expansion: the pipeline's sources are iter_paths' paths, with errors for a
    single path that does not exist and a pattern that matches nothing."""
    from bhbfinder.pipeline import expand_source

    root, made = archive
    mixed = [made[4][0], root / "a", str(root / "b" / "1" / "*.gz"), root / "missing.fits"]
    assert [item.name for item in expand_source(mixed)] == list(iter_paths(mixed))
    assert [item.name for item in expand_source(root)] == list(iter_paths(root))
    pattern = str(root / "**" / "*.fits.gz")
    assert [item.name for item in expand_source(pattern)] == list(iter_paths(pattern))
    with pytest.raises(ConfigurationError, match="no such file or directory"):
        expand_source(root / "missing.fits")
    with pytest.raises(ConfigurationError, match="matches no file"):
        expand_source(str(root / "nomatch*.fits"))
    with pytest.raises(ConfigurationError, match="matches no file"):
        list(iter_paths(str(root / "nomatch*.fits"), strict=True))


def test_read_batch_stacks_arrays_and_meta(archive):
    root, made = archive
    paths = [m[0] for m in made]
    batch = read_batch(paths)
    assert isinstance(batch, RawBatch) and len(batch) == len(made)
    assert batch.flux.shape == (len(made), 3909) and batch.flux.dtype == np.float32
    assert list(batch.npix) == [m[1] for m in made]
    assert list(batch.meta["obsid"]) == [m[2] for m in made]
    assert all(batch.ok)
    for i, (path, npix, _) in enumerate(made):
        direct = read_one(path)
        np.testing.assert_array_equal(batch.flux[i, :npix], direct.flux)
        np.testing.assert_allclose(batch.wavelength[i, :npix], direct.wavelength)
        assert np.all(np.isnan(batch.wavelength[i, npix:]))
        assert np.all(batch.mask[i, npix:]) and np.all(batch.ivar[i, npix:] == 0)
    assert set(batch.meta["survey"]) == {"LAMOST"}
    spec = batch.spectrum(0)
    assert len(spec.flux) == made[0][1]


@pytest.mark.parametrize("batch_size", [1, 2, 3, 7, 100])
def test_iter_batches_covers_every_input_once(archive, batch_size):
    root, made = archive
    source = [root, root / "missing.fits"]
    expected = list(iter_paths(source))
    batches = list(iter_batches(source, batch_size=batch_size))
    assert all(len(b) <= batch_size for b in batches)
    assert sum(len(b) for b in batches) == len(expected) == len(made) + 1
    files = [f for b in batches for f in b.meta["file"]]
    assert files == expected
    status = [s for b in batches for s in b.meta["status"]]
    assert status.count("ok") == len(made)
    assert status[-1] == checks.FILE_NOT_FOUND


def test_iter_batches_is_lazy(archive):
    root, _ = archive
    stream = iter_batches(root, batch_size=2)
    first = next(stream)
    assert len(first) == 2  # one chunk read, the rest not yet touched
    with pytest.raises(ConfigurationError):
        next(iter_batches(root, batch_size=0))


def test_failure_rows_stack_with_good_ones(tmp_path):
    good = _write(tmp_path / "good.fits", 3800, 7)
    bad = tmp_path / "bad.fits"
    bad.write_text("not fits")
    batch = read_batch([bad, good])
    assert list(batch.meta["status"]) == [checks.NOT_FITS, "ok"]
    assert batch.meta["file"][0] == str(bad)
    assert batch.npix[0] == 0 and batch.meta["obsid"].mask[0]
    assert batch.flux.shape == (2, 3800)
