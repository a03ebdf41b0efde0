"""Flag candidates that are already in published BHB catalogues.

Sources are either VizieR catalogues, fetched lazily through ``astroquery.vizier`` (imported
only when a fetch is needed) and cached on disk as ECSV, or local files the user gives (CSV,
ECSV, FITS, VOTable) with right-ascension / declination columns under any common name
(``ra``/``dec``, ``RAJ2000``/``DEJ2000``, ``RA_ICRS``/``DE_ICRS``, ... case-insensitive;
sexagesimal strings are accepted too).

The built-in VizieR catalogues (`KNOWN_CATALOGS`) are the ones whose VizieR identifiers could be
confirmed: Xue et al. 2008 (J/ApJ/684/1143), Xue et al. 2011 (J/ApJ/738/79) and Culpan et al.
2021 (J/A+A/654/A107). Every table of such a catalogue with positions is used (VizieR's computed
``_RAJ2000``/``_DEJ2000``): for Xue et al. 2008 VizieR describes the catalogue as "BHB
candidates", so check whether its colour-selected candidates are included before relying on it
for removal. Other catalogues (Vickers et al. 2021, Barbosa et al. 2022, Ju et al.
2024) can be passed as local files, or by their VizieR identifier once known
(``catalogs=["J/..."]``).
"""

import re
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.table import MaskedColumn, Table
from scipy.spatial import cKDTree

from ..errors import BHBFinderWarning, ConfigurationError, RemoteServiceError
from ._service import conf, default_cache_dir, retry_call
from ._sky import (
    DEC_NAMES,
    RA_NAMES,
    arcsec_from_chord,
    candidate_mask,
    catalog_positions,
    chord_from_arcsec,
    find_column,
    radec_to_unit,
    read_table_file,
    to_arcsec,
)

__all__ = [
    "KnownCatalog",
    "KNOWN_CATALOGS",
    "DEFAULT_KNOWN_CATALOGS",
    "DEFAULT_KNOWN_RADIUS_ARCSEC",
    "read_table_file",
    "read_positions",
    "fetch_vizier_positions",
    "KnownBHBMatcher",
]

#: Match radius against known catalogues (arcsec).
DEFAULT_KNOWN_RADIUS_ARCSEC = 3.0

_VIZIER_ID = re.compile(r"^[A-Za-z0-9+]+(/[A-Za-z0-9+.]+)+$")


@dataclass(frozen=True)
class KnownCatalog:
    """A published BHB catalogue held by VizieR.

    Attributes
    ----------
    name : str
        Short name recorded in ``known_catalog``.
    vizier_id : str
        VizieR catalogue identifier.
    reference : str
        The paper.
    description : str
    """

    name: str
    vizier_id: str
    reference: str
    description: str = ""


#: Built-in VizieR sources, by short name (identifiers confirmed; see the module notes).
KNOWN_CATALOGS = {
    "xue2008": KnownCatalog("xue2008", "J/ApJ/684/1143", "Xue et al. 2008, ApJ 684, 1143",
                            "SDSS DR6 BHB stars (VizieR: 'BHB candidates in the Milky Way')"),
    "xue2011": KnownCatalog("xue2011", "J/ApJ/738/79", "Xue et al. 2011, ApJ 738, 79",
                            "SDSS DR8 BHB stars in the Milky Way's halo"),
    "culpan2021": KnownCatalog("culpan2021", "J/A+A/654/A107",
                               "Culpan, Pelisoli & Geier 2021, A&A 654, A107",
                               "57,377 BHB stars selected from Gaia EDR3"),
}

#: The catalogues the ``catalogs`` stage checks by default.
DEFAULT_KNOWN_CATALOGS = ("xue2008", "xue2011", "culpan2021")

def read_positions(path, ra_column=None, dec_column=None):
    """RA and Dec (deg) of the rows of a catalogue file.

    Parameters
    ----------
    path : str or path-like
        CSV, ECSV, FITS or VOTable.
    ra_column, dec_column : str, optional
        Column names; found case-insensitively among common names if not given.

    Returns
    -------
    ra, dec : ndarray
        Degrees; rows without a position are dropped.
    """
    table = read_table_file(path)
    return _table_positions(table, ra_column, dec_column, str(path))


def _table_positions(table, ra_column=None, dec_column=None, source="table"):
    ra_name = ra_column or find_column(table, RA_NAMES, "right ascension", source)
    dec_name = dec_column or find_column(table, DEC_NAMES, "declination", source)
    ra_col, dec_col = table[ra_name], table[dec_name]
    if ra_col.dtype.kind in "US":  # sexagesimal strings
        ra_s = np.ma.filled(np.ma.asarray(ra_col).astype(str), "")
        dec_s = np.ma.filled(np.ma.asarray(dec_col).astype(str), "")
        good = (np.char.strip(ra_s) != "") & (np.char.strip(dec_s) != "")
        try:
            c = SkyCoord(ra_s[good], dec_s[good], unit=(u.hourangle, u.deg))
        except Exception as exc:  # noqa: BLE001
            raise ConfigurationError(
                f"{source}: cannot parse the positions in {ra_name!r}/{dec_name!r} ({exc}); "
                "give decimal degrees or 'hh:mm:ss' / 'dd:mm:ss' strings") from exc
        return c.ra.deg, c.dec.deg
    sub = table[[ra_name, dec_name]]
    ra, dec = catalog_positions(sub, ra_name, dec_name)
    good = np.isfinite(ra) & np.isfinite(dec)
    return ra[good], dec[good]


def fetch_vizier_positions(vizier_id, vizier=None):
    """Positions (J2000, deg) of every table of a VizieR catalogue.

    Parameters
    ----------
    vizier_id : str
        e.g. ``"J/ApJ/738/79"``.
    vizier : object, optional
        An ``astroquery.vizier.Vizier``-like client with ``get_catalogs(id)``; by default one
        asking for VizieR's computed ``_RAJ2000``/``_DEJ2000`` columns and all rows.
    """
    if vizier is None:
        from astroquery.vizier import Vizier

        vizier = Vizier(columns=["_RAJ2000", "_DEJ2000"], row_limit=-1,
                        vizier_server=conf.vizier_server, timeout=conf.timeout)
    tables = vizier.get_catalogs(vizier_id)
    ras, decs = [], []
    for table in tables:
        try:
            ra, dec = _table_positions(table, source=f"VizieR {vizier_id}")
        except ConfigurationError:
            continue  # a table without positions (notes, references)
        ras.append(ra)
        decs.append(dec)
    if not ras:
        raise RemoteServiceError(
            f"VizieR returned no table with positions for {vizier_id}; check the identifier")
    return np.concatenate(ras), np.concatenate(decs)


class KnownBHBMatcher:
    """The ``catalogs`` known-object stage.

    Parameters
    ----------
    catalogs : sequence of str
        Names in `KNOWN_CATALOGS` or VizieR identifiers (``"J/..."``); default
        `DEFAULT_KNOWN_CATALOGS`. Pass ``()`` to use only ``files``.
    files : str, path-like, sequence or dict, optional
        Local catalogue files; a dict maps the recorded name to the path, otherwise the file's
        stem is the name.
    radius : float or `~astropy.units.Quantity`
        Match radius (default 3″).
    only_candidates : bool
        Flag only BHB candidates (``is_bhb_candidate``, or every ok row if absent).
    cache_dir : str or path-like, optional
        Where fetched VizieR positions are cached (default the bhbfinder cache / "known").
    use_cache : bool
    vizier : object, optional
        A VizieR client (for tests or custom servers); built lazily otherwise.
    retries, backoff : int, float
        Further attempts after a failed fetch, and the first wait (s, doubled each time).
    """

    def __init__(self, catalogs=DEFAULT_KNOWN_CATALOGS, files=None,
                 radius=DEFAULT_KNOWN_RADIUS_ARCSEC, only_candidates=True, cache_dir=None,
                 use_cache=True, vizier=None, retries=2, backoff=2.0, ra_column="ra",
                 dec_column="dec", sleep=time.sleep):
        if isinstance(catalogs, str):
            catalogs = [catalogs]
        self.sources = []  # (name, kind, target)
        for cat in catalogs or ():
            if cat in KNOWN_CATALOGS:
                self.sources.append((cat, "vizier", KNOWN_CATALOGS[cat].vizier_id))
            elif isinstance(cat, str) and _VIZIER_ID.match(cat):
                self.sources.append((cat, "vizier", cat))
            else:
                raise ConfigurationError(
                    f"unknown known-BHB catalogue {cat!r}; use one of "
                    f"{', '.join(KNOWN_CATALOGS)}, a VizieR identifier such as 'J/ApJ/738/79', "
                    "or files=")
        if files is not None:
            if isinstance(files, (str, Path)):
                files = [files]
            items = files.items() if isinstance(files, dict) else \
                ((Path(f).name.split(".")[0], f) for f in files)
            for name, path in items:
                self.sources.append((str(name), "file", Path(path)))
        if not self.sources:
            raise ConfigurationError("no known-BHB catalogue given: pass catalogs= or files=")
        if len(self.sources) > 62:
            raise ConfigurationError("at most 62 known-BHB catalogues at once; merge the files")
        self.radius = to_arcsec(radius)
        self.only_candidates = only_candidates
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.use_cache = use_cache
        self._vizier = vizier
        self.retries = int(retries)
        self.backoff = float(backoff)
        self.ra_column = ra_column
        self.dec_column = dec_column
        self._sleep = sleep
        self._trees = {}
        self.calls = 0  # VizieR fetches made (cache hits excluded)

    def _cache_path(self, vizier_id):
        folder = self.cache_dir if self.cache_dir is not None else default_cache_dir() / "known"
        return folder / (re.sub(r"[^A-Za-z0-9]+", "_", vizier_id).strip("_") + ".ecsv")

    def positions(self, name):
        """RA, Dec (deg) of the source called ``name`` (fetched or read on first use)."""
        found = [(kind, target) for src_name, kind, target in self.sources if src_name == name]
        if not found:
            raise ConfigurationError(f"no known-BHB source named {name!r}")
        kind, target = found[0]
        if kind == "file":
            return read_positions(target)
        return self.query_vizier(target)

    def query_vizier(self, vizier_id):
        """RA, Dec (deg) of every star of the VizieR catalogue ``vizier_id``: from the cache, or
        fetched (retried, then cached) through the VizieR client (``conf.vizier_server``)."""
        path = self._cache_path(vizier_id) if self.use_cache else None
        if path is not None and path.exists():
            try:
                t = Table.read(path, format="ascii.ecsv")
                return np.asarray(t["ra"], float), np.asarray(t["dec"], float)
            except Exception as exc:  # noqa: BLE001
                warnings.warn(f"ignoring unreadable cache file {path}: {exc}", BHBFinderWarning)

        def fetch():
            self.calls += 1
            return fetch_vizier_positions(vizier_id, self._vizier)

        ra, dec = retry_call(fetch, retries=self.retries, backoff=self.backoff, sleep=self._sleep,
                             failure=f"VizieR failed for {vizier_id} after {{attempts}} attempts "
                                     "({error}); check the network, or download the catalogue "
                                     "and pass it with files=")
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            t = Table({"ra": ra, "dec": dec}, meta={"vizier_id": vizier_id})
            tmp = path.with_suffix(".tmp")
            t.write(tmp, format="ascii.ecsv", overwrite=True)
            tmp.replace(path)
        return ra, dec

    def _tree(self, name):
        # a k-d tree over unit vectors, kept by hand: ~2.5x faster than SkyCoord's
        # match_to_catalog_sky for 1,000,000 rows (benchmarks/bench_skymatch.py)
        if name not in self._trees:
            ra, dec = self.positions(name)
            self._trees[name] = cKDTree(radec_to_unit(ra, dec)) if len(ra) else None
        return self._trees[name]

    def run(self, catalog):
        """Flag the catalogue's rows found in the known catalogues.

        Returns
        -------
        `~astropy.table.Table`
            ``known_catalog`` (str: comma-separated names of the catalogues that matched, ""
            if none), ``known_separation`` (arcsec to the nearest known star, masked if none),
            ``is_known`` (bool).
        """
        n = len(catalog)
        ra, dec = catalog_positions(catalog, self.ra_column, self.dec_column)
        use = np.isfinite(ra) & np.isfinite(dec)
        if self.only_candidates:
            use &= candidate_mask(catalog)
        rows = np.flatnonzero(use)
        xyz = radec_to_unit(ra[rows], dec[rows])
        chord = float(chord_from_arcsec(self.radius))
        best = np.full(n, np.inf)
        code = np.zeros(n, dtype=np.int64)  # bit k set: matched source k
        for k, (name, _, _) in enumerate(self.sources):
            tree = self._tree(name)
            if tree is None or len(rows) == 0:
                continue
            dist, _ = tree.query(xyz, k=1, distance_upper_bound=chord)
            hit = np.isfinite(dist)
            sep = arcsec_from_chord(dist[hit])
            idx = rows[hit]
            best[idx] = np.minimum(best[idx], sep)
            code[idx] |= np.int64(1) << k
        codes, inverse = np.unique(code, return_inverse=True)
        labels = np.array([",".join(src[0] for k, src in enumerate(self.sources) if c >> k & 1)
                           for c in codes] + ["-"], dtype=str)
        out = Table()
        out["known_catalog"] = labels[inverse.reshape(-1)] if n else np.zeros(0, dtype="U1")
        out["known_catalog"].description = (
            "published BHB catalogues with a star within the match radius ('' if none)")
        found = np.isfinite(best)
        out["known_separation"] = MaskedColumn(np.where(found, best, np.nan), mask=~found,
                                               unit=u.arcsec,
                                               description="separation to the nearest known "
                                                           "BHB star")
        out["is_known"] = found
        out["is_known"].description = (
            f"within {self.radius:g} arcsec of a star in a published BHB catalogue")
        return out
