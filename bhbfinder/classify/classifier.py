"""The two-stage classifier: stage-1 network, stage-2 network, and everything needed to use them.

`TwoStageClassifier` holds both networks with the class list, the network-input encoding, the
preprocessing configuration the model was trained on, the decision threshold, metrics and
provenance. It is what `~bhbfinder.classify.modelfile.load_model` returns and what the
``classify`` stage runs.

Decision rule (documented default)
    A spectrum is a BHB candidate when stage 1's most probable class is ``BHB`` **and**
    ``p_bhb_stage2 ≥ threshold``. Stage 2 therefore runs only where it can change the decision,
    on the rows stage 1 calls ``BHB`` (``stage2_rows="bhb"``; elsewhere ``p_bhb_stage2`` is NaN),
    which in a survey, where BHB stars are rare, halves the cost of classification;
    ``stage2_rows="all"`` scores every row. The threshold is chosen on the validation split for the
    precision target and stored in the model file. Spectra of the ``other`` class (F/G/K stars,
    galaxies, QSOs, junk) can therefore never become candidates unless stage 1 calls them BHB.
"""

import copy
from types import SimpleNamespace

import numpy as np
import torch
from astropy.table import MaskedColumn, Table

from ..errors import ConfigurationError
from ..simulate.classes import CLASSES
from ..spectra.prepare import check_prepared
from .msfanet import architecture_config, build_network

__all__ = [
    "CLASSES",
    "POSITIVE_CLASS",
    "STAGE2_CLASSES",
    "DEFAULT_INPUT_CONFIG",
    "encode_input",
    "pick_device",
    "INFERENCE_BATCH",
    "inference_batch_size",
    "TwoStageClassifier",
    "classify_batch",
]

# CLASSES (bhbfinder.simulate.classes): stage-1 classes of the default model, the paper's five
# plus "other" (F/G/K, galaxies, QSOs, junk) so that no such spectrum is forced into one of the
# hot-star classes.

#: The class stage 2 confirms.
POSITIVE_CLASS = "BHB"

#: Stage-2 output classes (index 1 is the positive class).
STAGE2_CLASSES = ("not_BHB", "BHB")
#: Choices of where stage 2 runs (see `TwoStageClassifier.predict_arrays`).
STAGE2_ROWS = ("bhb", "all")

#: How prepared arrays become the network input (stored in the model file).
#: ``mask_fill``: value of masked / non-finite pixels (1 = the continuum of normalised flux);
#: ``clip``: flux range kept (cosmic rays and junk cannot dominate the features);
#: ``ivar_channel``: add a second channel ``tanh(sqrt(ivar) / snr_scale)`` (0 where masked).
DEFAULT_INPUT_CONFIG = {"mask_fill": 1.0, "clip": [-0.5, 3.0], "ivar_channel": False,
                        "snr_scale": 20.0}


def encode_input(flux, mask=None, ivar=None, config=None):
    """The network input ``(n, channels, npix)`` float32 from prepared arrays.

    Parameters
    ----------
    flux : array (n, npix)
        Continuum-normalised flux.
    mask : array of bool (n, npix), optional
        True where bad.
    ivar : array (n, npix), optional
        Needed only with ``ivar_channel``.
    config : dict, optional
        See `DEFAULT_INPUT_CONFIG`.
    """
    cfg = dict(DEFAULT_INPUT_CONFIG, **(config or {}))
    flux = np.asarray(flux, dtype=np.float32)
    if flux.ndim == 1:
        flux = flux[None, :]
    bad = ~np.isfinite(flux)
    if mask is not None:
        bad |= np.asarray(mask, bool).reshape(flux.shape)
    x = np.where(bad, np.float32(cfg["mask_fill"]), flux)
    x = np.clip(x, cfg["clip"][0], cfg["clip"][1]).astype(np.float32)
    channels = [x]
    if cfg["ivar_channel"]:
        if ivar is None:
            raise ConfigurationError("this model needs ivar (ivar_channel=True); pass ivar=")
        iv = np.asarray(ivar, dtype=np.float32).reshape(flux.shape)
        iv = np.where(bad | ~np.isfinite(iv) | (iv < 0), 0.0, iv)
        channels.append(np.tanh(np.sqrt(iv) / cfg["snr_scale"]).astype(np.float32))
    return np.stack(channels, axis=1)


def pick_device(device=None):
    """``torch.device``: the one asked for, else CUDA when available, else CPU."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


#: Spectra per forward pass when none is given: small batches stay in the CPU caches (32 ran
#: ~1.6x faster than 256 per core on the 2-core development CPU); GPUs want large ones.
INFERENCE_BATCH = {"cpu": 32, "cuda": 512}


def check_stage2_rows(stage2_rows):
    """Raise `ConfigurationError` unless ``stage2_rows`` is one of `STAGE2_ROWS`."""
    if stage2_rows not in STAGE2_ROWS:
        raise ConfigurationError(f"stage2_rows must be one of {STAGE2_ROWS}, "
                                 f"got {stage2_rows!r}")
    return stage2_rows


def inference_batch_size(device, batch_size=None):
    """``batch_size``, or the default for ``device``'s type (`INFERENCE_BATCH`)."""
    if batch_size is not None:
        if int(batch_size) < 1:
            raise ConfigurationError(f"batch_size must be >= 1, got {batch_size!r}")
        return int(batch_size)
    return INFERENCE_BATCH.get(torch.device(device).type, INFERENCE_BATCH["cuda"])


def _softmax_batches(net, x, device, batch_size):
    net.eval()
    out = []
    batch_size = inference_batch_size(device, batch_size)
    with torch.inference_mode():
        for start in range(0, len(x), batch_size):
            xb = torch.from_numpy(np.ascontiguousarray(x[start:start + batch_size])).to(device)
            out.append(torch.softmax(net(xb).float(), dim=1).cpu().numpy())
    if not out:
        return np.zeros((0, net.config["n_classes"]), np.float32)
    return np.concatenate(out).astype(np.float64)


class TwoStageClassifier:
    """Stage-1 multi-class network + stage-2 binary BHB network, with their metadata.

    Parameters
    ----------
    stage1 : torch.nn.Module
        Network with ``len(classes)`` outputs and a ``config`` dict.
    stage2 : torch.nn.Module or None
        Binary network (outputs ordered as `STAGE2_CLASSES`); ``None`` uses stage 1 alone.
    classes : sequence of str
        Stage-1 class names; must contain `POSITIVE_CLASS`.
    prepare_config : dict or None
        ``PrepareConfig.to_dict()`` of the preprocessing the model was trained with.
    input_config : dict, optional
        See `DEFAULT_INPUT_CONFIG`.
    threshold : float
        Stage-2 probability threshold for ``is_bhb_candidate``.
    wavelength : array, optional
        The model grid (rest-frame vacuum Å) the model was trained on.
    metrics, provenance : dict, optional
        Stored with the model.
    """

    def __init__(self, stage1, stage2=None, classes=CLASSES, prepare_config=None,
                 input_config=None, threshold=0.5, wavelength=None, metrics=None,
                 provenance=None):
        self.classes = [str(c) for c in classes]
        if POSITIVE_CLASS not in self.classes:
            raise ConfigurationError(f"classes {self.classes} must include {POSITIVE_CLASS!r}")
        self.stage1 = stage1
        self.stage2 = stage2
        self.prepare_config = copy.deepcopy(prepare_config)
        self.input_config = dict(DEFAULT_INPUT_CONFIG, **(input_config or {}))
        self.threshold = float(threshold)
        self.wavelength = None if wavelength is None else np.asarray(wavelength, float)
        self.metrics = metrics or {}
        self.provenance = provenance or {}
        self.device = torch.device("cpu")

    @property
    def positive_index(self):
        return self.classes.index(POSITIVE_CLASS)

    def to(self, device=None):
        """Move both networks to ``device`` (default: CUDA if available, else CPU)."""
        self.device = pick_device(device)
        self.stage1.to(self.device)
        if self.stage2 is not None:
            self.stage2.to(self.device)
        return self

    # ---------------------------------------------------------------- preprocessing contract
    def check_compatible(self, config=None, wavelength=None):
        """Raise `PreprocessingMismatchError` if data were prepared unlike the training data.

        Parameters
        ----------
        config : PrepareConfig, dict or None
            The batch's preprocessing configuration.
        wavelength : array, optional
            The batch's model grid.
        """
        if self.prepare_config is None and self.wavelength is None:
            return
        check_prepared(SimpleNamespace(config=config, wavelength=wavelength),
                       self.prepare_config, self.wavelength, what="the classifier")

    # --------------------------------------------------------------------------- inference
    def predict_arrays(self, flux, mask=None, ivar=None, batch_size=None, device=None,
                       stage2_rows="bhb"):
        """Run both stages on prepared arrays.

        Parameters
        ----------
        flux, mask, ivar : arrays (n, npix)
            Prepared (continuum-normalised) spectra on the model grid.
        batch_size : int, optional
            Spectra per forward pass (default 32 on CPUs, 512 on GPUs).
        device : str or torch.device, optional
            Default: the classifier's current device.
        stage2_rows : {"bhb", "all"}
            Run stage 2 on the rows stage 1 calls BHB (the only rows where it changes the
            decision; ``p_bhb_stage2`` is NaN elsewhere), or on every row.

        Returns
        -------
        dict of ndarray
            ``stage1_index`` (n,), ``stage1_probabilities`` (n, n_classes), ``p_bhb_stage1``,
            ``p_bhb_stage2``, ``is_bhb_candidate``.
        """
        check_stage2_rows(stage2_rows)
        if device is not None:
            self.to(device)
        x = encode_input(flux, mask, ivar, self.input_config)
        p1 = _softmax_batches(self.stage1, x, self.device, batch_size)
        idx1 = p1.argmax(axis=1) if len(p1) else np.zeros(0, int)
        pb1 = p1[:, self.positive_index] if len(p1) else np.zeros(0)
        called_bhb = idx1 == self.positive_index
        if self.stage2 is None:
            pb2 = pb1.copy()
        elif stage2_rows == "all":
            pb2 = _softmax_batches(self.stage2, x, self.device, batch_size)[:, 1]
        else:
            pb2 = np.full(len(x), np.nan)
            if called_bhb.any():
                pb2[called_bhb] = _softmax_batches(self.stage2, x[called_bhb], self.device,
                                                   batch_size)[:, 1]
        cand = called_bhb & (np.nan_to_num(pb2, nan=-1.0) >= self.threshold)
        return {"stage1_index": idx1, "stage1_probabilities": p1, "p_bhb_stage1": pb1,
                "p_bhb_stage2": pb2, "is_bhb_candidate": cand}

    def predict(self, batch, batch_size=None, device=None):
        """Classify a `~bhbfinder.batch.PreparedBatch`; see `bhbfinder.stages.classify`."""
        return classify_batch(self, batch, batch_size=batch_size, device=device)

    def __repr__(self):
        arch = self.stage1.config
        return (f"<TwoStageClassifier {arch.get('network')} widths={arch.get('widths')} "
                f"attention={arch.get('attention')} classes={self.classes} "
                f"threshold={self.threshold:.3f}>")

    @classmethod
    def untrained(cls, architecture=None, classes=CLASSES, **kwargs):
        """A classifier with freshly initialised networks (for tests and the docs)."""
        arch = dict(architecture or {}, n_classes=len(classes))
        arch = architecture_config(arch)
        inp = dict(DEFAULT_INPUT_CONFIG, **kwargs.pop("input_config", {}) or {})
        arch["in_channels"] = 2 if inp["ivar_channel"] else 1
        s1 = build_network(arch)
        s2 = build_network(dict(arch, n_classes=2))
        return cls(s1, s2, classes=classes, input_config=inp, **kwargs)


def classify_batch(classifier, batch, batch_size=None, device=None, stage2_rows="bhb"):
    """Run ``classifier`` on the good rows of ``batch``; the output Table described above.

    Raises
    ------
    PreprocessingMismatchError
        When ``batch`` was prepared unlike the model's training data.
    """
    classifier.check_compatible(batch.config, batch.wavelength)
    n = len(batch)
    ok = np.asarray(batch.meta["status"]) == "ok" if n else np.zeros(0, bool)
    ncls = len(classifier.classes)
    idx = np.nonzero(ok)[0]
    res = classifier.predict_arrays(batch.flux[idx], batch.mask[idx], batch.ivar[idx],
                                    batch_size=batch_size, device=device,
                                    stage2_rows=stage2_rows)
    names = np.full(n, "", dtype=f"U{max(len(c) for c in classifier.classes)}")
    names[idx] = np.asarray(classifier.classes)[res["stage1_index"]]
    probs = np.full((n, ncls), np.nan)
    probs[idx] = res["stage1_probabilities"]
    pb1 = np.full(n, np.nan)
    pb1[idx] = res["p_bhb_stage1"]
    pb2 = np.full(n, np.nan)
    pb2[idx] = res["p_bhb_stage2"]
    cand = np.zeros(n, bool)
    cand[idx] = res["is_bhb_candidate"]
    bad = ~ok
    table = Table()
    table["stage1_class"] = MaskedColumn(names, mask=bad,
                                         description="most probable stage-1 class")
    table["stage1_prob"] = MaskedColumn(probs, mask=np.repeat(bad[:, None], ncls, axis=1),
                                        description="stage-1 class probabilities "
                                                    "(order: meta['classes'])")
    table["p_bhb_stage1"] = MaskedColumn(pb1, mask=bad, description="P(BHB) from stage 1")
    table["p_bhb_stage2"] = MaskedColumn(pb2, mask=bad | np.isnan(pb2),
                                         description="P(BHB) from the stage-2 binary network")
    table["is_bhb_candidate"] = MaskedColumn(
        cand, mask=bad, description="stage-1 class BHB and p_bhb_stage2 >= threshold")
    table.meta["classes"] = list(classifier.classes)
    table.meta["bhb_threshold"] = classifier.threshold
    return table
