"""Template libraries: stellar spectra (or models) with labels and a known resolution.

A `TemplateLibrary` holds rest-frame spectra on one vacuum wavelength grid with their resolution
and one label row per template. Two loaders read real template sets that users download
themselves:

`load_miles`
    the MILES stellar library (Sánchez-Blázquez et al. 2006; Falcón-Barroso et al. 2011): 1-D FITS
    files on a linear **air** wavelength grid (``CRVAL1 + CDELT1 * i``), FWHM 2.5 Å, relative flux,
    with the MILES parameter table or a CSV of labels.
`load_eigenstars`
    the SDSS stellar templates ``spEigenStar-*.fits`` (idlspec2d): one spectrum per row on the
    vacuum grid ``10**(COEFF0 + COEFF1 * i)``, class names in the ``NAMEi`` header cards.

The built-in analytic model (`bhbfinder.simulate.analytic`) makes a third kind that needs no files.
"""

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table

from ..errors import ConfigurationError, SpectrumReadError
from ..spectra.lines import C_KMS, air_to_vacuum
from .classes import CLASSES, classify_star

__all__ = [
    "TemplateLibrary",
    "LABEL_COLUMNS",
    "MILES_FWHM",
    "EIGENSTAR_RESOLVING_POWER",
    "load_miles",
    "read_miles_params",
    "load_eigenstars",
    "eigenstar_class",
]

#: Columns of `TemplateLibrary.labels`.
LABEL_COLUMNS = ("name", "star_id", "label", "teff", "logg", "feh", "sptype", "source")

#: MILES resolution, FWHM in Å (Falcón-Barroso et al. 2011), used when a header has no FWHM.
MILES_FWHM = 2.5

#: Resolving power assumed for the SDSS stellar templates: that of the SDSS spectrographs,
#: R ≈ 1800-2200 (Smee et al. 2013, AJ 146, 32); the template file does not state it.
EIGENSTAR_RESOLVING_POWER = 2000.0

_FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))


@dataclass
class TemplateLibrary:
    """Rest-frame template spectra on one vacuum wavelength grid, with labels.

    Exactly one of ``fwhm`` and ``resolving_power`` describes the resolution; both ``None``
    means the spectra are intrinsic (infinite resolution, e.g. analytic models).

    Attributes
    ----------
    wavelength : ndarray, shape (npix,)
        Vacuum wavelength in Å, increasing.
    flux : ndarray, shape (n, npix), float32
        Relative flux (NaN where a template has no data).
    labels : `~astropy.table.Table`
        One row per template, columns `LABEL_COLUMNS`: ``name``, ``star_id`` (unique id of the
        source star, for splits by star), ``label`` (one of `~bhbfinder.simulate.CLASSES`),
        ``teff`` (K), ``logg``, ``feh`` (NaN when unknown), ``sptype``, ``source``.
    fwhm : float, optional
        Resolution as a constant FWHM in Å.
    resolving_power : float, optional
        Resolution as a constant R = λ/FWHM.
    meta : dict
        Provenance (source files, conversions applied).
    """

    wavelength: np.ndarray
    flux: np.ndarray
    labels: Table
    fwhm: float | None = None
    resolving_power: float | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.wavelength = np.asarray(self.wavelength, dtype=float)
        if self.flux is not None:
            self.flux = np.asarray(self.flux, dtype=np.float32)
            if self.flux.ndim != 2 or self.flux.shape[1] != self.wavelength.size:
                raise ConfigurationError(
                    f"TemplateLibrary: flux shape {self.flux.shape} does not match "
                    f"{self.wavelength.size} wavelengths")
        if self.fwhm is not None and self.resolving_power is not None:
            raise ConfigurationError("TemplateLibrary: give fwhm or resolving_power, not both")
        missing = [c for c in LABEL_COLUMNS if c not in self.labels.colnames]
        if missing:
            raise ConfigurationError(f"TemplateLibrary: labels lack columns {missing}")
        bad = sorted(set(map(str, self.labels["label"])) - set(CLASSES))
        if bad:
            raise ConfigurationError(f"TemplateLibrary: unknown labels {bad}; use {CLASSES}")

    def __len__(self):
        return len(self.labels)

    @property
    def source(self):
        """Short name of the template source (``labels["source"]`` of the first row)."""
        return str(self.labels["source"][0]) if len(self) else ""

    def template_flux(self, index):
        """Flux of templates ``index`` (int array) on `wavelength`, shape ``(k, npix)``."""
        return self.flux[np.asarray(index, dtype=np.int64)]

    def fwhm_kms(self, wavelength=None):
        """The templates' resolution as a velocity FWHM (km/s) at ``wavelength`` (Å).

        Zero for intrinsic spectra.
        """
        wave = self.wavelength if wavelength is None else np.asarray(wavelength, dtype=float)
        if self.fwhm is not None:
            return C_KMS * self.fwhm / wave
        if self.resolving_power is not None:
            return np.full(wave.shape, C_KMS / self.resolving_power)
        return np.zeros(wave.shape)

    def select(self, rows):
        """A new library with only ``rows`` (boolean mask or indices)."""
        rows = np.arange(len(self))[rows] if np.asarray(rows).dtype == bool else \
            np.asarray(rows, dtype=np.int64)
        return TemplateLibrary(self.wavelength, self.template_flux(rows), self.labels[rows],
                               self.fwhm, self.resolving_power, dict(self.meta))

    def by_class(self, label):
        """The templates labelled ``label``."""
        return self.select(np.asarray(self.labels["label"]) == label)

    def class_counts(self):
        """``{label: number of templates}`` in `CLASSES` order."""
        labels = list(map(str, self.labels["label"]))
        return {c: labels.count(c) for c in CLASSES}


def _label_table(rows):
    cols = {c: [r.get(c) for r in rows] for c in LABEL_COLUMNS}
    for c in ("teff", "logg", "feh"):
        cols[c] = np.array([np.nan if v is None else float(v) for v in cols[c]], dtype=float)
    for c in ("name", "star_id", "label", "sptype", "source"):
        cols[c] = np.array(["" if v is None else str(v) for v in cols[c]], dtype=str)
        if cols[c].dtype.itemsize == 0 or not rows:
            cols[c] = cols[c].astype("U1")
    return Table(cols)


# ---------------------------------------------------------------------------------- MILES

_MILES_ID = re.compile(r"(?:^|[^0-9a-z])[sm]?(\d{4})V?\.fits", re.IGNORECASE)


def _float_or_nan(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return np.nan


def read_miles_params(path):
    """Read the MILES parameter table (``paramsMILES_v9.1.txt``) or a labels CSV.

    Parameters
    ----------
    path : path-like
        Either the fixed-format MILES table (columns Name, MILES, CaT, SpT, Teff, log g, [Fe/H],
        ...) or a CSV with at least ``miles_id`` and ``teff``, ``logg``, ``feh`` (and optionally
        ``file``, ``name``, ``sptype``), such as ``miles_hot_labels.csv``.

    Returns
    -------
    dict
        ``{miles_id (4-digit str): {"name", "sptype", "teff", "logg", "feh", "file"}}``.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigurationError(f"MILES labels {path} not found; pass the paramsMILES table or "
                                 "a CSV of labels (miles_id, teff, logg, feh, sptype)")
    text = path.read_text(errors="replace")
    first = text.splitlines()[0] if text else ""
    out = {}
    if "," in first and "miles_id" in first:
        for row in csv.DictReader(text.splitlines()):
            mid = f"{int(row['miles_id']):04d}"
            out[mid] = {"name": row.get("name", "") or f"MILES {mid}",
                        # some CSV exports carry the first digit of a 5-digit Teff in sptype
                        "sptype": re.sub(r"\s{3,}\d+$", "", (row.get("sptype") or "").strip()),
                        "teff": _float_or_nan(row.get("teff")),
                        "logg": _float_or_nan(row.get("logg")),
                        "feh": _float_or_nan(row.get("feh")),
                        "file": row.get("file") or None}
        return out
    # fixed format: the MILES number is the 4-digit token after the name (names such as
    # "NGC 7789 342(502) Cl" contain other digit groups, so search a window)
    number = re.compile(r"\s(\d{4})\s")
    tail = re.compile(r"^(?:(?P<sp>.*?)\s+)?(?P<teff>\d{3,5})\s+(?P<logg>-?\d+\.\d+|--)\s+"
                      r"(?P<feh>-?\d+\.\d+|--)(\s|$)")
    for line in text.splitlines()[1:]:
        m = number.search(line[15:33])
        if not m:
            continue
        mid = m.group(1)
        name = line[:15 + m.start()].strip()
        rest = line[15 + m.end():]
        rest = re.sub(r"^\s*\d{3}(?=\s)", "", rest)   # the CaT number, when present
        t = tail.match(rest.strip())
        if t:
            sp, teff = (t["sp"] or "").strip(), float(t["teff"])
            logg, feh = _float_or_nan(t["logg"]), _float_or_nan(t["feh"])
        else:
            sp, teff, logg, feh = rest.strip(), np.nan, np.nan, np.nan
        out[mid] = {"name": name, "sptype": sp, "teff": teff, "logg": logg, "feh": feh,
                    "file": None}
    if not out:
        raise ConfigurationError(f"{path}: no MILES rows recognised (expected the paramsMILES "
                                 "table or a CSV with a miles_id column)")
    return out


def _planck(wave_angstrom, teff):
    # B_lambda up to a constant; wave in Å
    x = 1.4387769e8 / (wave_angstrom * teff)
    return 1.0 / (wave_angstrom ** 5 * np.expm1(np.minimum(x, 700.0)))


def load_miles(folder, labels="miles_hot_labels.csv", files=None, extend_to=9300.0,
               classify_kwargs=None):
    """Load MILES 1-D spectra into a `TemplateLibrary` (vacuum wavelengths).

    Parameters
    ----------
    folder : path-like
        Folder with the MILES FITS files (``MILES_res2.50_star_m0018V.fits`` or ``s0018.fits``).
    labels : path-like
        The parameter table: a file name inside ``folder`` or a path; ``miles_hot_labels.csv``
        or ``paramsMILES_v9.1.txt`` (see `read_miles_params`).
    files : list of path-like, optional
        Only these files (default: every ``*.fits`` in ``folder`` with a MILES number).
    extend_to : float or None
        MILES stops at 7410 Å (air). Above its last pixel, the spectrum is continued up to this
        vacuum wavelength with a Planck continuum at the star's Teff, scaled to the last 100 Å
        (no lines: Paschen lines and the Ca triplet are absent there). ``None`` leaves NaN,
        which the simulator masks.
    classify_kwargs : dict, optional
        Threshold overrides for `~bhbfinder.simulate.classify_star`.

    Returns
    -------
    TemplateLibrary
        ``fwhm`` from the headers' ``FWHM`` (2.5 Å), wavelengths converted from air to vacuum
        (Morton 2000, `~bhbfinder.spectra.lines.air_to_vacuum`), labels from `classify_star`.
        Files without parameters in the table are skipped (listed in ``meta["skipped"]``).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigurationError(f"MILES folder {folder} not found; download MILES "
                                 "(http://miles.iac.es) and pass its folder")
    lpath = Path(labels)
    if not lpath.is_absolute() and not lpath.is_file():
        lpath = folder / lpath
    params = read_miles_params(lpath)
    if files is None:
        files = sorted(p for p in folder.glob("*.fits") if _MILES_ID.search(p.name))
    files = [Path(f) for f in files]
    if not files:
        raise ConfigurationError(f"no MILES FITS files in {folder}")
    classify_kwargs = classify_kwargs or {}

    grid_air = None
    fwhm = None
    fluxes, rows, skipped = [], [], []
    for path in files:
        m = _MILES_ID.search(path.name)
        mid = m.group(1) if m else None
        if mid not in params:
            skipped.append(path.name)
            continue
        try:
            with fits.open(path, memmap=False) as hdul:
                hdr = hdul[0].header
                data = np.asarray(hdul[0].data, dtype=float).ravel()
        except OSError as exc:
            raise SpectrumReadError(path, f"not a readable MILES FITS file ({exc})") from exc
        for key in ("CRVAL1", "CDELT1"):
            if key not in hdr:
                raise SpectrumReadError(path, f"header lacks {key}",
                                        "MILES files carry a linear CRVAL1/CDELT1 grid")
        crpix = float(hdr.get("CRPIX1", 1.0))
        wave = hdr["CRVAL1"] + (np.arange(data.size) + 1.0 - crpix) * hdr["CDELT1"]
        this_fwhm = float(hdr.get("FWHM", MILES_FWHM))
        if fwhm is None:
            fwhm = this_fwhm
        elif not np.isclose(fwhm, this_fwhm):
            raise SpectrumReadError(path, f"FWHM {this_fwhm} differs from the other files' "
                                          f"{fwhm}", "load files of one resolution together")
        if grid_air is None:
            grid_air = wave
        elif wave.size != grid_air.size or not np.allclose(wave, grid_air, atol=1e-6):
            data = np.interp(grid_air, wave, data, left=np.nan, right=np.nan)
        p = params[mid]
        label = classify_star(p["teff"], p["logg"], p["feh"], p["sptype"], **classify_kwargs)
        fluxes.append(data)
        rows.append({"name": p["name"], "star_id": f"MILES:{mid}", "label": label,
                     "teff": p["teff"], "logg": p["logg"], "feh": p["feh"],
                     "sptype": p["sptype"], "source": "miles"})
    if not rows:
        raise ConfigurationError(f"none of the {len(files)} MILES files in {folder} has "
                                 f"parameters in {lpath}")
    flux = np.vstack(fluxes)
    wave_vac = air_to_vacuum(grid_air)
    meta = {"source": "MILES", "folder": str(folder), "labels": str(lpath),
            "air_to_vacuum": "Morton (2000)", "native_end_vacuum": float(wave_vac[-1]),
            "skipped": skipped}
    if extend_to is not None and extend_to > wave_vac[-1]:
        step = wave_vac[-1] - wave_vac[-2]
        extra = wave_vac[-1] + step * np.arange(1, int((extend_to - wave_vac[-1]) / step) + 2)
        tail = wave_vac > wave_vac[-1] - 100.0
        teff = np.array([r["teff"] for r in rows])
        teff = np.where(np.isfinite(teff), teff, 7000.0)
        bb_tail = _planck(wave_vac[tail][None, :], teff[:, None])
        scale = np.nanmean(flux[:, tail], axis=1) / bb_tail.mean(axis=1)
        ext = scale[:, None] * _planck(extra[None, :], teff[:, None])
        flux = np.hstack([flux, ext])
        wave_vac = np.concatenate([wave_vac, extra])
        meta["extended_to"] = float(extend_to)
        meta["extension"] = "Planck continuum at the star's Teff, no lines"
    return TemplateLibrary(wave_vac, flux.astype(np.float32), _label_table(rows), fwhm=fwhm,
                           meta=meta)


# ----------------------------------------------------------------------- SDSS eigen-stars

#: Typical dwarf Teff (K) at subtype 0 of each letter, to place types without parameters
#: (rough, for classification only; e.g. Pecaut & Mamajek 2013).
_SPTYPE_TEFF0 = {"O": 40000.0, "B": 30000.0, "A": 9700.0, "F": 7200.0, "G": 5900.0,
                 "K": 5200.0, "M": 3800.0}
_SPTYPE_TEFF9 = {"O": 31000.0, "B": 10500.0, "A": 7400.0, "F": 6000.0, "G": 5300.0,
                 "K": 4000.0, "M": 2600.0}

#: SDSS template names that are not spectral types, and their class.
EIGENSTAR_SPECIAL = {"WDhotter": "WD", "WDcooler": "WD", "WDmagnetic": "WD",
                     "CalciumWD": "WD", "Carbon": "other", "Ldwarf": "other"}


def _sptype_teff(sptype):
    m = re.search(r"([OBAFGKM])\s*(\d(?:\.\d)?)?", re.sub(r"^sd:?", "", sptype))
    if not m:
        return np.nan
    letter, sub = m.group(1), float(m.group(2) or 5.0)
    lo, hi = np.log10(_SPTYPE_TEFF0[letter]), np.log10(_SPTYPE_TEFF9[letter])
    return float(10 ** (lo + (hi - lo) * sub / 9.0))


def eigenstar_class(name):
    """The library class of an SDSS stellar template name (e.g. ``"A1V (95418)"``).

    White-dwarf templates (``WDhotter``, ``WDcooler``, ``WDmagnetic``, ``CalciumWD``) → ``"WD"``;
    carbon stars and L dwarfs → ``"other"``; spectral types go through
    `~bhbfinder.simulate.classify_star` with a Teff estimated from the type (so A0–A9 dwarfs →
    ``"A"``, O/B → ``"B"``, A/late-B supergiants → ``"other"``, F and cooler including the F
    subdwarfs ``sdF`` → ``"other"``). The file holds no hot subdwarf and no HB star.
    """
    name = name.strip()
    if name in EIGENSTAR_SPECIAL:
        return EIGENSTAR_SPECIAL[name]
    sptype = name.split("(")[0].strip()
    return classify_star(_sptype_teff(sptype), np.nan, np.nan, sptype)


def load_eigenstars(path, resolving_power=EIGENSTAR_RESOLVING_POWER):
    """Load the SDSS stellar templates (``spEigenStar-55734.fits``) into a `TemplateLibrary`.

    Parameters
    ----------
    path : path-like
        The FITS file: primary image ``(ntemplates, npix)`` on the vacuum grid
        ``10**(COEFF0 + COEFF1 * i)``; template names in header cards ``NAME0``, ``NAME1``, ...
    resolving_power : float
        Resolution to assume (`EIGENSTAR_RESOLVING_POWER`).

    Returns
    -------
    TemplateLibrary
        Labels from `eigenstar_class`; ``teff``/``logg``/``feh`` NaN (the file gives none);
        ``star_id`` ``"spEigenStar:<name>"``.
    """
    path = Path(path)
    try:
        with fits.open(path, memmap=False) as hdul:
            hdr = hdul[0].header
            data = np.asarray(hdul[0].data, dtype=np.float32)
    except (OSError, FileNotFoundError) as exc:
        raise SpectrumReadError(path, f"cannot read the SDSS stellar templates ({exc})",
                                "pass the path of spEigenStar-55734.fits") from exc
    if data is None or data.ndim != 2 or "COEFF0" not in hdr or "COEFF1" not in hdr:
        raise SpectrumReadError(path, "not an SDSS spEigenStar file (needs a 2-D primary image "
                                      "and COEFF0/COEFF1)")
    wave = 10 ** (hdr["COEFF0"] + hdr["COEFF1"] * np.arange(data.shape[1]))
    rows = []
    for i in range(data.shape[0]):
        name = str(hdr.get(f"NAME{i}", f"template {i}")).strip()
        rows.append({"name": name, "star_id": f"spEigenStar:{name}",
                     "label": eigenstar_class(name), "sptype": name.split("(")[0].strip(),
                     "source": "eigenstar"})
    meta = {"source": "SDSS spEigenStar", "file": str(path),
            "resolving_power_assumed": float(resolving_power)}
    return TemplateLibrary(wave, data, _label_table(rows), resolving_power=resolving_power,
                           meta=meta)
