"""De-duplication: group repeat observations of one star and pick a representative.

Rows that carry a Gaia DR3 ``source_id`` are grouped by it; the other rows are linked on the
sky by friends-of-friends within a radius (default 3″, the radius LAMOST uses to link repeat
visits). The friends-of-friends search is a `scipy.spatial.cKDTree` over unit
vectors (``query_pairs`` with the chord of the radius), and the groups are the connected
components of the resulting graph (`scipy.sparse.csgraph.connected_components`), so a million
rows take seconds, and the poles and RA = 0/360 need no special care.

The Gaia identity overrides the sky: two rows with *different* source ids never end up in one
group, even when they are closer than the radius. A row without an id joins an id group when it
lies within the radius of one of its members; where a chain of id-less rows would bridge two
different ids, each id-less row of that chain goes to the id group of its nearest member.
"""

import numpy as np
from astropy.table import Table
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from ..errors import ConfigurationError
from ._sky import (
    catalog_positions,
    chord_from_arcsec,
    column_as_float,
    radec_to_unit,
    to_arcsec,
)

__all__ = [
    "DEFAULT_RADIUS_ARCSEC",
    "REPRESENTATIVE_RULES",
    "friends_of_friends",
    "group_rows",
    "pick_representatives",
    "SkyFoFDedup",
]

#: Default linking radius (arcsec): LAMOST links repeat visits within 3″.
DEFAULT_RADIUS_ARCSEC = 3.0

#: Built-in ways to pick a group's representative (a column name or a callable also work).
REPRESENTATIVE_RULES = ("snr", "first")


def friends_of_friends(ra, dec, radius=DEFAULT_RADIUS_ARCSEC):
    """Friends-of-friends groups on the sky.

    Parameters
    ----------
    ra, dec : array-like
        Degrees; NaN marks a row without a position (it gets a group of its own).
    radius : float or `~astropy.units.Quantity`
        Linking length (arcsec if a plain number).

    Returns
    -------
    labels : ndarray of int64
        Group label per row, numbered 0, 1, ... in order of each group's first row.
    """
    ra = np.asarray(ra, dtype=float)
    dec = np.asarray(dec, dtype=float)
    pairs = _sky_pairs(ra, dec, to_arcsec(radius))
    return _components(len(ra), pairs)


def group_rows(ra, dec, source_id=None, radius=DEFAULT_RADIUS_ARCSEC):
    """Group rows by Gaia ``source_id`` where known, else by friends-of-friends on the sky.

    Parameters
    ----------
    ra, dec : array-like
        Degrees, NaN where unknown.
    source_id : array-like of int, optional
        Gaia source ids; values ≤ 0 (or masked) mean unknown.
    radius : float or `~astropy.units.Quantity`
        Linking length (arcsec if a plain number).

    Returns
    -------
    labels : ndarray of int64
        As `friends_of_friends` (which this is without ``source_id``).
    """
    if source_id is None:
        return friends_of_friends(ra, dec, radius)
    ra = np.asarray(ra, dtype=float)
    dec = np.asarray(dec, dtype=float)
    n = len(ra)
    radius = to_arcsec(radius)
    sid = np.ma.filled(np.ma.asarray(source_id).astype(np.int64), 0)
    has_id = sid > 0

    # same id: link each row to the next one with that id
    order = np.argsort(sid, kind="stable")
    same = (sid[order][1:] == sid[order][:-1]) & has_id[order][1:]
    id_pairs = np.stack([order[:-1][same], order[1:][same]], axis=1)

    # sky: only pairs where at least one row has no id (ids decide between id rows)
    sky = _sky_pairs(ra, dec, radius)
    sky = sky[~(has_id[sky[:, 0]] & has_id[sky[:, 1]])]
    labels = _components(n, np.concatenate([id_pairs, sky]))
    return _split_bridged(labels, sid, has_id, ra, dec)


def _sky_pairs(ra, dec, radius_arcsec):
    """Every pair of rows within ``radius_arcsec``: a k-d tree over unit vectors, kept by hand
    because it is ~4x faster than ``SkyCoord`` ``search_around_sky`` on 1,000,000 positions
    (``benchmarks/bench_skymatch.py``)."""
    good = np.flatnonzero(np.isfinite(ra) & np.isfinite(dec))
    if len(good) < 2:
        return np.empty((0, 2), dtype=np.int64)
    tree = cKDTree(radec_to_unit(ra[good], dec[good]))
    pairs = tree.query_pairs(float(chord_from_arcsec(radius_arcsec)), output_type="ndarray")
    return good[pairs].astype(np.int64).reshape(-1, 2)


def _components(n, pairs):
    if n == 0:
        return np.empty(0, dtype=np.int64)
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    graph = coo_matrix((np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])),
                       shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return _renumber(labels)


def _renumber(labels):
    """Labels 0, 1, ... in order of each group's first row."""
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    return rank[inverse]


def _split_bridged(labels, sid, has_id, ra, dec):
    """Where id-less rows bridged different source ids, send them to their nearest id row."""
    if not has_id.any():
        return labels
    ids_per_group = np.unique(np.stack([labels[has_id], sid[has_id]], axis=1), axis=0)
    groups, counts = np.unique(ids_per_group[:, 0], return_counts=True)
    bad_groups = groups[counts > 1]
    if len(bad_groups) == 0:
        return labels
    in_bad = np.isin(labels, bad_groups)
    anchors = np.flatnonzero(in_bad & has_id)
    movers = np.flatnonzero(in_bad & ~has_id)
    new = labels.copy()
    # id rows of a bridged group regroup by id; movers follow their nearest anchor
    base = labels.max() + 1
    _, id_rank = np.unique(sid[anchors], return_inverse=True)
    new[anchors] = base + id_rank
    placed = anchors[np.isfinite(ra[anchors]) & np.isfinite(dec[anchors])]
    tree = cKDTree(radec_to_unit(ra[placed], dec[placed]))
    _, nearest = tree.query(radec_to_unit(ra[movers], dec[movers]))
    new[movers] = new[placed][nearest]
    return _renumber(new)


def pick_representatives(labels, score=None, ok=None):
    """One representative row per group: the best ``score`` (ties and NaN: the first row).

    Parameters
    ----------
    labels : ndarray of int
        Group label per row.
    score : ndarray of float, optional
        Higher is better (NaN counts as worst); ``None`` picks each group's first row.
    ok : ndarray of bool, optional
        Rows that may represent their group in preference to the others (e.g. status "ok").

    Returns
    -------
    is_representative : ndarray of bool
    """
    n = len(labels)
    index = np.arange(n)
    score = np.zeros(n) if score is None else np.where(np.isnan(score), -np.inf, score)
    ok = np.ones(n, dtype=bool) if ok is None else np.asarray(ok, dtype=bool)
    # sort by group, then ok first, then best score, then earliest row
    order = np.lexsort((index, -score, ~ok, labels))
    first = np.ones(n, dtype=bool)
    first[1:] = labels[order][1:] != labels[order][:-1]
    result = np.zeros(n, dtype=bool)
    result[order[first]] = True
    return result


class SkyFoFDedup:
    """The ``sky-fof`` de-duplication stage.

    Parameters
    ----------
    radius : float or `~astropy.units.Quantity`
        Linking length (default 3″; arcsec if a plain number).
    representative : {"snr", "first"}, str or callable
        How each group's representative is chosen: ``"snr"`` the highest ``snr_column``
        (default), ``"first"`` the first row, any other string the highest value of that
        column, or a callable ``f(catalog, group_id) -> bool array`` (a combine hook: it may
        also stack the group's spectra elsewhere and mark the row that stands for them).
        Rows whose status is ``"ok"`` are preferred over failed rows.
    snr_column : str
        Column for ``representative="snr"`` (default ``snr_g``).
    source_id_column : str or None
        Gaia source ids, used where present (values ≤ 0 or masked mean unknown).
    ra_column, dec_column : str
        Position columns (degrees).

    Examples
    --------
    >>> from astropy.table import Table
    >>> cat = Table({"ra": [10.0, 10.0 + 1 / 3600, 50.0], "dec": [0.0, 0.0, 0.0],
    ...              "snr_g": [20.0, 40.0, 5.0], "status": ["ok", "ok", "ok"]})
    >>> out = SkyFoFDedup().run(cat)
    >>> list(out["group_id"]), list(out["group_size"]), list(out["is_representative"])
    ([0, 0, 1], [2, 2, 1], [False, True, True])
    """

    def __init__(self, radius=DEFAULT_RADIUS_ARCSEC, representative="snr", snr_column="snr_g",
                 source_id_column="gaia_source_id", ra_column="ra", dec_column="dec"):
        self.radius = to_arcsec(radius)
        if not (callable(representative) or isinstance(representative, str)):
            raise ConfigurationError(
                f"representative={representative!r}: use 'snr', 'first', a column name or a "
                "callable f(catalog, group_id) -> bool array"
            )
        self.representative = representative
        self.snr_column = snr_column
        self.source_id_column = source_id_column
        self.ra_column = ra_column
        self.dec_column = dec_column

    def run(self, catalog):
        """Group the catalogue's rows.

        Returns
        -------
        `~astropy.table.Table`
            ``group_id`` (int64), ``group_size`` (int64), ``is_representative`` (bool), one
            row per catalogue row in the same order.
        """
        ra, dec = catalog_positions(catalog, self.ra_column, self.dec_column)
        sid = None
        if self.source_id_column and self.source_id_column in catalog.colnames:
            sid = catalog[self.source_id_column]
        labels = group_rows(ra, dec, sid, self.radius)
        sizes = np.bincount(labels)[labels] if len(labels) else np.empty(0, dtype=np.int64)
        is_rep = self._representatives(catalog, labels)

        out = Table()
        out["group_id"] = labels.astype(np.int64)
        out["group_id"].description = (
            f"repeat-observation group: same Gaia source_id, else friends-of-friends within "
            f"{self.radius:g} arcsec"
        )
        out["group_size"] = np.asarray(sizes, dtype=np.int64)
        out["group_size"].description = "number of rows in the group"
        out["is_representative"] = is_rep
        out["is_representative"].description = (
            f"the row that represents its group (rule: {self._rule_name()})"
        )
        return out

    def _rule_name(self):
        rep = self.representative
        if callable(rep):
            return getattr(rep, "__name__", "callable")
        return f"highest {self.snr_column}" if rep == "snr" else rep

    def _representatives(self, catalog, labels):
        rep = self.representative
        if callable(rep):
            result = np.asarray(rep(catalog, labels), dtype=bool)
            if result.shape != labels.shape:
                raise ConfigurationError(
                    f"representative hook {rep!r} returned shape {result.shape}; it must "
                    f"return one bool per catalogue row ({labels.shape})"
                )
            return result
        ok = None
        if "status" in catalog.colnames:
            ok = np.ma.filled(np.ma.asarray(catalog["status"]).astype(str), "") == "ok"
        if rep == "first":
            return pick_representatives(labels, None, ok)
        column = self.snr_column if rep == "snr" else rep
        if column not in catalog.colnames:
            if rep == "snr":  # no S/N known: fall back to the first row, still deterministic
                return pick_representatives(labels, None, ok)
            raise ConfigurationError(
                f"representative={rep!r}: the catalogue has no such column; use 'snr', "
                "'first' or one of its columns"
            )
        return pick_representatives(labels, column_as_float(catalog, column), ok)
