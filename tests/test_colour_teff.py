"""A photometric temperature from g − r: the header magnitudes LAMOST files carry, the shipped
colour–temperature relation, and the ``prepare`` stage's ``teff_phot`` from them."""

import json
import os

import numpy as np
import pytest
from astropy.table import MaskedColumn, Table

from bhbfinder import find_bhb
from bhbfinder.balmer import BalmerStage
from bhbfinder.errors import ConfigurationError
from bhbfinder.io.lamost import header_magnitudes, read_lamost, write_lamost
from bhbfinder.io.read import iter_paths, read_batch
from bhbfinder.params.colour_teff import (
    G_R_RELATION,
    ColourTeffRelation,
    load_relation,
    teff_phot_columns,
)
from bhbfinder.params.extinction import reddening_coefficient
from bhbfinder.stages.prepare import PrepareStage

from .fakestages import STAGES, spectrum_arrays

TOY = ColourTeffRelation("g_r", (0.2, 0.1, -0.5, 3.9), (-0.4, 0.3), 0.04)


# ------------------------------------------------------------------------------------------
# header magnitudes


@pytest.mark.parametrize("magtype, mags, expected", [
    ("ugriz", [16.64, 15.38, 15.29, 15.25, 15.28], {"g": 15.38, "r": 15.29}),
    ("MODugriz", [19.6, 17.69, 16.68, 16.26, 15.9], {"g": 17.69, "r": 16.68}),
    ("gri", [15.3, 15.36, 15.29, 99.0], {"g": 15.3, "r": 15.36}),
    ("grizyjh", [15.64, 15.1, 14.86, 14.78, 14.7, 99.0, 99.0], {"g": 15.64, "r": 15.1}),
    ("ugrizFuvUv", [14.8, 14.7, 13.1, 13.0, 13.3, 21.6, 17.1], {"g": 14.7, "r": 13.1}),
    ("ugrijhk", [99.0, 0.0, 12.89, 0.0, 11.57, 11.3, 11.2], {"r": 12.89}),   # 0: none
    ("BR1R2I", [12.73, 12.73, 12.52, 12.45, 99.0], {}),       # photographic: no g, r
    ("fibermagr", [16.85, 16.33, 16.38, 17.3, 15.61], {}),   # the fibre's, not the star's
    (None, [], {}),
])
def test_header_magnitudes_by_magtype(magtype, mags, expected):
    header = {"MAGTYPE": magtype} if magtype else {}
    header.update({f"MAG{i + 1}": v for i, v in enumerate(mags)})
    got = header_magnitudes(header)
    assert {b: got[b] for b in "gr" if b in got} == expected


def test_header_magnitudes_band_names():
    header = {"MAGTYPE": "BR1R2I", "MAG1": 12.7, "MAG2": 12.6, "MAG3": 12.5, "MAG4": 12.4}
    assert header_magnitudes(header) == {"B": 12.7, "R1": 12.6, "R2": 12.5, "I": 12.4}
    assert header_magnitudes({"MAGTYPE": "ugriz", "MAG2": "n/a", "MAG3": 15.0}) == {"r": 15.0}


@pytest.mark.parametrize("layout, dialect", [("A", "dr6"), ("A", "dr1"), ("B", "dr6")])
def test_magnitudes_round_trip_through_a_lamost_file(tmp_path, layout, dialect):
    a = spectrum_arrays()
    meta = dict(a.meta, mag_g=15.38, mag_r=15.29)
    path = write_lamost(tmp_path / "with.fits", a.wavelength, a.flux, a.ivar, meta=meta,
                        layout=layout, dialect=dialect)
    for fast in (True, False):
        got = read_lamost(path, fast=fast).meta
        assert (got["mag_g"], got["mag_r"]) == (15.38, 15.29)
    without = write_lamost(tmp_path / "without.fits", a.wavelength, a.flux, a.ivar,
                           meta=a.meta, layout=layout, dialect=dialect)
    got = read_lamost(without).meta
    assert got["mag_g"] is None and got["mag_r"] is None


# ------------------------------------------------------------------------------------------
# the relation


def test_relation_known_answers():
    gr = np.array([-0.3, 0.0, 0.2])
    teff, err = TOY.teff(gr)
    np.testing.assert_allclose(teff, 10 ** np.polyval(TOY.coefficients, gr))
    # the errors, the relation's own and the colour's, go through its slope (checked by
    # finite differences)
    h = 1e-6
    slope = (TOY.teff(gr + h)[0] - TOY.teff(gr - h)[0]) / (2 * h)
    np.testing.assert_allclose(err, 0.04 * np.abs(slope), rtol=1e-6)
    np.testing.assert_allclose(TOY.teff(gr, colour_err=0.03)[1], 0.05 * np.abs(slope),
                               rtol=1e-6)
    teff, err = TOY.teff([-0.5, 0.31, np.nan])     # outside the fitted colours: none
    assert np.isnan(teff).all() and np.isnan(err).all()


def test_relation_file_round_trip(tmp_path):
    path = tmp_path / "rel.json"
    path.write_text(json.dumps(TOY.to_dict()))
    assert load_relation(str(path)) == TOY
    assert load_relation(TOY.to_dict()) == TOY
    with pytest.raises(ConfigurationError, match="not a colour-Teff relation"):
        load_relation({"format": "something else"})
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_relation(str(tmp_path / "missing.json"))


def test_shipped_relation_is_physical():
    """Teff falls monotonically with g − r over the fitted colours, from late-B to F stars,
    and the file says how it was made."""
    rel = load_relation()
    assert rel is G_R_RELATION and rel.colour == "g_r"
    lo, hi = rel.colour_range
    gr = np.linspace(lo, hi, 200)
    teff = rel.teff(gr)[0]
    assert np.all(np.diff(teff) < 0)
    assert 10_500 < teff[0] < 14_000 and 6_000 < teff[-1] < 7_200
    assert 0.01 < rel.colour_scatter < 0.1
    err = rel.teff(gr)[1]          # as a Teff, the error grows where g - r flattens
    assert err[0] > 3 * err[-1]
    assert rel.meta["script"] == "scripts/derive_colour_teff.py" and rel.meta["n_stars"] > 50


@pytest.mark.realdata
def test_shipped_relation_is_the_derivation(shared_data):
    """``scripts/derive_colour_teff.py`` on the shared data gives the shipped file."""
    pytest.importorskip("speclite")
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "derive_colour_teff.py"
    spec = importlib.util.spec_from_file_location("derive_colour_teff", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    derived = module.derive(shared_data)
    assert derived == G_R_RELATION
    assert derived.meta["by_teff"] == G_R_RELATION.meta["by_teff"]


# ------------------------------------------------------------------------------------------
# the columns


def _meta():
    return Table({
        "mag_g": MaskedColumn([15.0, 15.0, 15.0, 0.0, 15.0], mask=[0, 0, 0, 1, 0]),
        "mag_r": MaskedColumn([15.1, 15.2, 15.1, 0.0, 14.0], mask=[0, 0, 0, 1, 0]),
        "teff_phot": MaskedColumn([0.0, 8123.0, 0.0, 0.0, 0.0], mask=[1, 0, 1, 1, 1]),
        "ebv": MaskedColumn([0.0, 0.0, 0.05, 0.0, 0.0], mask=[1, 1, 0, 1, 1]),
    })


def test_teff_phot_columns_known_answers():
    cols = teff_phot_columns(_meta(), TOY, colour_error=0.03, teff_phot_error=250.0)
    value = np.ma.filled(cols["teff_phot"], np.nan)
    error = np.ma.filled(cols["teff_phot_err"], np.nan)
    source = list(np.ma.filled(cols["teff_phot_source"], "-"))
    # row 0: the colour as observed
    t0, e0 = TOY.teff(-0.1, colour_err=0.03)
    assert (value[0], error[0], source[0]) == (pytest.approx(t0), pytest.approx(e0), "g_r")
    # row 1: its own teff_phot stays, with the default error
    assert (value[1], error[1], source[1]) == (8123.0, 250.0, "table")
    # row 2: dereddened by E(g - r) = 1.018 E(B - V), the reddening's 16 % error added
    k = reddening_coefficient("g_r")
    t2, e2 = TOY.teff(-0.1 - k * 0.05, colour_err=np.hypot(0.03, k * 0.16 * 0.05))
    assert (value[2], error[2]) == (pytest.approx(t2), pytest.approx(e2))
    assert k == pytest.approx(1.018)
    # row 3: no magnitudes; row 4: g - r = 1.0, outside the relation: none
    assert np.all(cols["teff_phot"].mask[3:]) and source[3:] == ["-", "-"]


def test_teff_phot_columns_refuses_text_magnitudes():
    meta = Table({"mag_g": ["x"], "mag_r": ["15.0"]})
    with pytest.raises(ConfigurationError, match="'mag_g' must hold numbers"):
        teff_phot_columns(meta, TOY)


def test_table_errors_and_no_colour_columns():
    meta = Table({"teff_phot": [9000.0, 9100.0], "teff_phot_err": [120.0, np.nan]})
    cols = teff_phot_columns(meta, TOY)
    assert list(cols["teff_phot_source"]) == ["table", "table"]
    assert cols["teff_phot_err"][0] == 120.0 and cols["teff_phot_err"].mask[1]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Three LAMOST-layout files: two with input-catalogue g and r in their headers."""
    root = tmp_path_factory.mktemp("colour")
    paths = []
    for i, (g, r) in enumerate([(15.0, 15.1), (16.0, 15.8), (None, None)]):
        a = spectrum_arrays("BHB", seed=i)
        paths.append(str(write_lamost(root / f"spec-{i}.fits", a.wavelength, a.flux, a.ivar,
                                      meta=dict(a.meta, mag_g=g, mag_r=r))))
    return paths


def test_prepare_stage_gives_the_balmer_stage_a_colour_temperature(files):
    """With ``teff_phot_from_colour`` the rows without a ``teff_phot`` get the relation's from
    their headers' g − r before the batch stages run: ``lamost-phot`` cuts by it, and a row
    without magnitudes is not confirmed and says so."""
    table = Table({"path": files, "teff_phot": MaskedColumn([0.0, 7777.0, 0.0],
                                                            mask=[True, False, True])})
    stages = dict(STAGES, prepare=PrepareStage(teff_phot_from_colour=True),
                  balmer=BalmerStage(criteria="lamost-phot"))
    cat = find_bhb(table, stages=stages, balmer_classes=None)
    cat.sort("file")
    t0 = G_R_RELATION.teff(-0.1, colour_err=0.03)
    assert cat["teff_phot"][0].value == pytest.approx(t0[0])
    assert cat["teff_phot_err"][0].value == pytest.approx(t0[1])
    assert cat["teff_phot"][1].value == 7777.0                      # the table's wins
    assert list(cat["teff_phot_source"].filled("-")) == ["g_r", "table", "-"]
    reasons = [str(r) for r in cat["balmer_reason"]]
    assert reasons[2].startswith("teff_phot not given")
    assert not reasons[0].startswith("teff_phot") and not reasons[1].startswith("teff_phot")
    # a column of text: every row of the run is a failure row that names it, none is lost
    bad = Table({"path": files, "mag_g": ["15.0", "x", "16"]})
    failed = find_bhb(bad, stages=stages, balmer_classes=None, batch_size=2)
    assert len(failed) == 3
    assert all("the column 'mag_g' must hold numbers" in str(s) for s in failed["status"])
    # off (the default): no column is made
    plain = find_bhb(files, stages=dict(STAGES, prepare=PrepareStage()), balmer_classes=None)
    assert "teff_phot" not in plain.colnames
    np.testing.assert_allclose(np.sort(plain["mag_g"].filled(np.nan))[:2], [15.0, 16.0])


def test_cli_flag_gives_the_colour_temperature(files, tmp_path):
    """``bhbfinder find --teff-phot-from-colour`` is ``prepare.teff_phot_from_colour``: the
    catalogue it writes carries the relation's Teff for the files with g and r."""
    from bhbfinder import cli
    from bhbfinder.catalog import read_catalog

    out = tmp_path / "cat.ecsv"
    assert cli.main(["find", *files, "-o", str(out), "--quiet",
                     "--teff-phot-from-colour"]) == 0
    cat = read_catalog(out)
    cat.sort("file")
    expected = G_R_RELATION.teff([-0.1, 0.2])[0]    # the second lies outside: none
    teff_phot = np.ma.filled(np.ma.asarray(cat["teff_phot"].value), np.nan)
    assert teff_phot[0] == pytest.approx(expected[0])
    assert np.isnan(expected[1]) and np.isnan(teff_phot[1:]).all()
    assert list(cat["teff_phot_source"].filled("-")) == ["g_r", "-", "-"]


# ------------------------------------------------------------------------------------------
# real files

# the known g - r of two LAMOST visits of one Stripe 82 star (SDSS ugriz; Pan-STARRS gri)
STRIPE82_VISITS = {"spec-55859-F5907_sp05-114.fits.gz": 0.09,
                   "spec-57304-EG025335S013827B01_sp13-250.fits.gz": -0.06}
# the bands' positions in the MAGTYPE values found in the shared files
G_R_POSITIONS = {"ugriz": (2, 3), "MODugriz": (2, 3), "gri": (1, 2), "ugrizjh": (2, 3),
                 "grizyjh": (1, 2), "ugrizFuvUv": (2, 3), "ugrijhk": (2, 3)}


@pytest.mark.realdata
def test_real_lamost_headers_give_g_and_r(shared_data):
    """Every real LAMOST file's g and r, read through the batch path, against a plain reading
    of its header; 201 of the 227 files have both."""
    from astropy.io import fits

    paths = list(iter_paths(shared_data / "lamost"))
    batch = read_batch(paths)
    both = 0
    for i, path in enumerate(paths):
        header = fits.getheader(path)
        pos = G_R_POSITIONS.get(header.get("MAGTYPE"))
        expected = [None, None]
        if pos:
            for j, p in enumerate(pos):
                v = header.get(f"MAG{p}")
                expected[j] = v if v is not None and 0 < v < 90 else None
        got = [None if np.ma.is_masked(batch.meta[k][i]) else float(batch.meta[k][i])
               for k in ("mag_g", "mag_r")]
        assert got == expected, path
        both += None not in got
        name = os.path.basename(path)
        if name in STRIPE82_VISITS:
            assert got[0] - got[1] == pytest.approx(STRIPE82_VISITS[name], abs=1e-6)
    assert both == 201


@pytest.mark.realdata
def test_real_files_run_with_a_colour_temperature(shared_data):
    """``find_bhb`` with ``prepare.teff_phot_from_colour``: the two visits of the Stripe 82 A1V
    star get the relation's Teff of their headers' g − r and the params stage fits it
    (``params_flags`` bit 32); a file with only photographic magnitudes gets none."""
    names = list(STRIPE82_VISITS) + ["spec-55859-F5907_sp01-195.fits.gz"]   # BR1R2I
    paths = sorted(str(p) for p in iter_paths(shared_data / "lamost")
                   if os.path.basename(p) in names)
    assert len(paths) == 3
    cat = find_bhb(paths, config={"prepare": {"teff_phot_from_colour": True}}, progress=False)
    for row in cat:
        name = os.path.basename(str(row["file"]))
        if name in STRIPE82_VISITS:
            teff, err = G_R_RELATION.teff(STRIPE82_VISITS[name], colour_err=0.03)
            assert row["teff_phot"].value == pytest.approx(teff, rel=1e-4)
            assert row["teff_phot_source"] == "g_r"
            assert int(row["params_flags"]) & 32
        else:
            assert np.ma.is_masked(row["teff_phot"]) and not int(row["params_flags"]) & 32
