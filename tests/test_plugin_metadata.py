"""A third-party reader's own metadata reaches the catalogue (the plugin tutorial's plugin).

`bhbfinder.batch.meta_table` keeps a reader's keys beyond META_SCHEMA as columns; here they go
through chunks, part files, the written catalogue and worker processes.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from bhbfinder import find_bhb
from bhbfinder.batch import meta_table
from bhbfinder.catalog import read_catalog
from bhbfinder.plugins import get_plugin_manager

from .fakestages import STAGES

PLUGIN = Path(__file__).resolve().parents[1] / "docs" / "examples" / "myspec_plugin.py"


@pytest.fixture()
def myspec():
    spec = importlib.util.spec_from_file_location("myspec_plugin_test", PLUGIN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    pm = get_plugin_manager()
    pm.register(module, name="myspec")
    yield module
    pm.unregister(name="myspec")


def _write(folder, n):
    wave = np.geomspace(3700, 5600, 3000)
    flux = 1 - 0.5 * np.exp(-0.5 * ((wave - 4341.7) / 12) ** 2)
    for i in range(n):
        table = np.column_stack([wave, flux, np.full(wave.size, 1e4)])
        np.savetxt(folder / f"star{i}.dat", table, comments="# ",
                   header=f"MYSPEC exposure={600 * (i + 1)} site=site{i}")


def test_the_tutorial_plugin_is_short():
    assert len(PLUGIN.read_text().splitlines()) <= 30


def test_extra_reader_keys_are_columns():
    table = meta_table([{"file": "a", "exposure": 600.0, "site": "X", "night": 3, "ok": True},
                        {"file": "b"}], ["ok", "unreadable file"])
    assert table["exposure"].dtype.kind == "f" and table["night"].dtype.kind == "i"
    assert table["ok"].dtype.kind == "b" and table["site"].dtype.kind == "U"
    assert list(table["exposure"].mask) == [False, True]
    assert table["site"].description  # every catalogue column says what it holds


def test_plugin_metadata_reaches_the_written_catalogue(myspec, tmp_path):
    folder = tmp_path / "spectra"
    folder.mkdir()
    _write(folder, 5)
    (folder / "broken.dat").write_text("# MYSPEC exposure=1\nnot numbers\n")
    output = tmp_path / "catalog.ecsv"
    catalog = find_bhb(folder, stages=STAGES, batch_size=2, output=output)
    back = read_catalog(output)
    for table in (catalog, back):
        ok = np.asarray(table["status"]) == "ok"
        assert ok.sum() == 5
        names = [Path(f).name for f in table["file"]]
        good = {name: (float(e), str(s)) for name, e, s, o
                in zip(names, table["exposure"], table["site"], ok, strict=True) if o}
        assert good == {f"star{i}.dat": (600.0 * (i + 1), f"site{i}") for i in range(5)}
        broken = names.index("broken.dat")
        assert np.ma.is_masked(table["exposure"][broken])


def test_plugin_metadata_from_worker_processes(myspec, tmp_path):
    """Workers build their own plugin manager from entry points: a plugin registered by hand
    in this process is not there, so this runs in threads (same process)."""
    from concurrent.futures import ThreadPoolExecutor

    _write(tmp_path, 4)
    with ThreadPoolExecutor(2) as pool:
        catalog = find_bhb(tmp_path, stages=STAGES, batch_size=2, executor=pool)
    assert sorted(np.asarray(catalog["exposure"], float)) == [600.0, 1200.0, 1800.0, 2400.0]
