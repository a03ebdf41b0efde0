"""Classification metrics: per-class precision / recall / F1, confusion matrix, PR curve.

Plain numpy (no scikit-learn at run time), returning plain Python types so the results can be
written straight into an ASDF model file.
"""

import numpy as np

__all__ = [
    "confusion_matrix",
    "classification_report",
    "macro_f1",
    "binary_scores",
    "precision_recall_curve",
    "threshold_for_precision",
    "threshold_for_recall",
    "precision_at_recall",
]


def confusion_matrix(y_true, y_pred, n_classes):
    """Counts ``C[i, j]`` of true class ``i`` predicted as ``j`` (int64, n_classes × n_classes)."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes**2).reshape(
        n_classes, n_classes)


def _prf(cm):
    tp = np.diag(cm).astype(float)
    pred = cm.sum(axis=0).astype(float)
    true = cm.sum(axis=1).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(pred > 0, tp / pred, 0.0)
        recall = np.where(true > 0, tp / true, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return precision, recall, f1, true


def classification_report(y_true, y_pred, classes):
    """Per-class precision, recall, F1 and support, accuracy, macro-F1 and the confusion matrix.

    Parameters
    ----------
    y_true, y_pred : array of int
        Class indices.
    classes : sequence of str

    Returns
    -------
    dict
        ``{"classes", "precision", "recall", "f1", "support", "accuracy", "macro_f1",
        "confusion_matrix"}`` (lists and floats; rows of the matrix are true classes).
    """
    classes = [str(c) for c in classes]
    cm = confusion_matrix(y_true, y_pred, len(classes))
    precision, recall, f1, support = _prf(cm)
    present = support > 0
    return {
        "classes": classes,
        "precision": [float(v) for v in precision],
        "recall": [float(v) for v in recall],
        "f1": [float(v) for v in f1],
        "support": [int(v) for v in support],
        "accuracy": float(np.trace(cm) / max(cm.sum(), 1)),
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "confusion_matrix": cm.tolist(),
    }


def macro_f1(y_true, y_pred, n_classes):
    """Mean F1 over the classes present in ``y_true``."""
    cm = confusion_matrix(y_true, y_pred, n_classes)
    _, _, f1, support = _prf(cm)
    present = support > 0
    return float(f1[present].mean()) if present.any() else 0.0


def binary_scores(is_true, is_pred):
    """Precision, recall, F1 and the 2×2 counts of a binary decision.

    Returns
    -------
    dict
        ``precision``, ``recall``, ``f1``, ``tp``, ``fp``, ``fn``, ``tn``.
    """
    t = np.asarray(is_true, bool)
    p = np.asarray(is_pred, bool)
    tp, fp = int(np.sum(t & p)), int(np.sum(~t & p))
    fn, tn = int(np.sum(t & ~p)), int(np.sum(~t & ~p))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1,
            "tp": tp, "fp": fp, "fn": fn, "tn": tn}


def precision_recall_curve(is_true, score, max_points=200):
    """Precision and recall of ``score ≥ t`` for every distinct threshold ``t``.

    Parameters
    ----------
    is_true : array of bool
    score : array of float
        Higher = more likely positive. Rows with a non-finite score count as negative calls.
    max_points : int
        Thin the curve to at most this many points (thresholds evenly spaced in rank).

    Returns
    -------
    dict
        ``threshold``, ``precision``, ``recall`` (lists, thresholds decreasing).
    """
    t = np.asarray(is_true, bool)
    s = np.where(np.isfinite(score), np.asarray(score, float), -np.inf)
    order = np.argsort(-s, kind="stable")
    s_sorted, t_sorted = s[order], t[order]
    tp = np.cumsum(t_sorted)
    fp = np.cumsum(~t_sorted)
    # keep the last index of each run of equal scores (the threshold includes all ties)
    last = (np.r_[np.nonzero(s_sorted[1:] != s_sorted[:-1])[0], len(s_sorted) - 1] if len(s)
            else np.array([], int))
    last = last[np.isfinite(s_sorted[last])] if len(last) else last
    n_pos = max(int(t.sum()), 1)
    precision = tp[last] / (tp[last] + fp[last])
    recall = tp[last] / n_pos
    thresholds = s_sorted[last]
    if len(last) > max_points:
        keep = np.unique(np.linspace(0, len(last) - 1, max_points).round().astype(int))
        precision, recall, thresholds = precision[keep], recall[keep], thresholds[keep]
    return {"threshold": [float(v) for v in thresholds],
            "precision": [float(v) for v in precision],
            "recall": [float(v) for v in recall]}


def threshold_for_precision(is_true, score, target=0.98, default=0.5):
    """The lowest threshold whose calls ``score ≥ t`` reach ``target`` precision.

    The lowest such threshold maximises recall. When no threshold reaches the target, the one
    with the highest precision is returned (ties: the lower threshold).

    Returns
    -------
    threshold : float
    achieved : dict
        ``precision`` and ``recall`` at that threshold on the given data.
    """
    curve = precision_recall_curve(is_true, score, max_points=10**9)
    if not curve["threshold"]:
        return float(default), {"precision": 0.0, "recall": 0.0}
    thr = np.array(curve["threshold"])
    prec = np.array(curve["precision"])
    rec = np.array(curve["recall"])
    ok = prec >= target
    if ok.any():
        i = np.nonzero(ok)[0][np.argmax(rec[ok])]
    else:
        i = int(np.argmax(prec))
    return float(thr[i]), {"precision": float(prec[i]), "recall": float(rec[i])}


def threshold_for_recall(is_true, score, recall=0.9, default=0.5):
    """The highest threshold whose calls ``score ≥ t`` keep ``recall`` of the true rows.

    Only true rows with a finite score count: the share is of the true rows a score can call
    at all (e.g. those stage 1 passes to stage 2), so the target can always be reached.

    Returns
    -------
    threshold : float
    achieved : dict
        ``precision`` and ``recall`` (of all true rows) at that threshold on the given data.
    """
    t = np.asarray(is_true, bool)
    s = np.where(np.isfinite(score), np.asarray(score, float), -np.inf)
    callable_true = np.sort(s[t & np.isfinite(s)])[::-1]
    if not len(callable_true):
        return float(default), {"precision": 0.0, "recall": 0.0}
    keep = max(int(np.ceil(float(recall) * len(callable_true) - 1e-9)), 1)
    thr = float(callable_true[keep - 1])
    called = s >= thr
    return thr, {"precision": float((called & t).sum() / called.sum()),
                 "recall": float((called & t).sum() / t.sum())}


def precision_at_recall(is_true, score, recall=0.9):
    """The best precision of ``score ≥ t`` over the thresholds ``t`` reaching ``recall``.

    Rows with a non-finite score count as negative calls; NaN when no threshold reaches
    ``recall``.
    """
    curve = precision_recall_curve(is_true, score, max_points=10**9)
    prec = np.array(curve["precision"])
    rec = np.array(curve["recall"])
    ok = rec >= recall
    return float(prec[ok].max()) if ok.any() else float("nan")
