"""Model and part files are checked before anything is allocated or built from them."""

import copy
import json
import zipfile

import asdf
import numpy as np
import pytest

from bhbfinder import find_bhb
from bhbfinder._modelcheck import check_model_file
from bhbfinder._tree import check_asdf_file, open_plain_asdf
from bhbfinder.errors import ModelFileError, PartFileError
from bhbfinder.pipeline import Pipeline
from bhbfinder.pipeline.parts import read_part, write_part

from .test_parts import _chunk

HEADER = (b"#ASDF 1.0.0\n#ASDF_STANDARD 1.5.0\n%YAML 1.1\n%TAG ! tag:stsci.edu:asdf/\n"
          b"--- !core/asdf-1.1.0\n")


def _alias_bomb(path, levels=9):
    lines = [b"l0: &l0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels + 1):
        refs = b", ".join([b"*l%d" % (i - 1)] * 9)
        lines.append(b"l%d: &l%d [%s]" % (i, i, refs))
    lines.append(b"bhbfinder_classifier: {architecture: *l%d, classes: [BHB]}" % levels)
    path.write_bytes(HEADER + b"\n".join(lines) + b"\n...\n")
    return path


def _default_tree():
    from bhbfinder.classify.modelfile import default_model_path

    with open_plain_asdf(default_model_path()) as af:
        tree = af.tree["bhbfinder_classifier"]
        return {k: (copy.deepcopy(v) if not isinstance(v, dict) else
                    {kk: np.array(vv) if hasattr(vv, "shape") else copy.deepcopy(vv)
                     for kk, vv in v.items()})
                for k, v in tree.items()}


def _save(tree, path):
    asdf.AsdfFile({"bhbfinder_classifier": tree}).write_to(path)
    return path


def test_yaml_alias_bomb_is_refused_quickly(tmp_path):
    bomb = _alias_bomb(tmp_path / "bomb.asdf")
    assert bomb.stat().st_size < 1000
    with pytest.raises(ModelFileError, match=r"bomb.asdf: .*expands to more than"):
        check_asdf_file(bomb)
    with pytest.raises(ModelFileError, match="bomb.asdf"):
        check_model_file(bomb)
    from bhbfinder.classify.modelfile import load_model

    with pytest.raises(ModelFileError, match="bomb.asdf"):
        load_model(bomb)


def test_absurd_widths_are_refused_before_allocation(tmp_path):
    tree = _default_tree()
    tree["architecture"]["widths"] = [200_000, 400_000, 800_000]
    path = _save(tree, tmp_path / "wide.asdf")
    # built on the meta device: no memory is allocated for the 10^11 parameters
    with pytest.raises(ModelFileError, match=r"wide.asdf: the stage-1 weight .* has shape"):
        check_model_file(path)
    with pytest.raises(ModelFileError, match="wide.asdf"):
        find_bhb([], model=path)


@pytest.mark.parametrize("drop", ["architecture", "weights", "classes"])
def test_missing_keys_name_the_file_not_a_keyerror(tmp_path, drop):
    tree = _default_tree()
    del tree[drop]
    path = _save(tree, tmp_path / f"no_{drop}.asdf")
    with pytest.raises(ModelFileError, match=f"no_{drop}.asdf: the model has no '{drop}'"):
        Pipeline(model=path).check_stages()


def test_truncated_model_file(tmp_path):
    from bhbfinder.classify.modelfile import default_model_path

    raw = default_model_path().read_bytes()
    path = tmp_path / "cut.asdf"
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ModelFileError, match="cut.asdf"):
        check_model_file(path)
    path.write_bytes(raw[:300])
    with pytest.raises(ModelFileError, match="cut.asdf"):
        check_model_file(path)


def test_array_larger_than_its_block_is_refused(tmp_path):
    path = tmp_path / "lie.asdf"
    asdf.AsdfFile({"a": np.arange(10.0)}).write_to(path)
    raw = path.read_bytes().replace(b"shape: [10]", b"shape: [10000000]")
    path.write_bytes(raw)
    with pytest.raises(ModelFileError, match="does not fit its block"):
        check_asdf_file(path)


def test_block_claiming_more_than_the_file_is_refused(tmp_path):
    path = tmp_path / "big.asdf"
    asdf.AsdfFile({"a": np.arange(10.0)}).write_to(path)
    raw = bytearray(path.read_bytes())
    start = raw.index(b"\xd3BLK") + 6
    raw[start + 8:start + 16] = (1 << 40).to_bytes(8, "big")  # allocated_size
    raw[start + 16:start + 24] = (1 << 40).to_bytes(8, "big")  # used_size
    path.write_bytes(bytes(raw))
    with pytest.raises(ModelFileError, match="claims 1099511627776 bytes"):
        check_asdf_file(path)


def test_shipped_models_pass():
    from bhbfinder.classify.modelfile import default_model_path

    check_model_file(default_model_path())
    for path in default_model_path().parent.glob("*.asdf"):
        check_asdf_file(path)


# -- part files ------------------------------------------------------------------------------
def test_damaged_part_files_name_the_file(tmp_path):
    path = write_part(_chunk(), tmp_path / "part-000000000.npz")
    raw = path.read_bytes()
    cut = tmp_path / "part-000000005.npz"
    cut.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(PartFileError, match="part-000000005.npz: not a readable"):
        read_part(cut)
    garbage = tmp_path / "part-000000010.npz"
    np.savez(garbage, header=np.array("{not json"))
    with pytest.raises(PartFileError, match="part-000000010.npz"):
        read_part(garbage)
    missing_columns = tmp_path / "part-000000015.npz"
    np.savez(missing_columns, header=np.array(json.dumps({"format": "bhbfinder-part"})))
    with pytest.raises(PartFileError, match="part-000000015.npz"):
        read_part(missing_columns)


def test_part_member_declaring_more_data_than_it_holds(tmp_path):
    path = write_part(_chunk(), tmp_path / "part-000000000.npz")
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    npy = members["d3.npy"]
    header_end = npy.index(b"\n") + 1
    header = npy[:header_end - 1].replace(b"(5,)", b"(9999999999,)").rstrip(b" ")
    header = header.ljust(header_end - 1) + b"\n"
    assert len(header) == header_end
    members["d3.npy"] = header + npy[header_end:]
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    with pytest.raises(PartFileError, match="declares 79999999992 bytes"):
        read_part(path)


@pytest.mark.parametrize("executor", [None, 2])
def test_model_that_fails_to_build_stops_the_run(tmp_path, executor):
    """Not a row per spectrum saying "classify failed" and exit status 0: an error naming the
    stage, before any chunk, in the calling process and in workers alike."""
    from bhbfinder import cli
    from bhbfinder.errors import ConfigurationError
    from bhbfinder.io.lamost import write_lamost

    from .fakestages import spectrum_arrays

    tree = _default_tree()
    tree["threshold"] = "high"  # sound structure, but the classifier cannot be made from it
    model = _save(tree, tmp_path / "bad_threshold.asdf")
    check_model_file(model)
    a = spectrum_arrays("A")
    (tmp_path / "data").mkdir()
    write_lamost(tmp_path / "data" / "spec.fits", a.wavelength, a.flux, a.ivar, meta=a.meta)
    with pytest.raises(ConfigurationError, match="classify stage 'msfanet' could not be built"):
        find_bhb(str(tmp_path / "data"), model=model, executor=executor)
    if executor is None:
        assert cli.main(["find", str(tmp_path / "data"), "-o", str(tmp_path / "c.fits"),
                         "--model", str(model), "--quiet"]) == 1
        assert not (tmp_path / "c.fits").exists()
