"""The pipeline's machinery on in-memory spectra with stand-in stages (known answers)."""

import numpy as np
import pytest
from astropy.table import QTable

from bhbfinder import find_bhb
from bhbfinder.catalog import CATALOG_COLUMNS
from bhbfinder.errors import ConfigurationError
from bhbfinder.pipeline import Pipeline

from .fakestages import STAGES, ExplodingBalmer, spectrum_arrays


def _spectra(n=7):
    return [spectrum_arrays("BHB" if i % 3 == 0 else "A", seed=i).to_spectrum()
            for i in range(n)]


def test_in_memory_spectra_one_row_each_with_known_verdicts():
    spectra = _spectra(7)
    cat = find_bhb(spectra, stages=STAGES, batch_size=3, progress=False)
    assert isinstance(cat, QTable)
    assert len(cat) == 7
    assert list(cat["file"]) == [f"<memory:{i}>" for i in range(7)]
    assert set(CATALOG_COLUMNS) <= set(cat.colnames)
    expected = np.array([i % 3 == 0 for i in range(7)])
    assert np.array_equal(np.asarray(cat["is_bhb_candidate"]), expected)
    # every row representative and confirmed (depth 0.5), but no known-catalogue check ran
    # offline: whether a candidate is new cannot be told (masked); a non-candidate is not new
    new = cat["is_new_bhb"]
    assert np.array_equal(np.ma.getmaskarray(new), expected)
    assert not np.asarray(new.filled(True))[~expected].any()
    assert cat.meta["summary"]["candidates"] == expected.sum()
    assert cat.meta["summary"]["new"] == 0
    assert cat.meta["summary"]["new_undetermined"] == expected.sum()
    assert cat.meta["stages"]["crossmatch"] == "skipped"
    assert cat.meta["stage_status"]["known"] == "skipped"
    assert cat["ra"].unit == "deg"
    assert "column_descriptions" in cat.meta


def test_failing_stage_marks_its_chunk_and_run_continues():
    spectra = _spectra(6)
    stages = dict(STAGES, balmer=ExplodingBalmer(poison={"<memory:4>"}))
    with pytest.warns(UserWarning, match="balmer stage failed"):
        cat = find_bhb(spectra, stages=stages, batch_size=3, progress=False)
    assert len(cat) == 6
    status = list(cat["status"])
    assert status[:3] == ["ok"] * 3
    assert all(s.startswith("balmer failed: RuntimeError: injected failure") for s in status[3:])
    # classification of the failed chunk is kept: no work lost
    assert not np.ma.is_masked(cat["is_bhb_candidate"][3])


def test_uncovered_spectrum_gets_prepare_status():
    short = spectrum_arrays(seed=1, wave=np.linspace(5000, 6000, 500)).to_spectrum()
    cat = find_bhb([short] + _spectra(2), stages=STAGES, progress=False)
    assert cat["status"][0] == "no coverage of the model grid"
    assert np.ma.is_masked(cat["is_bhb_candidate"][0])
    assert list(cat["status"][1:]) == ["ok", "ok"]


def test_bad_arguments_are_named():
    with pytest.raises(ConfigurationError, match="cooking"):
        Pipeline(stages={"cooking": "x"})
    with pytest.raises(ConfigurationError, match="batch_size"):
        Pipeline(batch_size=0)
    with pytest.raises(ConfigurationError, match="cannot read spectra from a int"):
        find_bhb(42, stages=STAGES, progress=False)


def test_pipeline_step_by_step_matches_find_bhb():
    from bhbfinder.batch import RawBatch

    arrays = [spectrum_arrays("BHB" if i == 1 else "A", seed=i) for i in range(3)]
    for i, a in enumerate(arrays):
        a.meta["file"] = f"<memory:{i}>"
    pipe = Pipeline(stages=STAGES)
    raw = RawBatch.from_records(arrays)
    prepared = pipe.prepare(raw)
    assert prepared.flux.shape == (3, 200)
    table = pipe.process(raw)
    cat = pipe.finalize(table)
    direct = find_bhb([a.to_spectrum() for a in arrays], stages=STAGES, progress=False)
    assert list(cat["is_bhb_candidate"]) == list(direct["is_bhb_candidate"]) == [False, True, False]


def test_missing_model_fails_before_any_work(tmp_path):
    from bhbfinder.errors import ModelFileError

    with pytest.raises(ModelFileError, match="nonexistent.asdf"):
        find_bhb(_spectra(2), model=tmp_path / "nonexistent.asdf",
                 stages={k: v for k, v in STAGES.items() if k != "classify"}, progress=False)


def test_params_runs_only_on_selected_classes_with_rows_aligned():
    from .fakestages import FakeParams

    params = FakeParams()
    spectra = _spectra(7)            # BHB at 0, 3, 6
    cat = find_bhb(spectra, stages=dict(STAGES, params=params), params_classes=("BHB",),
                   progress=False)
    assert params.seen == [3]
    teff = cat["teff"]
    bhb = np.array([i % 3 == 0 for i in range(7)])
    assert np.all(np.ma.getmaskarray(teff) == ~bhb)
    assert list(np.asarray(teff.value)[bhb]) == [1000.0, 1003.0, 1006.0]   # obsid = 1000 + seed
    everyone = find_bhb(spectra, stages=dict(STAGES, params=FakeParams()), params_classes=None,
                        progress=False)
    assert not np.ma.getmaskarray(everyone["teff"]).any()


def test_balmer_runs_only_on_selected_classes():
    spectra = _spectra(7)            # BHB at 0, 3, 6
    bhb = np.array([i % 3 == 0 for i in range(7)])
    only_bhb = find_bhb(spectra, stages=STAGES, balmer_classes=("BHB",), progress=False)
    everyone = find_bhb(spectra, stages=STAGES, balmer_classes=None, progress=False)
    assert np.array_equal(np.ma.getmaskarray(only_bhb["hgamma_a"]), ~bhb)
    assert not np.ma.getmaskarray(everyone["hgamma_a"]).any()
    assert np.allclose(np.asarray(only_bhb["hgamma_a"])[bhb], np.asarray(everyone["hgamma_a"])[bhb])
    assert list(only_bhb["is_bhb_candidate"]) == list(everyone["is_bhb_candidate"])


def test_parallel_run_stops_on_stage_setup_errors(tmp_path):
    """Workers build the stages; a stage that cannot be built stops the run as in serial."""
    from concurrent.futures import ThreadPoolExecutor

    from bhbfinder.errors import ModelFileError, StageNotFoundError

    with ThreadPoolExecutor(2) as pool:
        # a bad option: raised by the stage factory in the worker, re-raised here
        with pytest.raises(ConfigurationError, match="stage2_rows"):
            find_bhb(_spectra(4), stages={k: v for k, v in STAGES.items() if k != "classify"},
                     config={"classify": {"stage2_rows": "bogus"}}, batch_size=2,
                     executor=pool, progress=False)
        # a missing model file and an unknown stage name: caught before any chunk is sent
        with pytest.raises(ModelFileError, match="nonexistent.asdf"):
            find_bhb(_spectra(2), model=tmp_path / "nonexistent.asdf", executor=pool,
                     stages={k: v for k, v in STAGES.items() if k != "classify"},
                     progress=False)
        with pytest.raises(StageNotFoundError):
            find_bhb(_spectra(2), stages=dict(STAGES, balmer="no-such-fitter"), executor=pool,
                     progress=False)
        # and a good parallel run still gives the serial answer
        serial = find_bhb(_spectra(5), stages=STAGES, batch_size=2, progress=False)
        threaded = find_bhb(_spectra(5), stages=STAGES, batch_size=2, executor=pool,
                            progress=False)
    assert list(serial["is_bhb_candidate"]) == list(threaded["is_bhb_candidate"])
    assert list(serial["status"]) == list(threaded["status"])


def test_a_chunk_is_prepared_once_for_stages_that_share_the_preprocessing():
    """The classifier names a preprocessing, Balmer none (it takes the classifier's), params
    the classifier's: the chunk is prepared once, and checked for the stages that name one."""
    from bhbfinder.batch import RawBatch
    from bhbfinder.spectra.prepare import PrepareConfig

    from .fakestages import FakeBalmer, FakeClassify, FakePrepare

    config = PrepareConfig()
    calls = []

    class CountingPrepare(FakePrepare):
        def run(self, raw):
            calls.append(len(raw))
            return super().run(raw)

    class Classify(FakeClassify):
        prepare_config = config

    class Params(FakeBalmer):
        prepare_config = config

    arrays = [spectrum_arrays("A", seed=i) for i in range(3)]
    pipe = Pipeline(stages=dict(STAGES, prepare=CountingPrepare(config), classify=Classify(),
                                params=Params()), params_classes=None)
    table = pipe.process(RawBatch.from_records(arrays))
    assert calls == [3] and len(table) == 3
    assert list(table["status"]) == ["ok"] * 3
