"""The plugin as bhbfinder sees it: found through its entry point, asked before the built-ins.

These tests need the package installed (``pip install -e examples/bhbfinder-sdss``): the
entry point exists only in the installed distribution's metadata.
"""

import importlib.metadata
import re
import warnings

import pytest
from bhbfinder_sdss import SDSSReader

from bhbfinder import plugins
from bhbfinder.cli import main
from bhbfinder.errors import PluginWarning
from bhbfinder.io.read import read_batch
from bhbfinder.io.sniff import read_head

ORIGIN = re.compile(r"entry point \(bhbfinder[-_]sdss \d+\.\d+")


def test_entry_point_is_declared():
    eps = {ep.name: ep for ep in importlib.metadata.entry_points(group=plugins.ENTRY_POINT_GROUP)}
    assert "sdss" in eps, "bhbfinder-sdss is not installed: pip install -e examples/bhbfinder-sdss"
    assert eps["sdss"].value == "bhbfinder_sdss.plugin"


def test_discovered_through_entry_point(pm):
    table = plugins.list_plugins()
    rows = {name: (origin, module, hooks) for name, origin, module, hooks in
            zip(table["name"], table["origin"], table["module"], table["hooks"], strict=False)}
    assert "sdss" in rows
    origin, module, hooks = rows["sdss"]
    assert ORIGIN.match(origin), origin
    assert module == "bhbfinder_sdss.plugin"
    assert hooks == "bhbfinder_get_reader"


def test_cli_lists_the_plugin(pm, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginWarning)  # others' plugins are not under test here
        assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.split()[:1] == ["sdss"])
    assert ORIGIN.search(line) and "bhbfinder_sdss.plugin" in line


def test_precedence_over_builtins(pm, sdss_file):
    path = str(sdss_file)
    head = read_head(path)
    # asked alone, a built-in reader also claims this file (the generic specutils fallback) ...
    builtin_answers = [
        (impl.plugin_name, impl.function(path=path, head=head))
        for impl in pm.hook.bhbfinder_get_reader.get_hookimpls()
        if impl.plugin_name.startswith("builtin:")
    ]
    assert any(reader is not None for _, reader in builtin_answers), builtin_answers
    # ... yet the plugin's answer wins: built-ins are trylast, the plugin is not
    impls = {impl.plugin_name: impl for impl in pm.hook.bhbfinder_get_reader.get_hookimpls()}
    assert not impls["sdss"].trylast
    assert all(impl.trylast for name, impl in impls.items() if name.startswith("builtin:"))
    reader = plugins.get_reader(path)
    assert isinstance(reader, SDSSReader)
    # without the plugin the fallback reads it: the plugin really took over
    pm.unregister(name="sdss")
    assert not isinstance(plugins.get_reader(path), SDSSReader)


@pytest.mark.filterwarnings("ignore:Error validating header")  # astropy on the truncated file
def test_batch_path_uses_the_plugin(pm, tmp_path, sdss_file):
    broken = tmp_path / "spec-0266-51602-0014.fits"
    broken.write_bytes(sdss_file.read_bytes()[:4000])
    batch = read_batch([str(sdss_file), str(broken)])
    assert list(batch.meta["status"]) == ["ok", "truncated file"]
    assert batch.meta["reader"][0] == "SDSS"
    assert batch.meta["designation"][0] == "0266-51602-0013"
    assert batch.npix.tolist()[0] == 400


@pytest.mark.parametrize("name", ["spec-0266-51602-0013.fits", "anything.fits"])
def test_lamost_files_are_not_claimed(pm, tmp_path, name):
    from astropy.io import fits

    path = tmp_path / name
    fits.PrimaryHDU(header=fits.Header({"TELESCOP": "LAMOST"})).writeto(path)
    answers = pm.call_isolated("bhbfinder_get_reader", path=str(path), head=read_head(path))
    assert "sdss" not in [name for name, _ in answers]
