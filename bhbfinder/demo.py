"""``bhbfinder demo``: the whole search on a simulated LAMOST sample, offline.

The demo writes LAMOST-layout files made by the built-in simulator (analytic templates, no data
files needed), adds two broken files to show how failures are reported, runs `find_bhb` with the
shipped pretrained model, writes the catalogue and the plots, and compares the verdicts with the
simulation's truth table.
"""

from pathlib import Path

import numpy as np
from astropy.table import Table

from .balmer.plotting import plot_criteria_plane, plot_line_fits
from .crossmatch.cmd import plot_cmd
from .pipeline import Pipeline, find_bhb
from .simulate import build_library, simulate_files
from .simulate.classes import culpan_kiel_limits

__all__ = ["run_demo", "score_against_truth", "format_score"]

#: Spectra per class in the demo sample.
DEMO_PER_CLASS = 12
#: g-band S/N range of the demo sample.
DEMO_SNR = (20.0, 80.0)


def run_demo(outdir="bhbfinder-demo", n_per_class=DEMO_PER_CLASS, seed=2026, progress=False,
             executor=None):
    """Run the offline demo.

    Parameters
    ----------
    outdir : path-like
        Folder for the sample (``spectra/``), the catalogue (``catalog.fits``, replaced if an
        earlier demo wrote it), the truth table and the plots (``*.png``).
    n_per_class : int
        Simulated spectra per class (BHB, A, B, HotSD, WD, other).
    seed : int
        Random seed of the simulation.
    progress : bool
        Show a progress bar (``bhbfinder demo`` prints the summary and the score).
    executor
        As in `find_bhb`.

    Returns
    -------
    catalog : `~astropy.table.QTable`
        The catalogue; ``meta["demo_score"]`` holds the comparison with the truth (see
        `format_score`), ``meta["demo_files"]`` the files written.
    """
    outdir = Path(outdir)
    spectra_dir = outdir / "spectra"
    library = build_library(("analytic",), n_per_class=n_per_class, snr=DEMO_SNR, seed=seed,
                            augment="standard")
    truth = simulate_files(spectra_dir, library, compress="gzip")
    _write_broken_files(spectra_dir, truth)
    catalog = find_bhb(spectra_dir, output=outdir / "catalog.fits", progress=progress,
                       executor=executor, overwrite=True)
    score = score_against_truth(catalog, truth)
    catalog.meta["demo_score"] = score
    plots = make_plots(catalog, truth, outdir)
    catalog.meta["demo_files"] = [str(p) for p in [outdir / "catalog.fits", *plots]]
    return catalog


def _write_broken_files(folder, truth):
    first = Path(folder) / str(truth["file"][0])
    (Path(folder) / "broken-not-a-fits-file.fits").write_text("this is not a spectrum\n")
    data = first.read_bytes()
    (Path(folder) / "broken-truncated.fits.gz").write_bytes(data[: len(data) // 3])


def score_against_truth(catalog, truth):
    """How the catalogue's verdicts compare with the simulation's labels.

    Returns
    -------
    dict
        Counts of true BHB spectra, candidates, correct candidates and Balmer-confirmed
        candidates (the catalogue summary's ``confirmed``), the candidates' precision and
        recall, the final verdict's (``is_bhb``) counts, precision and recall where it ran,
        and the number of failed files.
    """
    names = {Path(str(f)).name: i for i, f in enumerate(catalog["file"])}
    rows = np.array([names.get(Path(str(f)).name, -1) for f in truth["file"]])
    found = rows >= 0
    labels = np.asarray(truth["label"]).astype(str)[found]
    rows = rows[found]

    def flag(name):
        col = catalog[name]
        return np.asarray(col.filled(False) if hasattr(col, "filled") else col, bool)[rows]

    is_bhb = labels == "BHB"
    cand = flag("is_bhb_candidate")
    confirmed = cand & flag("balmer_confirmed")
    tp = int((cand & is_bhb).sum())
    final = {}
    if "is_bhb" in catalog.colnames:
        verdict = flag("is_bhb")
        tp_v = int((verdict & is_bhb).sum())
        final = {"n_is_bhb": int(verdict.sum()), "n_true_is_bhb": tp_v,
                 "is_bhb_precision": round(tp_v / verdict.sum(), 4) if verdict.sum() else None,
                 "is_bhb_recall": round(tp_v / is_bhb.sum(), 4) if is_bhb.sum() else None}
    return {
        "n_truth": int(found.sum()),
        "n_true_bhb": int(is_bhb.sum()),
        "n_candidates": int(cand.sum()),
        "n_true_candidates": tp,
        "precision": round(tp / cand.sum(), 4) if cand.sum() else None,
        "recall": round(tp / is_bhb.sum(), 4) if is_bhb.sum() else None,
        "n_confirmed": int(confirmed.sum()),
        "n_true_confirmed": int((confirmed & is_bhb).sum()),
        "n_failed": int((np.asarray(catalog["status"]) != "ok").sum()),
        **final,
    }


def format_score(score):
    """`score_against_truth`'s result as one line (what ``bhbfinder demo`` prints)."""
    verdict = ""
    if "n_is_bhb" in score:
        verdict = (f"{score['n_is_bhb']} called BHB by the final verdict (is_bhb), "
                   f"{score['n_true_is_bhb']} of them true (precision "
                   f"{score['is_bhb_precision']}, recall {score['is_bhb_recall']}); ")
    return (f"demo truth check: {score['n_true_bhb']} simulated BHB spectra; "
            f"{score['n_candidates']} candidates, {score['n_true_candidates']} of them true "
            f"(precision {score['precision']}, recall {score['recall']}); "
            f"{score['n_confirmed']} of the candidates Balmer-confirmed "
            f"({score['n_true_confirmed']} true); {verdict}"
            f"{score['n_failed']} files reported as failed")


def make_plots(catalog, truth, outdir):
    """The demo's figures: top candidates with Balmer fits, the (c, b) plane, Teff–log g, CMD."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    outdir = Path(outdir)
    written = []
    labels = _truth_labels(catalog, truth)
    ok = np.asarray(catalog["status"]) == "ok"

    fig = plot_criteria_plane(Table(catalog)[ok], "hgamma", "xue2008", labels=labels[ok])
    written.append(_save(fig, outdir / "balmer_cb_plane.png"))

    fig = _plot_kiel(catalog[ok], labels[ok])
    written.append(_save(fig, outdir / "teff_logg.png"))

    top = _plot_top_candidates(catalog, outdir)
    if top is not None:
        written.append(top)

    if "bp_rp" in catalog.colnames and np.isfinite(_values(catalog, "bp_rp")).any():
        ax = plot_cmd(_values(catalog, "bp_rp"), _values(catalog, "abs_g"))
        written.append(_save(ax.figure, outdir / "gaia_cmd.png"))
    plt.close("all")
    return written


def _values(catalog, name):
    col = catalog[name]
    value = getattr(col, "value", col)
    return np.asarray(np.ma.filled(np.ma.asarray(value, dtype=float), np.nan))


def _truth_labels(catalog, truth):
    by_name = {Path(str(f)).name: str(lab) for f, lab in zip(truth["file"], truth["label"])}
    return np.array([by_name.get(Path(str(f)).name, "failed") for f in catalog["file"]])


def _plot_kiel(catalog, labels):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    teff, logg = _values(catalog, "teff"), _values(catalog, "logg")
    # stars outside the hot-star model's domain (hot subdwarfs, white dwarfs, cool stars) come
    # back flagged at the domain's edge: drawn hollow, as their values mean little
    flags = np.ma.filled(np.ma.asarray(catalog["params_flags"], dtype=float), 1) \
        if "params_flags" in catalog.colnames else np.zeros(len(catalog))
    edge = (flags.astype(int) & 1) > 0
    for k, label in enumerate(sorted(set(labels))):
        colour = f"C{k}"
        sel = labels == label
        ax.scatter(teff[sel & ~edge], logg[sel & ~edge], s=14, color=colour, label=label)
        ax.scatter(teff[sel & edge], logg[sel & edge], s=14, facecolors="none",
                   edgecolors=colour)
    t = np.linspace(7000, 12000, 50)
    ax.fill_between(t, *culpan_kiel_limits(t), color="0.85", zorder=0,
                    label="BHB box (Culpan+2024)")
    ax.set_xlim(13500, 6000)
    ax.set_ylim(5.5, 1.5)
    ax.set_xlabel("Teff (K)")
    ax.set_ylabel("log g")
    ax.legend(fontsize=7, loc="lower left")
    ax.set_title("Teff–log g by true class (hollow: outside the model's domain)", fontsize=9)
    return fig


def top_candidate_figures(catalog, n=3):
    """Balmer fits of the ``n`` highest-probability candidates, re-measured from their files,
    one figure each, titled with the file, its stage-2 probability and Balmer verdict.

    Returns
    -------
    list of `matplotlib.figure.Figure`
    """
    cand = np.asarray(catalog["is_bhb_candidate"].filled(False), bool)
    if not cand.any():
        return []
    p2 = np.ma.filled(np.ma.asarray(catalog["p_bhb_stage2"], dtype=float), -1.0)
    best = np.argsort(-np.where(cand, p2, -2.0))[: min(n, cand.sum())]
    pipe = Pipeline()
    raw = pipe.read([str(catalog["file"][i]) for i in best])
    prepared = pipe.prepare(raw)
    table = pipe.stage("balmer").run(prepared)
    confirmed = np.asarray(catalog["balmer_confirmed"].filled(False), bool)
    figures = []
    for k, row in enumerate(best):
        fig = plot_line_fits(prepared, table, index=k)
        verdict = "Balmer-confirmed" if confirmed[row] else "not Balmer-confirmed"
        fig.suptitle(f"#{k + 1} {Path(str(catalog['file'][row])).name}: "
                     f"p_bhb_stage2 = {p2[row]:.3f}, {verdict}", fontsize=9)
        figures.append(fig)
    return figures


def _plot_top_candidates(catalog, outdir, n=3):
    """`top_candidate_figures` stacked into ``top_candidates.png``."""
    import matplotlib.pyplot as plt

    figures = top_candidate_figures(catalog, n)
    if not figures:
        return None
    path = outdir / "top_candidates.png"
    # stack the per-candidate figures into one image
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    images = []
    for fig in figures:
        canvas = FigureCanvasAgg(fig)  # the figures may have no canvas of their own
        canvas.draw()
        images.append(np.asarray(canvas.buffer_rgba()))
        plt.close(fig)
    width = max(im.shape[1] for im in images)
    padded = [np.pad(im, ((0, 0), (0, width - im.shape[1]), (0, 0)), constant_values=255)
              for im in images]
    plt.imsave(path, np.concatenate(padded, axis=0))
    return path


def _save(fig, path):
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path
