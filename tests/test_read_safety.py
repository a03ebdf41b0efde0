"""Reading only what can be read: FIFOs, devices, unreadable folders, size limits, sniffing."""

import gzip
import os
import threading

import pytest

from bhbfinder import find_bhb
from bhbfinder.errors import BHBFinderWarning, ConfigurationError
from bhbfinder.io import checks
from bhbfinder.io.lamost import write_lamost
from bhbfinder.io.limits import ReadLimits, parse_size, read_limits
from bhbfinder.io.read import iter_paths, read_batch

from .fakestages import STAGES, spectrum_arrays


def _spectrum(path, seed=0, compress=False):
    a = spectrum_arrays("A", seed=seed)
    return write_lamost(path, a.wavelength, a.flux, a.ivar, meta=a.meta, compress=compress)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_in_a_folder_becomes_a_row_and_never_blocks(tmp_path):
    _spectrum(tmp_path / "good.fits")
    os.mkfifo(tmp_path / "pipe.fits")
    result = {}

    def run():
        result["cat"] = find_bhb(str(tmp_path), stages=STAGES)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(120)
    if thread.is_alive():  # unblock the reader so the test process can end
        fd = os.open(tmp_path / "pipe.fits", os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        pytest.fail("the run blocked on a FIFO")
    cat = result["cat"]
    status = dict(zip([os.path.basename(str(f)) for f in cat["file"]], cat["status"]))
    assert status == {"good.fits": "ok", "pipe.fits": checks.NOT_REGULAR_FILE}


def test_device_is_not_read():
    batch = read_batch([os.devnull])
    assert batch.meta["status"].tolist() == [checks.NOT_REGULAR_FILE]


def test_unreadable_subfolder_gets_a_row_and_a_warning(tmp_path, monkeypatch):
    _spectrum(tmp_path / "a.fits")
    locked = tmp_path / "locked"
    locked.mkdir()
    _spectrum(locked / "b.fits", seed=1)
    real_scandir = os.scandir

    def scandir(path="."):  # as if permissions forbade listing it (tests may run as root)
        if os.fspath(path) == os.fspath(locked):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.warns(BHBFinderWarning, match="locked: unreadable folder"):
        cat = find_bhb(str(tmp_path), stages=STAGES)
    status = {os.path.basename(str(f)): s for f, s in zip(cat["file"], cat["status"])}
    assert status == {"a.fits": "ok", "locked": checks.UNREADABLE_FOLDER}


def test_file_size_limit(tmp_path):
    path = _spectrum(tmp_path / "a.fits")
    assert read_batch([path]).meta["status"].tolist() == ["ok"]
    with read_limits({"max_file_size": os.path.getsize(path) - 1}):
        assert read_batch([path]).meta["status"].tolist() == [checks.TOO_LARGE]
    assert read_batch([path], limits={"max_file_size": "1MB"}).meta["status"].tolist() == ["ok"]


def test_gzip_bomb_is_refused_without_inflating_it(tmp_path):
    bomb = tmp_path / "bomb.fits.gz"
    # a LAMOST-looking header followed by zeros: tiny on disk, large once inflated
    good = _spectrum(tmp_path / "seed.fits")
    head = good.read_bytes()[:2880]
    with gzip.open(bomb, "wb", compresslevel=9) as fh:
        fh.write(head)
        block = bytes(1 << 20)
        for _ in range(64):
            fh.write(block)
    assert os.path.getsize(bomb) < 200_000
    with read_limits({"max_inflated_size": "16MB"}):
        batch = read_batch([bomb])
    assert batch.meta["status"].tolist() == [checks.TOO_LARGE]
    assert batch.meta["reader"].tolist() == ["LAMOST-LRS"]


def test_gzip_limit_applies_to_plugin_readers(tmp_path, monkeypatch):
    """A reader that does not cap inflation itself is protected by the batch path."""
    from bhbfinder.io import read as batch_module

    calls = []

    class Reader:
        name = "plain"

        def read_arrays(self, path):
            calls.append(path)
            raise AssertionError("must not be reached")

    class Manager:
        def get_reader(self, path, head):
            return Reader()

    monkeypatch.setattr("bhbfinder.plugins.get_plugin_manager", lambda: Manager())
    path = tmp_path / "x.fits.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(bytes(4 << 20))
    with read_limits({"max_inflated_size": "1MB"}):
        batch = batch_module.read_batch([path])
    assert batch.meta["status"].tolist() == [checks.TOO_LARGE] and calls == []


def test_read_limits_from_config_and_errors():
    assert ReadLimits.from_options({"max_file_size": "2MiB"}).max_file_size == 2 << 20
    assert parse_size("1.5GB") == 1_500_000_000
    with pytest.raises(ConfigurationError, match="not a size"):
        parse_size("lots")
    with pytest.raises(ConfigurationError, match="unknown options"):
        ReadLimits.from_options({"max_size": 3})
    with pytest.raises(ConfigurationError, match="unknown options"):
        find_bhb([], config={"read": {"max_size": 3}})


def test_walk_selects_by_content_not_only_by_suffix(tmp_path):
    _spectrum(tmp_path / "spec-1.fits")
    no_suffix = tmp_path / "123456789"
    no_suffix.write_bytes(_spectrum(tmp_path / "tmp.fits", seed=2).read_bytes())
    (tmp_path / "tmp.fits").unlink()
    gz_other_name = _spectrum(tmp_path / "spec-3.dat", seed=3, compress="gzip-as-fits")
    (tmp_path / "notes.txt").write_text("observing notes")
    (tmp_path / "table.csv").write_text("a,b\n1,2\n")
    with gzip.open(tmp_path / "other.csv.gz", "wt") as fh:
        fh.write("a,b\n")
    names = sorted(os.path.basename(p) for p in iter_paths(tmp_path))
    assert names == ["123456789", "spec-1.fits", os.path.basename(gz_other_name)]
    assert sorted(os.path.basename(p) for p in iter_paths(tmp_path, sniff=False)) == \
        ["spec-1.fits"]


def test_a_failing_reader_is_named_in_its_row(tmp_path):
    good = _spectrum(tmp_path / "a.fits")
    cut = tmp_path / "cut.fits"
    cut.write_bytes(good.read_bytes()[:5000])
    batch = read_batch([good, cut, tmp_path / "missing.fits"])
    assert batch.meta["status"].tolist() == ["ok", checks.TRUNCATED, checks.FILE_NOT_FOUND]
    reader = batch.meta["reader"]
    assert reader.tolist()[:2] == ["LAMOST-LRS", "LAMOST-LRS"]
    assert reader.mask.tolist() == [False, False, True]  # no reader chosen for a missing file
