"""Cross-match with Gaia DR3: through the archive's TAP service, or against a local Gaia table.

Remote mode (`GaiaDR3Crossmatch`, stage ``gaia-dr3``)
    The positions are uploaded as a VOTable to the Gaia archive's TAP service in an anonymous
    *asynchronous* job (not the login-only cross-match service), in chunks of ``chunk_size``
    rows, and joined there with ``gaiadr3.gaia_source`` by ``CONTAINS(POINT, CIRCLE)``. The ADQL
    is built from validated numbers and fixed identifiers only (see `build_adql`); no user text
    enters it. Each chunk is retried with exponential back-off and its result cached on disk
    under a hash of the query and the uploaded numbers, so a rerun (or a crashed run resumed)
    does not ask the archive twice. The TAP client is created on first use with
    ``astroquery.utils.tap.core.TapPlus``: importing ``astroquery.gaia`` itself contacts the
    archive, so this module never does; tests inject a client through ``tap=``.

Local mode (`GaiaLocalCrossmatch`, stage ``gaia-local``)
    The same matching against a Gaia table file the user already has (FITS, ECSV, CSV,
    VOTable), with Gaia archive or VizieR column names.

Epochs
    Gaia DR3 positions are at epoch J2016.0; spectroscopic survey positions are at another epoch
    (`DEFAULT_EPOCH`, J2000.0, by default — an assumption: LAMOST positions are taken to be near
    J2000; the epoch of a survey's target positions depends on its input catalogues, so set
    ``epoch`` or a per-row ``epoch_column`` where it is known). Candidates are searched within
    ``radius + max_proper_motion · |Δt|`` and each Gaia position is then moved back to the
    observation epoch with its own proper motion (linear motion in the tangent plane, parallax
    and radial velocity ignored); the match is the nearest source within ``radius`` at that
    epoch. Sources without a proper motion are compared at their J2016 position.
"""

import hashlib
import os
import re
import time
import warnings
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord, search_around_sky
from astropy.table import MaskedColumn, Table, vstack

from ..errors import BHBFinderWarning, ConfigurationError, RemoteServiceError
from ._service import Conf, conf, default_cache_dir, retry_call
from ._sky import (
    angular_separation_arcsec,
    candidate_mask,
    catalog_positions,
    find_column,
    radec_to_unit,
    read_table_file,
    to_arcsec,
    unit_to_radec,
)
from .cmd import cmd_columns

__all__ = [
    "GAIA_TAP_URL",
    "GAIA_TABLE",
    "GAIA_COLUMNS",
    "GAIA_ALIASES",
    "GAIA_EPOCH",
    "DEFAULT_EPOCH",
    "DEFAULT_RADIUS_ARCSEC",
    "DEFAULT_MAX_PROPER_MOTION",
    "DEFAULT_CHUNK_SIZE",
    "UPLOAD_TABLE_NAME",
    "build_adql",
    "propagate_positions",
    "best_matches",
    "default_cache_dir",
    "read_gaia_table",
    "GaiaDR3Crossmatch",
    "GaiaLocalCrossmatch",
]

#: The Gaia archive's TAP endpoint (the default of ``conf.gaia_server``).
GAIA_TAP_URL = Conf.gaia_server.defaultvalue
#: The Gaia DR3 source table.
GAIA_TABLE = "gaiadr3.gaia_source"
#: Gaia columns fetched.
GAIA_COLUMNS = ("source_id", "ra", "dec", "phot_g_mean_mag", "bp_rp", "parallax",
                "parallax_error", "ruwe", "pmra", "pmdec")
#: Reference epoch of Gaia DR3 positions (Julian year).
GAIA_EPOCH = 2016.0
#: Epoch assumed for the survey positions when no ``epoch_column`` is given (Julian year).
DEFAULT_EPOCH = 2000.0
#: Match radius at the observation epoch (arcsec); 1–3″ is the usual range.
DEFAULT_RADIUS_ARCSEC = 2.0
#: Largest proper motion (mas/yr) searched for when widening the query radius by the epoch gap.
DEFAULT_MAX_PROPER_MOTION = 200.0
#: Rows uploaded per TAP job.
DEFAULT_CHUNK_SIZE = 50_000
#: Name of the uploaded table (``tap_upload.<name>`` in ADQL).
UPLOAD_TABLE_NAME = "bhbf_positions"
#: Bumped when the cached result format changes.
_CACHE_VERSION = "1"

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")

#: Units of the output columns.
_UNITS = {"gaia_ra": "deg", "gaia_dec": "deg", "phot_g_mean_mag": "mag", "bp_rp": "mag",
          "parallax": "mas", "parallax_error": "mas", "pmra": "mas / yr", "pmdec": "mas / yr",
          "gaia_separation": "arcsec"}
_DESCRIPTIONS = {
    "gaia_source_id": "Gaia DR3 source_id of the nearest match (masked: none)",
    "gaia_ra": "Gaia DR3 right ascension (ICRS, epoch J2016)",
    "gaia_dec": "Gaia DR3 declination (ICRS, epoch J2016)",
    "gaia_separation": "separation from the Gaia source moved to the observation epoch",
    "gaia_n_matches": "number of Gaia sources within the match radius",
    "phot_g_mean_mag": "Gaia G magnitude",
    "bp_rp": "Gaia BP - RP colour",
    "parallax": "Gaia parallax",
    "parallax_error": "Gaia parallax uncertainty",
    "parallax_over_error": "parallax / parallax_error",
    "ruwe": "Gaia renormalised unit weight error",
    "pmra": "Gaia proper motion in RA (times cos dec)",
    "pmdec": "Gaia proper motion in Dec",
}


def _check_ident(name, what):
    if not isinstance(name, str) or not _IDENT.match(name):
        raise ConfigurationError(
            f"{what}={name!r} is not a plain ADQL identifier (letters, digits, _ and one dot)"
        )
    return name


def build_adql(radius_deg, table=GAIA_TABLE, columns=GAIA_COLUMNS,
               upload_name=UPLOAD_TABLE_NAME):
    """The ADQL of the upload join, built from a validated number and fixed identifiers.

    Parameters
    ----------
    radius_deg : float
        Search radius in degrees (0 < r ≤ 1).
    table, columns, upload_name : str
        Identifiers, checked against a strict pattern.

    Returns
    -------
    str
    """
    try:
        radius = float(radius_deg)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"search radius {radius_deg!r} is not a number") from exc
    if not np.isfinite(radius) or not 0.0 < radius <= 1.0:
        raise ConfigurationError(f"search radius {radius!r} deg must be in (0, 1] deg")
    _check_ident(table, "gaia_table")
    _check_ident(upload_name, "upload table name")
    cols = ", ".join(f"g.{_check_ident(c, 'column')}" for c in columns)
    return (
        f"SELECT u.row_id, {cols} "
        f"FROM tap_upload.{upload_name} AS u "
        f"JOIN {table} AS g "
        f"ON 1 = CONTAINS(POINT('ICRS', g.ra, g.dec), "
        f"CIRCLE('ICRS', u.ra, u.dec, {radius:.10f}))"
    )


def propagate_positions(ra, dec, pmra, pmdec, dt_years):
    """Move positions by their proper motion over ``dt_years`` (linear, tangent plane).

    Parameters
    ----------
    ra, dec : array-like
        Degrees.
    pmra, pmdec : array-like
        mas/yr (``pmra`` includes cos dec, as in Gaia); NaN is taken as zero.
    dt_years : array-like
        Target epoch minus the positions' epoch.

    Returns
    -------
    ra, dec : ndarray
        Degrees; valid at the poles and across RA = 0/360.
    """
    ra_r = np.radians(np.asarray(ra, dtype=float))
    dec_r = np.radians(np.asarray(dec, dtype=float))
    mas = np.radians(1.0 / 3.6e6)
    dt = np.asarray(dt_years, dtype=float)
    d_east = np.nan_to_num(np.asarray(pmra, dtype=float)) * mas * dt
    d_north = np.nan_to_num(np.asarray(pmdec, dtype=float)) * mas * dt
    east = np.stack([-np.sin(ra_r), np.cos(ra_r), np.zeros_like(ra_r)], axis=-1)
    north = np.stack([-np.sin(dec_r) * np.cos(ra_r), -np.sin(dec_r) * np.sin(ra_r),
                      np.cos(dec_r)], axis=-1)
    xyz = radec_to_unit(np.degrees(ra_r), np.degrees(dec_r)) + \
        d_east[..., None] * east + d_north[..., None] * north
    return unit_to_radec(xyz)


def best_matches(n_rows, row_index, gaia, ra, dec, dt_years, radius_arcsec):
    """The nearest Gaia source of each row at the row's epoch.

    Parameters
    ----------
    n_rows : int
    row_index : ndarray of int
        For each candidate pair, the catalogue row (``gaia`` has one row per pair).
    gaia : `~astropy.table.Table`
        Candidate Gaia sources with at least ra, dec, pmra, pmdec.
    ra, dec : ndarray
        The catalogue positions (deg), length ``n_rows``.
    dt_years : ndarray
        Observation epoch minus J2016 per catalogue row.
    radius_arcsec : float

    Returns
    -------
    pick : ndarray of int
        Index into ``gaia`` per row, −1 where none lies within the radius.
    separation : ndarray
        arcsec, NaN where none.
    n_matches : ndarray of int
        Gaia sources within the radius per row.
    """
    row_index = np.asarray(row_index, dtype=np.int64)
    pick = np.full(n_rows, -1, dtype=np.int64)
    separation = np.full(n_rows, np.nan)
    n_matches = np.zeros(n_rows, dtype=np.int64)
    if len(row_index) == 0:
        return pick, separation, n_matches

    def col(name):
        return np.ma.filled(np.ma.asarray(gaia[name]).astype(float), np.nan)

    g_ra, g_dec = propagate_positions(col("ra"), col("dec"), col("pmra"), col("pmdec"),
                                      np.asarray(dt_years, dtype=float)[row_index])
    sep = angular_separation_arcsec(ra[row_index], dec[row_index], g_ra, g_dec)
    keep = np.flatnonzero(sep <= radius_arcsec)
    n_matches += np.bincount(row_index[keep], minlength=n_rows)
    order = keep[np.lexsort((sep[keep], row_index[keep]))]
    first = np.ones(len(order), dtype=bool)
    first[1:] = row_index[order][1:] != row_index[order][:-1]
    best = order[first]
    pick[row_index[best]] = best
    separation[row_index[best]] = sep[best]
    return pick, separation, n_matches


#: Accepted names (lower case) of each Gaia column in user files: archive names, then VizieR's.
GAIA_ALIASES = {
    "source_id": ("source_id", "gaia_source_id", "source", "dr3name", "gaiadr3"),
    "ra": ("ra", "ra_icrs", "radeg", "raj2016", "_raj2000"),
    "dec": ("dec", "de_icrs", "dedeg", "dej2016", "_dej2000"),
    "phot_g_mean_mag": ("phot_g_mean_mag", "gmag"),
    "bp_rp": ("bp_rp", "bp-rp"),
    "parallax": ("parallax", "plx"),
    "parallax_error": ("parallax_error", "e_plx"),
    "ruwe": ("ruwe",),
    "pmra": ("pmra",),
    "pmdec": ("pmdec", "pmde"),
}


def read_gaia_table(path):
    """Read a Gaia table file and rename its columns to the Gaia archive's names.

    Parameters
    ----------
    path : str or path-like
        FITS, ECSV, CSV or VOTable with at least source_id, ra, dec (case-insensitive; Gaia
        archive or VizieR names, see `GAIA_ALIASES`). Missing optional columns become masked.

    Returns
    -------
    `~astropy.table.Table`
        Columns `GAIA_COLUMNS`.
    """
    raw = read_table_file(path)
    out = Table()
    for name in GAIA_COLUMNS:
        try:
            found = find_column(raw, GAIA_ALIASES[name], name, source=str(path))
        except ConfigurationError:
            if name in ("source_id", "ra", "dec"):
                raise
            out[name] = MaskedColumn(np.full(len(raw), np.nan), mask=np.ones(len(raw), bool))
            continue
        col = raw[found]
        data = np.ma.asarray(getattr(col, "value", col))
        out[name] = MaskedColumn(data.astype(np.int64 if name == "source_id" else float),
                                 mask=np.ma.getmaskarray(data))
    return out


class _GaiaMatchBase:
    """Shared matching and output logic of the remote and local Gaia stages."""

    def __init__(self, radius=DEFAULT_RADIUS_ARCSEC, max_proper_motion=DEFAULT_MAX_PROPER_MOTION,
                 epoch=DEFAULT_EPOCH, epoch_column=None, epoch_format="jyear",
                 only_candidates=True, ra_column="ra", dec_column="dec", cmd=True,
                 min_parallax_over_error=5.0, parallax_zero_point=0.0):
        self.radius = to_arcsec(radius)
        self.max_proper_motion = float(max_proper_motion)
        if not np.isfinite(self.max_proper_motion) or self.max_proper_motion < 0:
            raise ConfigurationError(
                f"max_proper_motion={max_proper_motion!r} must be a non-negative mas/yr value")
        self.epoch = float(epoch)
        if epoch_format not in ("jyear", "mjd"):
            raise ConfigurationError(f"epoch_format={epoch_format!r}: use 'jyear' or 'mjd'")
        self.epoch_column = epoch_column
        self.epoch_format = epoch_format
        self.only_candidates = only_candidates
        self.ra_column = ra_column
        self.dec_column = dec_column
        self.cmd = cmd
        self.min_parallax_over_error = float(min_parallax_over_error)
        self.parallax_zero_point = float(parallax_zero_point)

    def _epochs(self, catalog):
        n = len(catalog)
        if self.epoch_column is None:
            return np.full(n, self.epoch)
        if self.epoch_column not in catalog.colnames:
            raise ConfigurationError(
                f"epoch_column={self.epoch_column!r} is not a catalogue column")
        values = np.ma.filled(np.ma.asarray(catalog[self.epoch_column]).astype(float), np.nan)
        if self.epoch_format == "mjd":
            values = 2000.0 + (values - 51544.5) / 365.25
        return np.where(np.isfinite(values), values, self.epoch)

    def search_radius(self, dt_years):
        """The candidate search radius (arcsec) for epoch gaps ``dt_years``."""
        dt = np.abs(np.asarray(dt_years, dtype=float))
        gap = float(dt.max()) if dt.size else 0.0
        return self.radius + self.max_proper_motion * gap / 1000.0

    def run(self, catalog):
        """Cross-match the catalogue; returns the Gaia, CMD and distance columns it adds."""
        ra, dec = catalog_positions(catalog, self.ra_column, self.dec_column)
        use = np.isfinite(ra) & np.isfinite(dec)
        if self.only_candidates:
            use &= candidate_mask(catalog)
        rows = np.flatnonzero(use)
        dt = self._epochs(catalog) - GAIA_EPOCH
        row_index, gaia = self._candidates(ra[rows], dec[rows], dt[rows])
        pick, sep, n_match = best_matches(len(rows), row_index, gaia, ra[rows], dec[rows],
                                          dt[rows], self.radius)
        return self._output(len(catalog), rows, pick, sep, n_match, gaia)

    def _candidates(self, ra, dec, dt):  # pragma: no cover - abstract
        raise NotImplementedError

    def _output(self, n, rows, pick, sep, n_match, gaia):
        hit = pick >= 0
        target = rows[hit]
        src = pick[hit]
        out = Table()

        def put(name, values, dtype, fill):
            data = np.full(n, fill, dtype=dtype)
            mask = np.ones(n, dtype=bool)
            values = np.ma.asarray(values)
            data[target] = np.ma.filled(values.astype(dtype), fill)
            mask[target] = np.ma.getmaskarray(values) | (
                ~np.isfinite(data[target]) if np.issubdtype(dtype, np.floating) else False)
            col = MaskedColumn(data, mask=mask, name=name, description=_DESCRIPTIONS.get(name))
            if name in _UNITS:
                col.unit = u.Unit(_UNITS[name])
            out[name] = col

        sub = gaia[src] if len(gaia) else None
        empty = np.zeros(0)
        put("gaia_source_id", sub["source_id"] if sub is not None else empty, np.int64, 0)
        put("gaia_ra", sub["ra"] if sub is not None else empty, float, np.nan)
        put("gaia_dec", sub["dec"] if sub is not None else empty, float, np.nan)
        put("gaia_separation", sep[hit], float, np.nan)
        counts = np.zeros(n, dtype=np.int64)
        counts[rows] = n_match
        out["gaia_n_matches"] = counts
        out["gaia_n_matches"].description = _DESCRIPTIONS["gaia_n_matches"]
        for name in GAIA_COLUMNS[3:]:
            put(name, sub[name] if sub is not None else empty, float, np.nan)
        plx = np.ma.filled(np.ma.asarray(out["parallax"]).astype(float), np.nan)
        eplx = np.ma.filled(np.ma.asarray(out["parallax_error"]).astype(float), np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            poe = plx / eplx
        out["parallax_over_error"] = MaskedColumn(poe, mask=~np.isfinite(poe),
                                                  description=_DESCRIPTIONS["parallax_over_error"])
        if self.cmd:
            extra = cmd_columns(out, self.min_parallax_over_error,
                                parallax_zero_point=self.parallax_zero_point)
            for name in extra.colnames:
                out[name] = extra[name]
        return out


class GaiaDR3Crossmatch(_GaiaMatchBase):
    """The ``gaia-dr3`` cross-match stage: anonymous TAP upload joins with the Gaia archive.

    Parameters
    ----------
    radius : float or `~astropy.units.Quantity`
        Match radius at the observation epoch (default 2″).
    max_proper_motion : float
        mas/yr; widens the search radius by ``max_proper_motion · |Δt|`` (default 200).
    epoch : float
        Julian year of the catalogue positions when ``epoch_column`` is not given (J2000.0).
    epoch_column : str, optional
        Catalogue column with each row's epoch (``epoch_format`` "jyear" or "mjd").
    only_candidates : bool
        Match only BHB candidates (``is_bhb_candidate``, or every ok row when absent); the
        other rows get masked values. Default True.
    chunk_size : int
        Rows uploaded per job (default 50,000).
    retries : int
        Further attempts per chunk after a failure (default 3).
    backoff : float
        Seconds before the first retry; doubled each time (default 2).
    cache_dir : str or path-like, optional
        Where chunk results are cached (default `default_cache_dir` / "gaia");
        ``use_cache=False`` disables the cache.
    tap : object, optional
        A TAP client with ``launch_job_async(query, upload_resource=..., upload_table_name=...)``
        returning a job with ``get_results()``; built lazily from ``tap_url`` if not given.
    tap_url : str, optional
        The TAP service (default ``bhbfinder.crossmatch.conf.gaia_server``, the Gaia archive).
    gaia_table : str
        Table joined (default ``gaiadr3.gaia_source``).
    cmd : bool
        Add the CMD-region and distance columns of `bhbfinder.crossmatch.cmd.cmd_columns`.
    """

    def __init__(self, radius=DEFAULT_RADIUS_ARCSEC, max_proper_motion=DEFAULT_MAX_PROPER_MOTION,
                 epoch=DEFAULT_EPOCH, epoch_column=None, epoch_format="jyear",
                 only_candidates=True, chunk_size=DEFAULT_CHUNK_SIZE, retries=3, backoff=2.0,
                 cache_dir=None, use_cache=True, tap=None, tap_url=None,
                 gaia_table=GAIA_TABLE, ra_column="ra", dec_column="dec", cmd=True,
                 min_parallax_over_error=5.0, parallax_zero_point=0.0, sleep=time.sleep):
        super().__init__(radius, max_proper_motion, epoch, epoch_column, epoch_format,
                         only_candidates, ra_column, dec_column, cmd, min_parallax_over_error,
                         parallax_zero_point)
        self.chunk_size = int(chunk_size)
        if self.chunk_size < 1:
            raise ConfigurationError(f"chunk_size={chunk_size!r} must be a positive integer")
        self.retries = int(retries)
        self.backoff = float(backoff)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.use_cache = use_cache
        self.tap_url = conf.gaia_server if tap_url is None else tap_url
        self.gaia_table = _check_ident(gaia_table, "gaia_table")
        self._tap = tap
        self._sleep = sleep
        self.calls = 0  # jobs sent to the service (cache hits excluded)

    @property
    def tap(self):
        """The TAP client, created on first use (no network before a query)."""
        if self._tap is None:
            from astroquery.utils.tap.core import TapPlus

            self._tap = TapPlus(url=self.tap_url)
        return self._tap

    def _cache_path(self, adql, upload):
        folder = self.cache_dir if self.cache_dir is not None else default_cache_dir() / "gaia"
        h = hashlib.sha256()
        h.update(_CACHE_VERSION.encode())
        h.update(adql.encode())
        h.update(self.tap_url.encode())
        for name in ("row_id", "ra", "dec"):
            h.update(np.ascontiguousarray(upload[name]).tobytes())
        return folder / f"gaia-{h.hexdigest()[:32]}.ecsv"

    def _candidates(self, ra, dec, dt):
        adql = build_adql(self.search_radius(dt) / 3600.0, self.gaia_table)
        parts, offsets = [], []
        for start in range(0, len(ra), self.chunk_size):
            stop = min(start + self.chunk_size, len(ra))
            upload = Table({"row_id": np.arange(stop - start, dtype=np.int64),
                            "ra": np.asarray(ra[start:stop], dtype=float),
                            "dec": np.asarray(dec[start:stop], dtype=float)})
            result = self.query_chunk(adql, upload)
            parts.append(result)
            offsets.append(np.asarray(result["row_id"], dtype=np.int64) + start)
        if not parts:
            return np.zeros(0, dtype=np.int64), Table({c: [] for c in GAIA_COLUMNS})
        return np.concatenate(offsets), vstack(parts, metadata_conflicts="silent")

    def query_chunk(self, adql, upload):
        """Run one upload join (cached, retried) and return its result table.

        Parameters
        ----------
        adql : str
            From `build_adql`.
        upload : `~astropy.table.Table`
            Columns ``row_id``, ``ra``, ``dec``.
        """
        path = self._cache_path(adql, upload) if self.use_cache else None
        if path is not None and path.exists():
            try:
                return Table.read(path, format="ascii.ecsv")
            except Exception as exc:  # noqa: BLE001 - a broken cache file is re-fetched
                warnings.warn(f"ignoring unreadable cache file {path}: {exc}", BHBFinderWarning)
        result = self._launch(adql, upload)
        result = self._normalise(result)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            result.write(tmp, format="ascii.ecsv", overwrite=True)
            os.replace(tmp, path)
        return result

    def _launch(self, adql, upload):
        def job():
            self.calls += 1
            return self.tap.launch_job_async(adql, upload_resource=upload,
                                             upload_table_name=UPLOAD_TABLE_NAME,
                                             verbose=False).get_results()

        return retry_call(job, retries=self.retries, backoff=self.backoff, sleep=self._sleep,
                          failure=f"the Gaia TAP service at {self.tap_url} failed "
                                  "{attempts} times ({error}); check the network or try "
                                  "again later (chunks already fetched are cached)")

    @staticmethod
    def _normalise(result):
        """Lower-case column names and the expected columns (the archive may vary the case)."""
        lower = {name.lower(): name for name in result.colnames}
        out = Table()
        for name in ("row_id",) + GAIA_COLUMNS:
            if name not in lower:
                raise RemoteServiceError(
                    f"the Gaia TAP result lacks the column {name!r} (got "
                    f"{', '.join(result.colnames)}); the service may have changed")
            col = result[lower[name]]
            data = np.ma.asarray(getattr(col, "value", col))
            dtype = np.int64 if name in ("row_id", "source_id") else float
            out[name] = MaskedColumn(data.astype(dtype), mask=np.ma.getmaskarray(data))
        return out


class GaiaLocalCrossmatch(_GaiaMatchBase):
    """The ``gaia-local`` cross-match stage: match against a Gaia table file.

    Parameters
    ----------
    path : str or path-like, or `~astropy.table.Table`
        The Gaia table (see `read_gaia_table` for the accepted column names).
    **kwargs
        As `GaiaDR3Crossmatch`: ``radius``, ``max_proper_motion``, ``epoch``,
        ``epoch_column``, ``epoch_format``, ``only_candidates``, ``ra_column``,
        ``dec_column``, ``cmd``, ``min_parallax_over_error``, ``parallax_zero_point``.
    """

    def __init__(self, path=None, **kwargs):
        if path is None:
            raise ConfigurationError(
                "the gaia-local stage needs path= : a Gaia table file (FITS, ECSV, CSV, "
                "VOTable) with source_id, ra, dec and the photometry/astrometry columns"
            )
        super().__init__(**kwargs)
        self.path = path
        self._gaia = None
        self._coords = None

    def _load(self):
        if self._gaia is None:
            if isinstance(self.path, Table):
                gaia = self.path
            else:
                gaia = read_gaia_table(self.path)
            ra = np.ma.filled(np.ma.asarray(gaia["ra"]).astype(float), np.nan)
            dec = np.ma.filled(np.ma.asarray(gaia["dec"]).astype(float), np.nan)
            good = np.isfinite(ra) & np.isfinite(dec)
            self._gaia = gaia[good]
            # astropy keeps the table's k-d tree on the SkyCoord: built once, reused per call
            self._coords = SkyCoord(ra[good] * u.deg, dec[good] * u.deg)
        return self._gaia, self._coords

    def _candidates(self, ra, dec, dt):
        gaia, coords = self._load()
        if len(ra) == 0 or len(gaia) == 0:
            return np.zeros(0, dtype=np.int64), gaia[:0]
        # every (row, source) pair within the search radius (benchmarks/bench_skymatch.py: as
        # fast as a hand-written k-d tree search at survey scale)
        rows, sources, _, _ = search_around_sky(SkyCoord(ra * u.deg, dec * u.deg), coords,
                                                self.search_radius(dt) * u.arcsec)
        return rows.astype(np.int64), gaia[sources]
