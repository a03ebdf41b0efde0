"""The command line and the Python API agree: stage options, config files, skipped stages,
stage status and --strict, plugins, and the small things (printing, dir, in-memory names)."""

import warnings

import numpy as np
import pytest
from astropy.table import Table

import bhbfinder
from bhbfinder import cli, find_bhb, pipeline
from bhbfinder.catalog import read_catalog
from bhbfinder.configfile import parse_settings, parse_value, read_config
from bhbfinder.errors import ConfigurationError, IncompleteRunError, PluginWarning
from bhbfinder.io.lamost import write_lamost

from .fakestages import STAGES, spectrum_arrays
from .test_crossmatch_gaia import _gaia_sky

N = 6
#: The Gaia cross-match looks up candidates only: the BHB spectra (even ones) match.
MATCHED = [4000 + i if i % 2 == 0 else None for i in range(N)]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("iface")
    for i in range(N):
        a = spectrum_arrays("BHB" if i % 2 == 0 else "A", seed=i)
        a.meta.update(ra=10.0 + i, dec=5.0)
        write_lamost(folder / f"spec-{i}.fits", a.wavelength, a.flux, a.ivar, meta=a.meta)
    return folder


@pytest.fixture(scope="module")
def gaia_file(tmp_path_factory):
    """A local Gaia table with a star at each spectrum's position."""
    sky = _gaia_sky()[:N]
    sky["ra"] = 10.0 + np.arange(N)
    sky["dec"] = 5.0
    sky["pmra"] = sky["pmdec"] = 0.0
    sky["source_id"] = 4000 + np.arange(N)
    path = tmp_path_factory.mktemp("gaia") / "gaia.fits"
    sky.write(path)
    return path


@pytest.fixture
def fake_stages(monkeypatch):
    """The CLI runs with the stand-in batch stages (the stages it names are kept)."""
    real = pipeline.find_bhb
    seen = {}

    def with_fakes(*args, **kwargs):
        seen.update(kwargs)
        kwargs["stages"] = {**STAGES, **kwargs["stages"]}
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "find_bhb", with_fakes)
    return seen


def _gaia_columns(cat):
    return [(int(g) if not np.ma.is_masked(g) else None) for g in cat["gaia_source_id"]]


def test_cli_set_equals_python_config(data, gaia_file, tmp_path, fake_stages):
    out = tmp_path / "cli.ecsv"
    assert cli.main(["find", str(data), "-o", str(out), "--quiet",
                     "--stage", "crossmatch=gaia-local",
                     "--set", f"crossmatch.path={gaia_file}",
                     "--set", "crossmatch.radius=1.5"]) == 0
    assert fake_stages["config"] == {"crossmatch": {"path": str(gaia_file), "radius": 1.5}}
    python = find_bhb(str(data), stages=dict(STAGES, crossmatch="gaia-local"),
                      config={"crossmatch": {"path": str(gaia_file), "radius": 1.5}})
    cat = read_catalog(out)
    assert _gaia_columns(cat) == _gaia_columns(python) == MATCHED
    assert cat.meta["stage_status"]["crossmatch"] == "ok"


def test_cli_config_file_and_set_override(data, gaia_file, tmp_path, fake_stages):
    toml = tmp_path / "run.toml"
    toml.write_text(f'[stages]\ncrossmatch = "gaia-local"\nknown = "none"\n\n'
                    f'[crossmatch]\npath = "{gaia_file}"\nradius = 1.5\n')
    out = tmp_path / "cli.ecsv"
    assert cli.main(["find", str(data), "-o", str(out), "--quiet", "--config", str(toml),
                     "--set", "crossmatch.radius=0.1"]) == 0
    assert fake_stages["config"] == {"crossmatch": {"path": str(gaia_file), "radius": 0.1}}
    assert fake_stages["stages"] == {"crossmatch": "gaia-local", "known": "none"}
    # the same file in Python
    cat = find_bhb(str(data), stages=STAGES, config=toml)
    assert _gaia_columns(cat) == MATCHED
    assert cat.meta["stages"]["known"] == "skipped"


def test_settings_parse_like_toml():
    assert parse_settings(["a.b=1", "a.c=0.5", "b.d=true", "b.e=[1, 2]", "c.f=x.fits",
                           "c.g='quoted'", "read.max_file_size=200MB"]) == {
        "a": {"b": 1, "c": 0.5}, "b": {"d": True, "e": [1, 2]},
        "c": {"f": "x.fits", "g": "quoted"}, "read": {"max_file_size": "200MB"}}
    assert parse_value("strict") == "strict"
    with pytest.raises(ConfigurationError, match="KIND.OPTION=VALUE"):
        parse_settings(["threshold=0.9"])


def test_bad_config_files_are_named(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[classify\n")
    with pytest.raises(ConfigurationError, match="bad.toml: not a valid TOML"):
        read_config(bad)
    bad.write_text("classify = 3\n")
    with pytest.raises(ConfigurationError, match="must be a table"):
        read_config(bad)
    with pytest.raises(ConfigurationError, match="no such configuration file"):
        read_config(tmp_path / "missing.toml")


def test_stage_none_works_in_python_like_the_cli(data):
    cat = find_bhb(str(data), stages=dict(STAGES, dedup="none", params="None"))
    assert cat.meta["stages"]["dedup"] == "skipped"
    assert np.ma.getmaskarray(cat["group_id"]).all()


def test_options_for_a_stage_that_does_not_run_are_an_error(data):
    with pytest.raises(ConfigurationError, match=r"'known' stage.*does not run.*online=True"):
        find_bhb(str(data), stages=STAGES, config={"known": {"catalogs": ["xue2011"]}})
    with pytest.raises(ConfigurationError, match="skipped in stages"):
        find_bhb(str(data), stages=dict(STAGES, dedup=None), config={"dedup": {"radius": 2}})


def test_stage_factory_errors_name_the_stage(data):
    with pytest.raises(ConfigurationError, match="gaia-local.*path"):
        find_bhb(str(data), stages=dict(STAGES, crossmatch="gaia-local"))
    with pytest.raises(ConfigurationError, match="dedup stage 'sky-fof' does not take"):
        find_bhb(str(data), stages={**STAGES, "dedup": "sky-fof"},
                 config={"dedup": {"no_such_option": 1}})


@pytest.mark.parametrize("args", [["/no/such/dir"], ["/no/such/*.fits"]])
def test_cli_find_missing_input_exits_nonzero(tmp_path, args, capsys):
    assert cli.main(["find", *args, "-o", str(tmp_path / "c.fits")]) == 1
    assert "no such file" in capsys.readouterr().err
    assert not (tmp_path / "c.fits").exists()
    with pytest.raises(ConfigurationError, match="no such file or directory"):
        find_bhb("/no/such/dir")


def test_library_prints_nothing_cli_prints_summary(data, tmp_path, capsys, fake_stages):
    find_bhb(str(data), stages=STAGES, output=tmp_path / "a.ecsv")
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    assert cli.main(["find", str(data), "-o", str(tmp_path / "b.ecsv")]) == 0
    err = capsys.readouterr().err
    assert f"{N} spectra" in err and "wrote 6 rows" in err


def test_find_bhb_is_in_dir():
    assert {"find_bhb", "Pipeline", "__version__"} <= set(dir(bhbfinder))


def test_spectrum_meta_file_names_its_row():
    spectra = []
    for i in range(3):
        spec = spectrum_arrays(seed=i).to_spectrum()
        if i != 1:
            spec.meta["file"] = f"/archive/spec-{i}.fits"
        spectra.append(spec)
    cat = find_bhb(spectra, stages=STAGES)
    assert list(cat["file"]) == ["/archive/spec-0.fits", "<memory:1>", "/archive/spec-2.fits"]


# -- stage status and --strict ---------------------------------------------------------------
class Offline:
    """A network stage without network."""

    def run(self, catalog):
        raise ConnectionError("no route to host")


def test_failed_online_stages_are_recorded_and_masked(data):
    with pytest.warns(UserWarning, match="known stage failed"):
        cat = find_bhb(str(data), stages=dict(STAGES, crossmatch=Offline(), known=Offline()))
    status = cat.meta["stage_status"]
    assert status["crossmatch"].startswith("failed: ConnectionError")
    assert status["known"].startswith("failed: ConnectionError")
    assert status["classify"] == "ok" and status["params"] == "skipped"
    assert np.ma.getmaskarray(cat["gaia_source_id"]).all()
    assert np.ma.getmaskarray(cat["in_bhb_cmd_region"]).all()
    cand = np.asarray(cat["is_bhb_candidate"].filled(False)) & \
        np.asarray(cat["balmer_confirmed"].filled(False))
    assert cand.any()
    assert np.ma.getmaskarray(cat["is_new_bhb"])[cand].all(), "novelty unknown, not True"
    assert cat.meta["summary"]["new"] == 0
    assert cat.meta["summary"]["new_undetermined"] == cand.sum()


def test_known_check_that_ran_decides_is_new_bhb(data):
    class NoneKnown:
        def run(self, catalog):
            return Table({"known_catalog": [""] * len(catalog)})

    cat = find_bhb(str(data), stages=dict(STAGES, known=NoneKnown()))
    cand = np.asarray(cat["is_bhb_candidate"].filled(False)) & \
        np.asarray(cat["balmer_confirmed"].filled(False))
    assert not np.ma.getmaskarray(cat["is_new_bhb"]).any()
    assert np.array_equal(np.asarray(cat["is_new_bhb"]), cand)
    assert cat.meta["stage_status"]["known"] == "ok"


def test_strict_raises_after_writing(data, tmp_path):
    out = tmp_path / "cat.fits"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(IncompleteRunError, match="strict run.*known: failed") as info:
            find_bhb(str(data), stages=dict(STAGES, known=Offline()), output=out, strict=True)
    assert info.value.catalog is not None and out.exists()
    assert read_catalog(out).meta["stage_status"]["known"].startswith("failed")
    # a run without failures passes strict
    find_bhb(str(data), stages=STAGES, strict=True)


def test_cli_strict_exit_status(data, tmp_path, monkeypatch, capsys):
    real = pipeline.find_bhb

    def with_offline(*args, **kwargs):
        kwargs["stages"] = dict(STAGES, known=Offline())
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "find_bhb", with_offline)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert cli.main(["find", str(data), "-o", str(tmp_path / "a.ecsv"), "--quiet"]) == 0
        assert cli.main(["find", str(data), "-o", str(tmp_path / "b.ecsv"), "--quiet",
                         "--strict"]) == 3
    assert "known: failed" in capsys.readouterr().err
    assert (tmp_path / "b.ecsv").exists()


# -- plugins ---------------------------------------------------------------------------------
def _manager_with(*plugins):
    from bhbfinder.plugins import BHBPluginManager

    pm = BHBPluginManager()
    pm.load_builtins()
    for name, plugin in plugins:
        pm.register(plugin, name=name)
    return pm


def _claiming_plugin(reader_name):
    from bhbfinder.hookspecs import hookimpl
    from bhbfinder.io.lamost import LamostReader

    class Reader(LamostReader):
        name = reader_name

    class Plugin:
        @hookimpl
        def bhbfinder_get_reader(self, path, head):
            return Reader()

    return Plugin()


def test_two_plugins_claiming_a_file_are_reported(data):
    from bhbfinder.io.sniff import read_head

    path = str(sorted(data.glob("*.fits"))[0])
    pm = _manager_with(("first", _claiming_plugin("r1")), ("second", _claiming_plugin("r2")))
    with pytest.warns(PluginWarning, match=r"plugins \['second', 'first'\] all claim"):
        reader = pm.get_reader(path, read_head(path))
    assert reader.name == "r2"
    claims = [(name, r.name) for name, r in pm.which_readers(path, read_head(path))]
    assert claims == [("second", "r2"), ("first", "r1"), ("builtin:lamost", "LAMOST-LRS")]


def test_one_plugin_taking_over_a_builtin_format_is_no_conflict(data):
    from bhbfinder.io.sniff import read_head

    path = str(sorted(data.glob("*.fits"))[0])
    pm = _manager_with(("only", _claiming_plugin("r1")))
    with warnings.catch_warnings():
        warnings.simplefilter("error", PluginWarning)
        assert pm.get_reader(path, read_head(path)).name == "r1"


def test_failed_plugin_is_listed(monkeypatch, capsys):
    import importlib.metadata

    from bhbfinder import plugins

    class BrokenEntryPoint:
        name, value, group, dist = "broken", "no_such_module.plugin", plugins.ENTRY_POINT_GROUP, \
            None

        def load(self):
            import no_such_module  # noqa: F401

    real = importlib.metadata.entry_points

    def entry_points(**kwargs):
        if kwargs.get("group") == plugins.ENTRY_POINT_GROUP:
            return list(real(**kwargs)) + [BrokenEntryPoint()]
        return real(**kwargs)

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    try:
        with pytest.warns(PluginWarning, match="'broken'.*failed to load"):
            plugins.get_plugin_manager(reload=True)
        table = plugins.list_plugins()
        row = table[list(table["name"]).index("broken")]
        assert row["status"].startswith("failed: ModuleNotFoundError")
        assert row["module"] == "no_such_module.plugin"
        assert cli.main(["plugins"]) == 0
        assert "no_such_module" in capsys.readouterr().out
    finally:
        monkeypatch.undo()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            plugins.get_plugin_manager(reload=True)


def test_cli_plugins_which(data, tmp_path, capsys):
    path = sorted(data.glob("*.fits"))[0]
    assert cli.main(["plugins", "--which", str(path)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert "LAMOST-LRS" in lines[0] and lines[0].endswith("reads it")
    (tmp_path / "x.txt").write_text("hello")
    assert cli.main(["plugins", "--which", str(tmp_path / "x.txt")]) == 1
    assert "no installed reader" in capsys.readouterr().out
