"""Training the two-stage classifier: split by star, stage 1, stage 2, threshold, test metrics.

The recipe follows the paper (Wang et al. 2026) where it is sound and fixes what
is not:

* the data are split **by star** (``star_ids`` group repeat spectra of one star) into train /
  validation / test, stratified by class, so no star is in two splits;
* models are selected on the validation split only (best macro-F1 for stage 1, best BHB-F1 for
  stage 2) and scored once on the test split;
* loss: cross-entropy with label smoothing 0.1 and class weights ``1/ln(n_k + 2)``; AdamW
  (lr 1e-3, weight decay 1e-4); ReduceLROnPlateau on the selection metric;
* stage 2 (BHB against the hard negatives A + B + HotSD + other) starts from the stage-1
  weights with a new 2-way head; optionally the negatives stage 1 finds BHB-like weigh more
  (``stage2_hard_weight``) and the epoch is selected on the end-to-end validation precision at
  90 % recall (``stage2_select="precision_at_recall"``);
* the stage-2 threshold, on validation end to end, is the lowest one that reaches the precision
  target (``threshold_rule="precision"``) or the highest one that keeps ``candidate_recall``
  of the BHB spectra stage 1 passes (``"recall"``, the default recipe's: a candidate list that
  the Balmer fits and the verdict then confirm, as the paper's candidates are confirmed);
* seeded; on CPU ``torch.use_deterministic_algorithms`` makes runs repeatable.

On-the-fly augmentation (``augment=True``) adds, per spectrum and epoch: Gaussian noise at a
random S/N, a smooth multiplicative continuum error, a shift of up to a few pixels (residual
radial-velocity error) and a masked window set to the continuum.
"""

import copy
import time

import astropy.units as u
import numpy as np
import torch
from astropy.coordinates import SkyCoord
from astropy.table import Table
from torch import nn

from ..errors import ConfigurationError
from ..spectra.prepare import PrepareConfig, prepare_arrays
from . import metrics as M
from .classifier import (
    CLASSES,
    DEFAULT_INPUT_CONFIG,
    POSITIVE_CLASS,
    TwoStageClassifier,
    encode_input,
    pick_device,
)
from .msfanet import architecture_config, build_network

__all__ = [
    "DEFAULT_TRAINING",
    "DEFAULT_AUGMENTATION",
    "STAGE2_NEGATIVES",
    "split_by_star",
    "label_spectra",
    "labelled_arrays",
    "class_weights",
    "augment_batch",
    "train_network",
    "train_two_stage",
    "stage2_selection_score",
    "evaluate",
]

#: The training recipe's defaults (the paper's loss and optimiser; epochs shortened).
DEFAULT_TRAINING = {
    "epochs_stage1": 30,
    "epochs_stage2": 15,
    "batch_size": 96,
    "lr": 1e-3,
    "weight_decay": 1e-4,
    "label_smoothing": 0.1,
    "class_weighting": "inverse_log",
    "split": [0.7, 0.15, 0.15],
    # the stage-2 threshold on validation: "precision" (the lowest reaching ``precision_target``
    # end to end) or "recall" (the highest keeping ``candidate_recall`` of the validation BHB
    # spectra that stage 1 passes: a candidate list for the Balmer fits and the verdict)
    "threshold_rule": "precision",
    "precision_target": 0.98,
    "candidate_recall": 0.9,
    "plateau_patience": 3,
    "plateau_factor": 0.5,
    "seed": 0,
    # stage-2 model selection on validation: "bhb_f1" (BHB-F1 of the binary network on BHB +
    # hard negatives, the paper's) or "precision_at_recall" (end-to-end: the best precision of
    # "stage 1 says BHB and p2 >= t" over thresholds t reaching recall ``stage2_recall``)
    "stage2_select": "bhb_f1",
    "stage2_recall": 0.9,
    # hard-negative weighting of stage 2: a negative's loss weight is 1 + k * p_BHB(stage 1)
    "stage2_hard_weight": 0.0,
}

#: On-the-fly augmentation: S/N drawn log-uniformly in ``snr_range`` (per-pixel noise σ = 1/S/N),
#: continuum error ``1 + a·t + b·t²`` with a, b ~ N(0, ``tilt_sigma``) on t ∈ [-1, 1], a shift
#: of up to ``max_shift`` pixels and, with probability ``mask_prob``, a window of up to
#: ``mask_frac`` of the pixels set to the continuum (1).
DEFAULT_AUGMENTATION = {
    "snr_range": [8.0, 150.0],
    "noise_prob": 0.8,
    "tilt_sigma": 0.03,
    "max_shift": 2,
    "mask_prob": 0.3,
    "mask_frac": 0.08,
}

#: The hard negatives of stage 2 (the paper: A + hot subdwarfs; "other" added here, and "B":
#: B stars near the Kiel box reach stage 1's BHB class as often as A stars do).
STAGE2_NEGATIVES = ("A", "B", "HotSD", "other")


# --------------------------------------------------------------------------------- splitting
def split_by_star(star_ids, labels=None, fractions=(0.7, 0.15, 0.15), seed=0):
    """Split rows into train / validation / test so that no star is in two splits.

    Stars are shuffled within each class (a star's class is the label of its first row) and cut
    by ``fractions``, so every class with at least three stars appears in all three splits.

    Parameters
    ----------
    star_ids : array
        One id per row; rows with equal ids are spectra of the same star.
    labels : array, optional
        Class per row, for stratification.
    fractions : 3 floats
        Train, validation, test (normalised to sum 1).
    seed : int

    Returns
    -------
    train, val, test : ndarray of int
        Row indices (sorted).
    """
    star_ids = np.asarray(star_ids)
    n = len(star_ids)
    labels = np.zeros(n, int) if labels is None else np.asarray(labels)
    frac = np.asarray(fractions, float)
    if frac.shape != (3,) or np.any(frac < 0) or frac.sum() <= 0:
        raise ConfigurationError(f"split fractions {fractions!r}: give three non-negative numbers")
    frac = frac / frac.sum()
    uniq, first, inverse = np.unique(star_ids, return_index=True, return_inverse=True)
    star_label = labels[first]
    rng = np.random.default_rng(seed)
    which = np.zeros(len(uniq), int)
    for lab in np.unique(star_label):
        stars = rng.permutation(np.nonzero(star_label == lab)[0])
        k = len(stars)
        n_val = int(round(frac[1] * k))
        n_test = int(round(frac[2] * k))
        if k >= 3:
            n_val = max(n_val, 1) if frac[1] > 0 else 0
            n_test = max(n_test, 1) if frac[2] > 0 else 0
        n_train = max(k - n_val - n_test, 0)
        which[stars[n_train:n_train + n_val]] = 1
        which[stars[n_train + n_val:]] = 2
    row_split = which[inverse.ravel()]
    return tuple(np.nonzero(row_split == s)[0] for s in range(3))


# ------------------------------------------------------------------------- labelling real data
def label_spectra(meta, labels_table, by="obsid", radius=3.0, label_column="label",
                  star_column=None):
    """Attach training labels to spectra from a label table, by obsid or by sky position.

    Parameters
    ----------
    meta : `~astropy.table.Table`
        Per-spectrum meta (e.g. ``RawBatch.meta``) with ``obsid`` or ``ra``/``dec`` (deg).
    labels_table : `~astropy.table.Table`
        One row per labelled object: ``label_column`` and ``obsid`` or ``ra``/``dec``.
    by : {"obsid", "position"}
    radius : float or `~astropy.units.Quantity`
        Match radius for ``by="position"`` (arcsec if a float).
    label_column : str
        The label column of ``labels_table``.
    star_column : str, optional
        Column of ``labels_table`` identifying the star (e.g. a Gaia id); default: the row
        number of the matched label, so repeat visits matched to one object share a star id.

    Returns
    -------
    `~astropy.table.Table`
        A copy of ``meta`` with ``label`` (str, "" where unmatched), ``star_id`` (int, -1 where
        unmatched), ``label_separation`` (arcsec, for position matches) and ``labelled`` (bool).
    """
    out = Table(meta, copy=True)
    n = len(out)
    if label_column not in labels_table.colnames:
        raise ConfigurationError(f"label table has no column {label_column!r} "
                                 f"(columns: {labels_table.colnames}); pass label_column=")
    lab_values = np.asarray(labels_table[label_column]).astype(str)
    if star_column is not None:
        star_values = np.asarray(labels_table[star_column])
        _, star_values = np.unique(star_values, return_inverse=True)
    else:
        star_values = np.arange(len(labels_table))
    match = np.full(n, -1, np.int64)
    sep = np.full(n, np.nan)
    if by == "obsid":
        for name, tab in (("meta", out), ("label table", labels_table)):
            if "obsid" not in tab.colnames:
                raise ConfigurationError(f"by='obsid' needs an 'obsid' column in the {name}")
        meta_ids = np.ma.filled(np.ma.asarray(out["obsid"]).astype(np.int64), -1)
        lab_ids = np.asarray(labels_table["obsid"]).astype(np.int64)
        order = np.argsort(lab_ids, kind="stable")
        pos = np.searchsorted(lab_ids[order], meta_ids)
        pos = np.clip(pos, 0, max(len(order) - 1, 0))
        if len(order):
            hit = (lab_ids[order][pos] == meta_ids) & (meta_ids >= 0)
            match[hit] = order[pos[hit]]
    elif by == "position":
        for name, tab in (("meta", out), ("label table", labels_table)):
            if "ra" not in tab.colnames or "dec" not in tab.colnames:
                raise ConfigurationError(f"by='position' needs 'ra' and 'dec' in the {name}")
        rad = radius if hasattr(radius, "unit") else float(radius) * u.arcsec
        ra = np.ma.filled(np.ma.asarray(out["ra"], dtype=float), np.nan)
        dec = np.ma.filled(np.ma.asarray(out["dec"], dtype=float), np.nan)
        good = np.isfinite(ra) & np.isfinite(dec)
        if good.any() and len(labels_table):
            c1 = SkyCoord(ra[good] * u.deg, dec[good] * u.deg)
            c2 = SkyCoord(np.asarray(labels_table["ra"], float) * u.deg,
                          np.asarray(labels_table["dec"], float) * u.deg)
            idx, d2d, _ = c1.match_to_catalog_sky(c2)
            ok = d2d <= rad
            gi = np.nonzero(good)[0]
            match[gi[ok]] = idx[ok]
            sep[gi] = d2d.to_value(u.arcsec)
    else:
        raise ConfigurationError(f"by={by!r}: use 'obsid' or 'position'")
    hit = match >= 0
    labels = np.full(n, "", dtype=f"U{max([len(s) for s in lab_values] + [1])}")
    labels[hit] = lab_values[match[hit]]
    stars = np.full(n, -1, np.int64)
    stars[hit] = star_values[match[hit]]
    out["label"] = labels
    out["star_id"] = stars
    if by == "position":
        out["label_separation"] = sep * u.arcsec
    out["labelled"] = hit
    return out


def labelled_arrays(source, labels_table, by="obsid", radius=3.0, label_column="label",
                    star_column=None, prepare_config=None, label_map=None, chunk=1000):
    """Read, label and prepare real survey spectra for `train_two_stage`.

    Parameters
    ----------
    source : folder, glob, file or list
        Survey files (any format a reader plugin handles; see `bhbfinder.io.read.iter_paths`).
    labels_table : `~astropy.table.Table` or path
        Labels (read with ``Table.read`` if a path): ``label_column`` plus ``obsid`` or
        ``ra``/``dec``.
    by, radius, label_column, star_column
        See `label_spectra`.
    prepare_config : PrepareConfig or dict, optional
        Default: the default `PrepareConfig`.
    label_map : dict, optional
        Map label-table values to classes (e.g. ``{"BS": "A", "F": "other"}``); unmapped
        values are kept as they are.

    Returns
    -------
    dict
        ``flux``, ``ivar``, ``labels``, ``star_ids``, ``wavelength``, ``prepare_config``
        (dict), ``provenance``: only rows that were read, labelled and prepared.
    """
    from ..io.read import iter_paths, read_batch

    if not hasattr(labels_table, "colnames"):
        labels_table = Table.read(labels_table)
    config = prepare_config if prepare_config is not None else PrepareConfig()
    if isinstance(config, dict):
        config = PrepareConfig.from_dict(config)
    paths = list(iter_paths(source))
    parts = {"flux": [], "ivar": [], "labels": [], "star_ids": []}
    wave = None
    for start in range(0, len(paths), chunk):
        raw = read_batch(paths[start:start + chunk])
        lab = label_spectra(raw.meta, labels_table, by=by, radius=radius,
                            label_column=label_column, star_column=star_column)
        batch = prepare_arrays(raw, config)
        keep = batch.ok & np.asarray(lab["labelled"], bool)
        labels = np.asarray(lab["label"]).astype(str)[keep]
        if label_map:
            labels = np.array([label_map.get(v, v) for v in labels])
        parts["flux"].append(batch.flux[keep])
        parts["ivar"].append(batch.ivar[keep])
        parts["labels"].append(labels)
        parts["star_ids"].append(np.asarray(lab["star_id"])[keep])
        wave = batch.wavelength
    if not paths or sum(len(x) for x in parts["labels"]) == 0:
        raise ConfigurationError(f"{source}: no spectrum was read, labelled and prepared; "
                                 f"check the files and the join (by={by!r})")
    out = {k: np.concatenate(v) for k, v in parts.items()}
    out["wavelength"] = wave
    out["prepare_config"] = config.to_dict()
    out["provenance"] = {"source": f"labelled survey spectra ({len(paths)} files)",
                         "join": {"by": by, "radius_arcsec": float(radius) if by == "position"
                                  else None, "label_column": label_column}}
    return out


# ----------------------------------------------------------------------------- training parts
def class_weights(counts, scheme="inverse_log"):
    """Loss weights per class: ``1/ln(n_k + 2)`` (the paper), ``"inverse"`` or ``"none"``."""
    counts = np.asarray(counts, float)
    if scheme in ("inverse_log", "log"):
        return 1.0 / np.log(counts + 2.0)
    if scheme == "inverse":
        w = 1.0 / np.maximum(counts, 1.0)
        return w / w.mean()
    if scheme in ("none", None):
        return np.ones_like(counts)
    raise ConfigurationError(f"class weighting {scheme!r}: use inverse_log, inverse or none")


def augment_batch(x, generator, config=None):
    """Augment a batch ``x`` (batch, channels, npix) of network input (flux in channel 0).

    Vectorised over the batch; see `DEFAULT_AUGMENTATION`.
    """
    cfg = dict(DEFAULT_AUGMENTATION, **(config or {}))
    b, _, L = x.shape
    dev = x.device
    g = generator

    def rand(*shape):
        return torch.rand(*shape, generator=g).to(dev)

    def randn(*shape):
        return torch.randn(*shape, generator=g).to(dev)

    flux = x[:, 0]
    # shift by up to max_shift pixels (edge pixels repeat)
    if cfg["max_shift"]:
        shift = torch.randint(-cfg["max_shift"], cfg["max_shift"] + 1, (b, 1), generator=g).to(dev)
        idx = (torch.arange(L, device=dev)[None, :] - shift).clamp(0, L - 1)
        flux = torch.gather(flux, 1, idx)
    # smooth continuum error
    t = torch.linspace(-1, 1, L, device=dev)[None, :]
    a, c = randn(b, 1) * cfg["tilt_sigma"], randn(b, 1) * cfg["tilt_sigma"]
    flux = flux * (1 + a * t + c * (t * t - 1 / 3))
    # noise at a random S/N
    lo, hi = np.log(cfg["snr_range"][0]), np.log(cfg["snr_range"][1])
    snr = torch.exp(lo + (hi - lo) * rand(b, 1))
    use = (rand(b, 1) < cfg["noise_prob"]).float()
    flux = flux + use * randn(b, L) / snr
    # a masked window set to the continuum
    if cfg["mask_prob"] > 0:
        width = (rand(b, 1) * cfg["mask_frac"] * L).long()
        start = (rand(b, 1) * L).long()
        pos = torch.arange(L, device=dev)[None, :]
        win = (pos >= start) & (pos < start + width) & (rand(b, 1) < cfg["mask_prob"])
        flux = torch.where(win, torch.ones_like(flux), flux)
    out = x.clone()
    out[:, 0] = flux
    return out


def stage2_selection_score(is_bhb, stage1_bhb, recall=0.9):
    """The end-to-end score that selects stage 2's epoch on validation.

    The best precision of "stage 1 says BHB and ``p2 ≥ t``" over the thresholds ``t`` that
    reach the recall target. Stage 1 is fixed while stage 2 trains, so no stage-2 network can
    recall more BHB spectra than stage 1 passes; where that share is below ``recall`` the target
    is capped at it. Otherwise no epoch would reach the target, every epoch would score 0 and the
    selection would keep an arbitrary one (as happens when one of a handful of real BHB stars
    changes the validation split).

    Parameters
    ----------
    is_bhb : array of bool
        The validation rows that are BHB spectra.
    stage1_bhb : array of bool
        The rows stage 1 calls BHB.
    recall : float
        The recall target (``stage2_recall`` of the training settings).

    Returns
    -------
    score : callable
        ``score(p2)``, ``p2`` stage 2's BHB probability per row: the precision, 0 where no
        threshold reaches the target.
    target : float
        The recall target used: ``recall``, or the share stage 1 passes where that is lower.
    """
    is_bhb = np.asarray(is_bhb, bool)
    stage1_bhb = np.asarray(stage1_bhb, bool)
    target = float(recall)
    if is_bhb.any():
        passed = (is_bhb & stage1_bhb).sum() / is_bhb.sum()
        if passed < target:
            target = float(passed) * (1 - 1e-9)  # reachable despite rounding

    def score(p2):
        if target <= 0:
            return 0.0
        p = M.precision_at_recall(is_bhb, np.where(stage1_bhb, p2, -np.inf), target)
        return 0.0 if p != p else p

    return score, target


def _predict_logits(net, x, device, batch_size=512):
    net.eval()
    outs = []
    with torch.no_grad():
        for s in range(0, len(x), batch_size):
            outs.append(net(torch.from_numpy(x[s:s + batch_size]).to(device)).float().cpu())
    return torch.cat(outs).numpy() if outs else np.zeros((0, net.config["n_classes"]))


def train_network(net, x_train, y_train, x_val, y_val, n_classes, epochs=30, batch_size=96,
                  lr=1e-3, weight_decay=1e-4, label_smoothing=0.1, weights=None,
                  select="macro_f1", positive=1, augment=True, augmentation=None, seed=0,
                  device=None, plateau_patience=3, plateau_factor=0.5, log=None,
                  sample_weights=None):
    """Train ``net`` in place; keep the weights of the best validation epoch.

    Parameters
    ----------
    net : torch.nn.Module
    x_train, x_val : ndarray (n, channels, npix) float32
    y_train, y_val : ndarray of int
    n_classes : int
    select : {"macro_f1", "positive_f1"} or callable
        Validation metric for model selection and the LR schedule; ``positive_f1`` is the F1 of
        class ``positive``; a callable gets the validation logits and returns the score.
    weights : array, optional
        Per-class loss weights.
    sample_weights : array, optional
        Per-row loss weights of the training rows (multiplying the class weights).
    log : callable, optional
        Called with one line per epoch.

    Returns
    -------
    dict
        ``best_epoch``, ``best_score``, ``history`` (per-epoch loss, score, lr, seconds).
    """
    device = pick_device(device)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    net.to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=plateau_factor,
                                                       patience=plateau_patience)
    w = None if weights is None else torch.as_tensor(np.asarray(weights), dtype=torch.float32)
    loss_fn = nn.CrossEntropyLoss(weight=None if w is None else w.to(device),
                                  label_smoothing=label_smoothing)
    xt = torch.from_numpy(np.ascontiguousarray(x_train))
    yt = torch.from_numpy(np.asarray(y_train, np.int64))
    if sample_weights is not None:
        swt = torch.as_tensor(np.asarray(sample_weights), dtype=torch.float32)
        row_loss = nn.CrossEntropyLoss(weight=None if w is None else w.to(device),
                                       label_smoothing=label_smoothing, reduction="none")
        cw = torch.ones(n_classes) if w is None else w

        def loss_fn(logits, target, sel):  # the weighted mean, as CrossEntropyLoss(weight=)
            sw = swt[sel].to(device)
            return (row_loss(logits, target) * sw).sum() / (cw.to(device)[target] * sw).sum()
    else:
        plain_loss = loss_fn

        def loss_fn(logits, target, sel):
            return plain_loss(logits, target)
    best = {"score": -1.0, "epoch": -1, "state": copy.deepcopy(net.state_dict())}
    history = []
    n = len(xt)
    for epoch in range(int(epochs)):
        t0 = time.time()
        net.train()
        perm = torch.randperm(n, generator=gen)
        total = 0.0
        for s in range(0, n, batch_size):
            sel = perm[s:s + batch_size]
            if len(sel) < 2:  # BatchNorm needs two samples
                continue
            xb = xt[sel].to(device)
            if augment:
                xb = augment_batch(xb, gen, augmentation)
            loss = loss_fn(net(xb), yt[sel].to(device), sel)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(sel)
        logits = _predict_logits(net, x_val, device)
        pred = logits.argmax(axis=1)
        if callable(select):
            score = float(select(logits))
        elif select == "positive_f1":
            score = M.binary_scores(np.asarray(y_val) == positive, pred == positive)["f1"]
        else:
            score = M.macro_f1(y_val, pred, n_classes)
        sched.step(score)
        history.append({"epoch": epoch, "loss": total / max(n, 1), "val_score": float(score),
                        "lr": float(opt.param_groups[0]["lr"]), "seconds": time.time() - t0})
        if log:
            name = getattr(select, "__name__", select)
            log(f"epoch {epoch:3d} loss {total / max(n, 1):.4f} val {name} {score:.4f} "
                f"lr {opt.param_groups[0]['lr']:.2e} ({time.time() - t0:.1f} s)")
        if score > best["score"]:
            best = {"score": float(score), "epoch": epoch,
                    "state": copy.deepcopy(net.state_dict())}
    net.load_state_dict(best["state"])
    net.eval()
    return {"best_epoch": best["epoch"], "best_score": best["score"], "history": history}


def _as_arrays(data, classes, prepare_config):
    """(flux, ivar, mask, labels, star_ids, wavelength, prepare_config dict, provenance)."""
    prov = {}
    wavelength = None
    if hasattr(data, "to_raw_batch"):  # a simulate.TrainingLibrary
        config = prepare_config if prepare_config is not None else PrepareConfig()
        if isinstance(config, dict):
            config = PrepareConfig.from_dict(config)
        batch = prepare_arrays(data.to_raw_batch(), config)
        labels = np.asarray(data.labels)
        stars = np.asarray(data.star_ids)
        keep = batch.ok
        prov = dict(getattr(data, "provenance", {}) or {})
        prov.setdefault("source", "bhbfinder.simulate TrainingLibrary")
        return (batch.flux[keep], batch.ivar[keep], batch.mask[keep], labels[keep], stars[keep],
                batch.wavelength, config.to_dict(), prov)
    if hasattr(data, "flux") and hasattr(data, "config"):
        raise ConfigurationError("pass a PreparedBatch as (flux, ivar, labels, star_ids) with "
                                 "prepare_config= and wavelength=")
    if isinstance(data, dict):
        data = (data["flux"], data["ivar"], data["labels"], data["star_ids"])
    if len(data) != 4:
        raise ConfigurationError("data must be a TrainingLibrary or (flux, ivar, labels, "
                                 "star_ids)")
    flux, ivar, labels, stars = (np.asarray(a) for a in data)
    mask = ~np.isfinite(flux) | ~(ivar > 0)
    cfg = prepare_config
    if cfg is not None and not isinstance(cfg, dict):
        cfg = cfg.to_dict()
    return flux, ivar, mask, labels, stars, wavelength, cfg, prov


def _label_indices(labels, classes):
    labels = np.asarray(labels)
    if labels.dtype.kind in "iu":
        if labels.min() < 0 or labels.max() >= len(classes):
            raise ConfigurationError(f"integer labels must be in 0..{len(classes) - 1}")
        return labels.astype(np.int64)
    names = labels.astype(str)
    unknown = sorted(set(names) - set(classes))
    if unknown:
        raise ConfigurationError(f"labels {unknown} are not in the class list {list(classes)}; "
                                 "pass classes= or map them (e.g. F/G/K -> 'other')")
    lookup = {c: i for i, c in enumerate(classes)}
    return np.array([lookup[s] for s in names], np.int64)


def evaluate(classifier, x, y, classes):
    """Test metrics of a trained classifier on encoded input ``x`` with labels ``y``.

    Returns
    -------
    dict
        ``stage1`` (per-class report + confusion matrix), ``stage2_subset`` (the binary network
        on true BHB + hard negatives, at the stored threshold), ``candidates`` (end-to-end
        ``is_bhb_candidate`` against true BHB), ``pr_curve`` (end-to-end score: p_bhb_stage2
        where stage 1 says BHB), ``other_as_candidate`` (fraction of "other" rows flagged).
    """
    pos = classes.index(POSITIVE_CLASS)
    res = _run_encoded(classifier, x)
    out = {"n": int(len(y))}
    out["stage1"] = M.classification_report(y, res["stage1_index"], classes)
    is_bhb = y == pos
    out["candidates"] = M.binary_scores(is_bhb, res["is_bhb_candidate"])
    score = np.where(res["stage1_index"] == pos, res["p_bhb_stage2"], -np.inf)
    out["pr_curve"] = M.precision_recall_curve(is_bhb, score)
    neg = [classes.index(c) for c in STAGE2_NEGATIVES if c in classes]
    sub = is_bhb | np.isin(y, neg)
    out["stage2_subset"] = M.binary_scores(is_bhb[sub],
                                           res["p_bhb_stage2"][sub] >= classifier.threshold)
    if "other" in classes:
        other = y == classes.index("other")
        out["other_as_candidate"] = {
            "n_other": int(other.sum()),
            "n_flagged": int(np.sum(res["is_bhb_candidate"] & other))}
    return out


def _run_encoded(classifier, x):
    """`TwoStageClassifier.predict_arrays` on already-encoded input."""
    dev = classifier.device
    p1 = torch.softmax(torch.from_numpy(_predict_logits(classifier.stage1, x, dev)), 1).numpy()
    idx1 = p1.argmax(axis=1)
    pos = classifier.positive_index
    if classifier.stage2 is not None:
        p2 = torch.softmax(torch.from_numpy(_predict_logits(classifier.stage2, x, dev)),
                           1).numpy()[:, 1]
    else:
        p2 = p1[:, pos]
    return {"stage1_index": idx1, "p_bhb_stage1": p1[:, pos], "p_bhb_stage2": p2,
            "is_bhb_candidate": (idx1 == pos) & (p2 >= classifier.threshold)}


def _check_threshold_settings(cfg):
    """Refuse a stage-2 threshold setting before any training is spent on it."""
    if cfg["threshold_rule"] not in ("precision", "recall"):
        raise ConfigurationError(f"threshold_rule {cfg['threshold_rule']!r}: use 'precision' "
                                 "or 'recall'")
    try:
        share = float(cfg["candidate_recall"])
    except (TypeError, ValueError):
        share = float("nan")
    if cfg["threshold_rule"] == "recall" and not 0.0 < share <= 1.0:
        raise ConfigurationError(f"candidate_recall {cfg['candidate_recall']!r}: give the share "
                                 "of the BHB spectra stage 1 passes to keep, in (0, 1]")


def train_two_stage(data, classes=CLASSES, architecture=None, prepare_config=None,
                    wavelength=None, input_config=None, training=None, augmentation=None,
                    augment=True, stage2_negatives=STAGE2_NEGATIVES, device=None,
                    provenance=None, log=print, deterministic=True, split_indices=None,
                    stage1_network=None):
    """Train the two-stage classifier end to end.

    Parameters
    ----------
    data : TrainingLibrary or tuple
        A `bhbfinder.simulate` training library (prepared here with ``prepare_config``, default
        the default `PrepareConfig`), or ``(flux, ivar, labels, star_ids)`` arrays already
        prepared (then pass ``prepare_config`` and ``wavelength`` so the model records them).
    classes : sequence of str
        Stage-1 classes; labels may be these names or their indices.
    architecture : dict or {"default", "published"}, optional
        Architecture config (``n_classes`` and ``in_channels`` are set here).
    input_config : dict, optional
        See `bhbfinder.classify.classifier.DEFAULT_INPUT_CONFIG`.
    training : dict, optional
        Overrides of `DEFAULT_TRAINING`.
    augmentation : dict, optional
        Overrides of `DEFAULT_AUGMENTATION`.
    stage2_negatives : sequence of str
        Classes stage 2 learns to reject.
    device : str, optional
        Default: CUDA when available.
    provenance : dict, optional
        Extra provenance (recipe, command line) stored in the model file.
    log : callable or None
    deterministic : bool
        ``torch.use_deterministic_algorithms`` during training.
    split_indices : (train, val, test) index arrays, optional
        Use this split instead of `split_by_star` (it must itself keep stars apart; used to
        compare models on one fixed split).
    stage1_network : torch.nn.Module, optional
        An already trained stage-1 network of this recipe (same data, split and seed): stage 1
        is not trained again, only stage 2 (e.g. to give stage 2 more epochs).

    Returns
    -------
    classifier : TwoStageClassifier
        With ``metrics`` (test split) and ``provenance`` filled in.
    info : dict
        ``split`` (train / val / test row indices), ``history`` of both stages, ``x`` / ``y``
        (encoded input and labels) for further evaluation.
    """
    classes = [str(c) for c in classes]
    cfg = dict(DEFAULT_TRAINING, **(training or {}))
    _check_threshold_settings(cfg)
    inp = dict(DEFAULT_INPUT_CONFIG, **(input_config or {}))
    log = log or (lambda *a: None)
    seed = int(cfg["seed"])
    torch.manual_seed(seed)
    np.random.seed(seed)
    prev_det = torch.are_deterministic_algorithms_enabled()
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        flux, ivar, mask, labels, stars, wave, pcfg, prov = _as_arrays(data, classes,
                                                                      prepare_config)
        if wavelength is not None:
            wave = np.asarray(wavelength, float)
        y = _label_indices(labels, classes)
        x = encode_input(flux, mask, ivar, inp)
        if split_indices is not None:
            tr, va, te = (np.asarray(i, np.int64) for i in split_indices)
        else:
            tr, va, te = split_by_star(stars, y, cfg["split"], seed)
        for name, part in (("train", tr), ("validation", va), ("test", te)):
            if len(part) == 0:
                raise ConfigurationError(f"the {name} split is empty: too few stars "
                                         f"({len(np.unique(stars))}); use more data")
        counts = np.bincount(y[tr], minlength=len(classes))
        log(f"rows {len(y)}, stars {len(np.unique(stars))}; train {len(tr)} val {len(va)} "
            f"test {len(te)}; train counts {dict(zip(classes, counts.tolist()))}")
        arch = architecture_config(architecture if architecture is not None else "default")
        arch["n_classes"] = len(classes)
        arch["in_channels"] = x.shape[1]
        common = dict(batch_size=int(cfg["batch_size"]), lr=cfg["lr"],
                      weight_decay=cfg["weight_decay"], label_smoothing=cfg["label_smoothing"],
                      augment=augment, augmentation=augmentation, seed=seed, device=device,
                      plateau_patience=cfg["plateau_patience"],
                      plateau_factor=cfg["plateau_factor"], log=log)
        # ---- stage 1
        torch.manual_seed(seed)
        if stage1_network is not None:
            net1 = stage1_network
            pred = _predict_logits(net1, x[va], pick_device(device)).argmax(axis=1)
            h1 = {"best_epoch": -1, "best_score": M.macro_f1(y[va], pred, len(classes)),
                  "history": [], "reused": True}
            log(f"stage 1: reusing the given network (val macro-F1 {h1['best_score']:.4f})")
        else:
            net1 = build_network(arch)
            log(f"stage 1: {arch['network']} widths {arch['widths']} "
                f"attention {arch['attention']}")
            h1 = train_network(net1, x[tr], y[tr], x[va], y[va], len(classes),
                               epochs=cfg["epochs_stage1"],
                               weights=class_weights(counts, cfg["class_weighting"]),
                               select="macro_f1", **common)
        # ---- stage 2: BHB vs hard negatives, from the stage-1 weights with a new head
        pos = classes.index(POSITIVE_CLASS)
        neg = [classes.index(c) for c in stage2_negatives if c in classes]
        sub_tr = tr[np.isin(y[tr], [pos] + neg)]
        sub_va = va[np.isin(y[va], [pos] + neg)]
        torch.manual_seed(seed + 1)
        net2 = copy.deepcopy(net1).replace_head(2)
        y2 = (y == pos).astype(np.int64)
        counts2 = np.bincount(y2[sub_tr], minlength=2)
        log(f"stage 2: BHB vs {list(stage2_negatives)}; train {len(sub_tr)} "
            f"(BHB {counts2[1]}), val {len(sub_va)}")
        dev = pick_device(device)
        sw = None
        if cfg["stage2_hard_weight"]:
            p1 = torch.softmax(torch.from_numpy(_predict_logits(net1, x[sub_tr], dev)), 1)
            p1 = p1.numpy()[:, pos]
            sw = np.where(y2[sub_tr] == 1, 1.0, 1.0 + cfg["stage2_hard_weight"] * p1)
        recall_target = None
        if cfg["stage2_select"] == "precision_at_recall":
            # end to end on all validation rows: stage-1 BHB (fixed) and p2 from the network
            s1_bhb_va = _predict_logits(net1, x[va], dev).argmax(axis=1) == pos
            score2, recall_target = stage2_selection_score(y[va] == pos, s1_bhb_va,
                                                           cfg["stage2_recall"])
            if recall_target < float(cfg["stage2_recall"]):
                log(f"stage 2: stage 1 passes {recall_target:.3f} of the validation BHB "
                    f"spectra, below the recall target {cfg['stage2_recall']}; selecting on "
                    "the precision at that recall")

            def precision_at_recall(logits):
                return score2(torch.softmax(torch.from_numpy(logits), 1).numpy()[:, 1])

            select2, x2_va, y2_va = precision_at_recall, x[va], y2[va]
        elif cfg["stage2_select"] == "bhb_f1":
            select2, x2_va, y2_va = "positive_f1", x[sub_va], y2[sub_va]
        else:
            raise ConfigurationError(f"stage2_select {cfg['stage2_select']!r}: use 'bhb_f1' or "
                                     "'precision_at_recall'")
        h2 = train_network(net2, x[sub_tr], y2[sub_tr], x2_va, y2_va, 2,
                           epochs=cfg["epochs_stage2"],
                           weights=class_weights(counts2, cfg["class_weighting"]),
                           select=select2, positive=1, sample_weights=sw, **common)
        clf = TwoStageClassifier(net1, net2, classes=classes, prepare_config=pcfg,
                                 input_config=inp, wavelength=wave).to(device)
        # ---- threshold on validation (end to end: stage-1 BHB and p2 >= t)
        res_va = _run_encoded(clf, x[va])
        score = np.where(res_va["stage1_index"] == pos, res_va["p_bhb_stage2"], -np.inf)
        if cfg["threshold_rule"] == "precision":
            thr, achieved = M.threshold_for_precision(y[va] == pos, score,
                                                      cfg["precision_target"])
        else:
            thr, achieved = M.threshold_for_recall(y[va] == pos, score, cfg["candidate_recall"])
        achieved = dict(achieved, rule=str(cfg["threshold_rule"]))
        clf.threshold = thr
        log(f"threshold {thr:.4f} on validation ({cfg['threshold_rule']} rule): precision "
            f"{achieved['precision']:.4f} recall {achieved['recall']:.4f}")
        # ---- test
        test = evaluate(clf, x[te], y[te], classes)
        val = evaluate(clf, x[va], y[va], classes)
        clf.metrics = {
            "test": test,
            "validation": {"stage1_macro_f1": val["stage1"]["macro_f1"],
                           "candidates": val["candidates"], "threshold_choice": achieved},
            "selection": {"stage1_best_epoch": h1["best_epoch"],
                          "stage1_val_macro_f1": h1["best_score"],
                          "stage2_best_epoch": h2["best_epoch"],
                          ("stage2_val_bhb_f1" if cfg["stage2_select"] == "bhb_f1" else
                           "stage2_val_precision_at_recall"): h2["best_score"],
                          **({} if recall_target is None else
                             {"stage2_recall_target": float(recall_target)})},
        }
        clf.provenance = dict(prov, **(provenance or {}))
        clf.provenance.update({
            "n_spectra": int(len(y)), "n_stars": int(len(np.unique(stars))),
            "class_counts": dict(zip(classes, np.bincount(y, minlength=len(classes)).tolist())),
            "split_sizes": {"train": int(len(tr)), "validation": int(len(va)),
                            "test": int(len(te))},
            "split": "by star, stratified by class",
            "training": cfg, "augment": bool(augment),
            "augmentation": dict(DEFAULT_AUGMENTATION, **(augmentation or {})),
            "stage2_negatives": list(stage2_negatives),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        })
        log(f"test: stage-1 accuracy {test['stage1']['accuracy']:.4f} macro-F1 "
            f"{test['stage1']['macro_f1']:.4f}; candidates precision "
            f"{test['candidates']['precision']:.4f} recall {test['candidates']['recall']:.4f}")
        info = {"split": {"train": tr, "validation": va, "test": te},
                "history": {"stage1": h1, "stage2": h2}, "x": x, "y": y}
        return clf, info
    finally:
        torch.use_deterministic_algorithms(prev_det)
