"""The plugin system: built-ins registered like plugins, entry points, isolation of failures."""

import importlib.metadata
import types
import warnings

import pytest

from bhbfinder import plugins
from bhbfinder.errors import PluginWarning, StageNotFoundError, UnknownFormatError
from bhbfinder.hookspecs import STAGE_KINDS, hookimpl
from bhbfinder.io.base import Reader
from bhbfinder.stages import StageInfo, get_stage, get_stage_info


@pytest.fixture
def pm():
    """A fresh plugin manager for the test, restored afterwards."""
    saved = plugins._manager
    manager = plugins.get_plugin_manager(reload=True)
    yield manager
    plugins._manager = saved


class _FakeReader(Reader):
    name = "fake"

    def read_arrays(self, path):
        raise NotImplementedError


def _module(name, **attrs):
    mod = types.ModuleType(name)
    for key, value in attrs.items():
        setattr(mod, key, value)
    return mod


def test_builtins_registered_as_plugins(pm):
    names = [name for name, _ in pm.list_name_plugin()]
    for modname in plugins.BUILTIN_PLUGINS:
        assert "builtin:" + modname.rsplit(".", 1)[-1] in names
    table = plugins.list_plugins()
    assert set(table.colnames) >= {"name", "origin", "module", "hooks", "stages"}
    assert all(o == "builtin" for n, o in zip(table["name"], table["origin"])
               if n.startswith("builtin:"))


def test_plugin_reader_overrides_builtin(pm, tmp_path):
    path = tmp_path / "x.fits"
    path.write_bytes(b"SIMPLE  =                    T" + b" " * 2850)

    @hookimpl
    def bhbfinder_get_reader(path, head):
        return _FakeReader()

    pm.register(_module("myplugin", bhbfinder_get_reader=bhbfinder_get_reader), name="myplugin")
    assert isinstance(pm.get_reader(str(path), path.read_bytes()), _FakeReader)


def test_no_reader_raises_named_error(pm, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(UnknownFormatError, match="notes.txt"):
        pm.get_reader(str(path), b"hello")


def test_broken_hook_warns_and_host_continues(pm, tmp_path):
    @hookimpl(tryfirst=True)
    def bhbfinder_get_reader(path, head):
        raise RuntimeError("boom")

    @hookimpl
    def bhbfinder_register_stages():
        raise RuntimeError("kaput")

    pm.register(_module("broken", bhbfinder_get_reader=bhbfinder_get_reader,
                        bhbfinder_register_stages=bhbfinder_register_stages), name="broken")
    with pytest.warns(PluginWarning, match="'broken'"):
        with pytest.raises(UnknownFormatError):
            pm.get_reader(str(tmp_path / "y.txt"), b"plain text")
    with pytest.warns(PluginWarning, match="kaput"):
        registry = pm.stage_registry()
    assert set(registry) == set(STAGE_KINDS)


def test_hooks_go_through_pluggy_with_wrappers_and_isolation(pm, tmp_path):
    """A hook wrapper sees the answer pluggy's call loop produced; a raising implementation is
    skipped whether the hook is called through the manager or as ``pm.hook.<name>``."""
    seen = []

    @hookimpl(wrapper=True)
    def bhbfinder_get_reader(path, head):
        reader = yield
        seen.append(type(reader).__name__)
        return reader

    @hookimpl(tryfirst=True)
    def raising(path, head):
        raise RuntimeError("boom")

    @hookimpl
    def claims(path, head):
        return _FakeReader()

    pm.register(_module("wrapper", bhbfinder_get_reader=bhbfinder_get_reader), name="wrapper")
    pm.register(_module("raising", bhbfinder_get_reader=raising), name="raising")
    pm.register(_module("claims", bhbfinder_get_reader=claims), name="claims")
    path = str(tmp_path / "x.dat")
    with pytest.warns(PluginWarning, match="'raising'"):
        assert isinstance(pm.get_reader(path, b"data"), _FakeReader)
    seen.clear()
    with pytest.warns(PluginWarning, match="'raising'"):
        assert isinstance(pm.hook.bhbfinder_get_reader(path=path, head=b"data"), _FakeReader)
    assert seen == ["_FakeReader"]
    with pytest.warns(PluginWarning):
        answers = pm.call_isolated("bhbfinder_get_reader", path=path, head=b"data")
    assert [name for name, _ in answers] == ["claims"]  # the built-ins do not claim it


def test_stage_registration_and_override(pm):
    class Stage:
        def __init__(self, scale=1):
            self.scale = scale

    @hookimpl
    def bhbfinder_register_stages():
        return [StageInfo("dedup", "mine", Stage, "a test stage")]

    pm.register(_module("first", bhbfinder_register_stages=bhbfinder_register_stages),
                name="first")
    info = get_stage_info("dedup", "mine")
    assert info.plugin == "first"
    assert get_stage("dedup", "mine", scale=3).scale == 3

    @hookimpl
    def later():
        return [StageInfo("dedup", "mine", dict, "override")]

    later.__name__ = "bhbfinder_register_stages"
    pm.register(_module("second", bhbfinder_register_stages=later), name="second")
    assert get_stage_info("dedup", "mine").plugin == "second"
    with pytest.raises(StageNotFoundError, match="nope"):
        get_stage_info("dedup", "nope")
    with pytest.raises(StageNotFoundError, match="unknown stage kind"):
        get_stage_info("cooking")


def test_stage_info_rejects_unknown_kind():
    with pytest.raises(ValueError, match="unknown stage kind"):
        StageInfo("cooking", "x", dict)


def test_broken_entry_point_warns(monkeypatch):
    good = _module("goodplugin")

    class EP:
        def __init__(self, name, target):
            self.name, self.value, self.dist, self._t = name, f"{name}:x", None, target

        def load(self):
            if isinstance(self._t, Exception):
                raise self._t
            return self._t

    eps = [EP("badplugin", ImportError("no module named nothing")), EP("goodplugin", good)]
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group=None: eps)
    manager = plugins.BHBPluginManager()
    with pytest.warns(PluginWarning, match="badplugin"):
        manager.load_entry_points()
    assert manager.get_plugin("goodplugin") is good
    assert manager.get_plugin("badplugin") is None


def test_cli_plugins_lists_builtins(capsys):
    from bhbfinder.cli import main

    with warnings.catch_warnings():
        warnings.simplefilter("error", PluginWarning)
        assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "builtin:lamost" in out


@pytest.mark.parametrize("kind", list(STAGE_KINDS))
def test_every_built_in_stage_provides_its_kinds_protocol(kind):
    """The pipeline reads only what the protocol of a stage's kind lists."""
    if kind == "classify":
        pytest.importorskip("torch")
    stage = get_stage(kind)
    assert isinstance(stage, STAGE_KINDS[kind].protocol)


def test_stage_kind_registry_is_the_one_list():
    from bhbfinder import pipeline
    from bhbfinder.stages import DEFAULT_STAGES

    assert list(DEFAULT_STAGES) == list(STAGE_KINDS)
    assert pipeline.BATCH_STAGES == tuple(k for k, v in STAGE_KINDS.items() if v.level == "batch")
    assert pipeline.CATALOG_STAGES == ("crossmatch", "dedup", "known")  # Gaia ids feed dedup
    assert set(pipeline.ONLINE_STAGES) == {"crossmatch", "known"}
