"""Plots of Balmer measurements (matplotlib; works with the Agg backend, returns Figures).

`plot_line_fits`
    One spectrum's Balmer lines (every line the stage measured, the higher Balmer lines
    included; four panels a row), normalised by the local (pseudo-)continuum, with the fitted
    profiles.
`plot_criteria_plane`
    Stars in the Hγ (c, b) plane or the Hδ (D0.2, fm) plane, with a criteria set's box.
"""

import numpy as np

from ..stages.balmer import BalmerStage
from . import flags as F
from .criteria import get_criteria
from .measure import normalised_window
from .profile import sersic_profile
from .windows import COLUMN_PREFIX

__all__ = ["plot_line_fits", "plot_criteria_plane"]


def _figure(figsize):
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained")


def plot_line_fits(prepared, table, index=0, lines=None, windows=None, figure=None):
    """One spectrum's lines (normalised by the local continuum) with the fitted profiles.

    Parameters
    ----------
    prepared : `~bhbfinder.batch.PreparedBatch`
        The batch the table was measured on.
    table : `~astropy.table.Table`
        Output of `~bhbfinder.balmer.BalmerStage.run`.
    index : int
        Row to plot.
    lines : sequence of str, optional
        Lines to show (default: every line with columns in ``table``).
    windows : dict, optional
        The stage's windows if they were overridden.
    figure : `matplotlib.figure.Figure`, optional

    Returns
    -------
    `matplotlib.figure.Figure`
    """
    stage = BalmerStage(criteria="xue2008", lines=(), windows=windows)
    lines = [name for name in (lines or stage.windows)
             if f"{COLUMN_PREFIX.get(name, name.lower())}_flags" in table.colnames]
    ncol = min(max(len(lines), 1), 4)
    nrow = -(-max(len(lines), 1) // ncol)
    fig = figure or _figure((3.2 * ncol, 3.2 * nrow))
    axes = fig.subplots(nrow, ncol, squeeze=False).ravel()
    for ax in axes[len(lines):]:
        ax.remove()
    axes = axes[:max(len(lines), 1)]
    sl = slice(index, index + 1)
    for ax, name in zip(axes[:len(lines)], lines, strict=True):
        p = COLUMN_PREFIX.get(name, name.lower())
        win = stage.windows[name]
        wave, y, _, good, _ = normalised_window(prepared.wavelength, prepared.flux[sl],
                                                prepared.ivar[sl], prepared.mask[sl], win)
        ax.plot(wave, np.where(good[0], y[0], np.nan), color="0.3", lw=1, drawstyle="steps-mid",
                label="data")
        flg = int(table[f"{p}_flags"][index])
        a, b, c, lam0 = (table[f"{p}_{k}"][index] for k in ("a", "b", "c", "lam0"))
        if not (flg & F.NO_VALUES) and not np.ma.is_masked(a):
            fine = np.linspace(wave[0], wave[-1], 600)
            ax.plot(fine, sersic_profile(fine, a, b, c, lam0), color="C3", lw=1.5,
                    label=f"b={b:.2f} Å, c={c:.2f}")
            ax.axhline(0.8, color="C0", lw=0.8, ls=":")
        ax.set_title(f"{name}" + (f" [{F.decode_flags(flg)}]" if flg else ""), fontsize=9)
        ax.set_xlabel("rest-frame vacuum wavelength (Å)")
        ax.legend(fontsize=7, loc="lower left")
    for ax in axes[::ncol]:
        ax.set_ylabel("flux / local continuum")
    return fig


_PLANES = {
    "hgamma": ("hgamma_b", "hgamma_c", "Hγ scale width b (Å)", "Hγ shape c"),
    "hdelta": ("hdelta_d02", "hdelta_fm", "Hδ D0.2 (Å)", "Hδ fm"),
}


def plot_criteria_plane(table, plane="hgamma", criteria="xue2008", labels=None, ax=None):
    """Stars in the Hγ (b, c) or Hδ (D0.2, fm) plane with the criteria box.

    Parameters
    ----------
    table : `~astropy.table.Table` or dict of arrays
        Balmer measurements.
    plane : {"hgamma", "hdelta"} or (x, y) column names
    criteria : str or `~bhbfinder.balmer.criteria.CriteriaSet`
        The set whose cuts on these two columns are drawn.
    labels : array-like of str, optional
        A class per row, drawn in different colours (default: ``balmer_confirmed``).
    ax : `matplotlib.axes.Axes`, optional

    Returns
    -------
    `matplotlib.figure.Figure`
    """
    from matplotlib.patches import Rectangle

    if isinstance(plane, str):
        xcol, ycol, xlabel, ylabel = _PLANES[plane]
    else:
        xcol, ycol = plane
        xlabel, ylabel = xcol, ycol
    if ax is None:
        fig = _figure((4.5, 4.0))
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    x = np.ma.filled(np.ma.asarray(table[xcol], dtype=float), np.nan)
    y = np.ma.filled(np.ma.asarray(table[ycol], dtype=float), np.nan)
    if labels is None:
        labels = np.where(np.asarray(table["balmer_confirmed"], bool), "confirmed", "rejected") \
            if "balmer_confirmed" in getattr(table, "colnames", table) else np.full(len(x), "")
    labels = np.asarray(labels).astype(str)
    for k, lab in enumerate(dict.fromkeys(labels)):
        sel = labels == lab
        ax.scatter(x[sel], y[sel], s=14, color=f"C{k}", label=lab or None)
    cset = get_criteria(criteria)
    bounds = {c.column: (c.low, c.high) for c in cset.cuts}
    if xcol in bounds or ycol in bounds:
        finite = np.isfinite(x) & np.isfinite(y)
        xr = (np.nanmin(x[finite]), np.nanmax(x[finite])) if finite.any() else (0, 1)
        yr = (np.nanmin(y[finite]), np.nanmax(y[finite])) if finite.any() else (0, 1)
        x0, x1 = bounds.get(xcol, (None, None))
        y0, y1 = bounds.get(ycol, (None, None))
        x0 = xr[0] - 1e3 if x0 is None else x0
        x1 = xr[1] + 1e3 if x1 is None else x1
        y0 = yr[0] - 1e3 if y0 is None else y0
        y1 = yr[1] + 1e3 if y1 is None else y1
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec="k", lw=1.2,
                               ls="--", label=f"{cset.name} box"))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
    return fig
