"""MSFA-Net: the multi-scale, frequency-attention 1-D CNN of Wang et al. (2026), and variants.

The network follows the published description (Wang, Kong, Ju, Bu & Liang, arXiv:2606.29918):

* stem: ``Conv1d(in → C0, k=31)``, BatchNorm, ReLU;
* three stages, each a residual multi-scale block (four parallel ``Conv1d`` branches of ``C/4``
  channels with kernels 1, 3, 5, 7, concatenated, 1×1 fuse, BatchNorm, ``ReLU(out + x)``)
  followed by ``MaxPool1d(2)``; a 1×1 convolution widens the channels between stages;
* "soft frequency attention" after the last block;
* a pyramid-pooling head over 1, 2 and 4 bins with mean, standard deviation and minimum per bin
  (so the input length is free), dropout 0.5 and a linear layer.

The attention is selectable (``attention=`` in the architecture config):

``"published"``
    `PublishedFrequencyAttention`: rFFT magnitudes pooled into 16 bands, descriptor
    ``band mean + 0.3·band min`` → MLP (reduction 8) → one sigmoid weight per *channel*; the
    magnitude is scaled by it, the phase kept, inverse rFFT, output ``x + α·x_freq``. As the
    inverse FFT is linear this equals ``x·(1 + α·w_c)``: a squeeze-and-excitation channel gate.
``"band"`` (default)
    `BandFrequencyAttention`: per-band soft weights predicted from the input's band-pooled
    spectrum, linearly interpolated to one weight per rFFT bin (optionally times a static
    learnable filter), so different frequencies really are weighed differently.
``"none"``
    identity.
"""

import copy

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..errors import ConfigurationError

__all__ = [
    "DEFAULT_ARCHITECTURE",
    "PUBLISHED_ARCHITECTURE",
    "ATTENTIONS",
    "architecture_config",
    "MultiScaleBlock",
    "PublishedFrequencyAttention",
    "BandFrequencyAttention",
    "PyramidPoolingHead",
    "MSFANet",
    "PlainCNN",
    "build_network",
    "count_parameters",
    "fft_length",
]

#: The network as the paper describes it (widths 64/128/256, per-channel "frequency" gate).
PUBLISHED_ARCHITECTURE = {
    "network": "msfanet",
    "in_channels": 1,
    "widths": [64, 128, 256],
    "stem_kernel": 31,
    "branch_kernels": [1, 3, 5, 7],
    "attention": "published",
    "n_bands": 16,
    "min_weight": 0.3,
    "reduction": 8,
    "alpha_init": 0.1,
    "static_filter": False,
    "pyramid_bins": [1, 2, 4],
    "dropout": 0.5,
    "n_classes": 6,
}

#: The package default: slim widths (about 6x the published throughput on CPU) and an attention
#: that really weighs frequency bands.
DEFAULT_ARCHITECTURE = dict(
    PUBLISHED_ARCHITECTURE,
    widths=[16, 32, 64],
    attention="band",
    static_filter=True,
)

#: The attention variants `MSFANet` accepts.
ATTENTIONS = ("band", "published", "none")


def architecture_config(base="default", **overrides):
    """A complete architecture config dict (what a model file stores).

    Parameters
    ----------
    base : {"default", "published"} or dict
        The starting point.
    **overrides
        Keys of `DEFAULT_ARCHITECTURE` to change.
    """
    if isinstance(base, dict):
        config = copy.deepcopy(dict(DEFAULT_ARCHITECTURE, **base))
    elif base == "default":
        config = copy.deepcopy(DEFAULT_ARCHITECTURE)
    elif base == "published":
        config = copy.deepcopy(PUBLISHED_ARCHITECTURE)
    else:
        raise ConfigurationError(f"architecture base {base!r}: use 'default', 'published' "
                                 "or a dict")
    unknown = set(overrides) - set(DEFAULT_ARCHITECTURE)
    if unknown:
        raise ConfigurationError(
            f"unknown architecture keys {sorted(unknown)}; known: {sorted(DEFAULT_ARCHITECTURE)}")
    config.update(copy.deepcopy(overrides))
    if config["attention"] not in ATTENTIONS:
        raise ConfigurationError(
            f"attention={config['attention']!r}; use one of {', '.join(ATTENTIONS)}")
    if any(int(w) % len(config["branch_kernels"]) for w in config["widths"]):
        raise ConfigurationError(
            f"widths {config['widths']} must be divisible by the number of branches "
            f"({len(config['branch_kernels'])})")
    return config


class MultiScaleBlock(nn.Module):
    """Residual multi-scale block: parallel convolutions of several kernel sizes.

    ``ReLU(BN(fuse(concat(branch_k(x) for k))) + x)``, each branch ``C/len(kernels)`` channels.
    """

    def __init__(self, channels, kernels=(1, 3, 5, 7)):
        super().__init__()
        branch = channels // len(kernels)
        self.branches = nn.ModuleList(
            nn.Conv1d(channels, branch, k, padding=k // 2, bias=False) for k in kernels)
        self.fuse = nn.Conv1d(branch * len(kernels), channels, 1, bias=False)
        self.bn = nn.BatchNorm1d(channels)

    def forward(self, x):
        out = torch.cat([b(x) for b in self.branches], dim=1)
        return F.relu(self.bn(self.fuse(out)) + x)


def fft_length(n):
    """The smallest ``2**a * m`` (m in 1, 3, 5) ≥ ``n``: a fast FFT length.

    The feature maps are zero-padded to it; pocketfft on lengths with large prime factors
    (e.g. 297 = 3³·11 after three poolings of the 1190-pixel grid) is several times slower.
    """
    best = None
    for m in (1, 3, 5):
        k = m
        while k < n:
            k *= 2
        best = k if best is None else min(best, k)
    return best


def _band_pool(mag, n_bands):
    """Mean and minimum of ``mag`` (..., F) over ``n_bands`` contiguous frequency bands."""
    nf = mag.shape[-1]
    bands = min(n_bands, nf)
    mean = F.adaptive_avg_pool1d(mag, bands)
    minimum = -F.adaptive_max_pool1d(-mag, bands)
    return mean, minimum


class PublishedFrequencyAttention(nn.Module):
    """The paper's "soft frequency attention": one sigmoid weight per channel.

    Parameters
    ----------
    channels : int
    n_bands : int
        Frequency bands the rFFT magnitudes are pooled into (16 in the paper).
    min_weight : float
        Weight of the band minimum in the descriptor (``mean + 0.3·min``).
    reduction : int
        MLP reduction factor.
    alpha_init : float
        Initial value of the learnable residual scale α.
    """

    def __init__(self, channels, n_bands=16, min_weight=0.3, reduction=8, alpha_init=0.1):
        super().__init__()
        self.n_bands = n_bands
        self.min_weight = min_weight
        hidden = max(channels // reduction, 1)
        self.mlp = nn.Sequential(
            nn.Linear(channels * n_bands, hidden), nn.ReLU(), nn.Linear(hidden, channels))
        self.alpha = nn.Parameter(torch.tensor(float(alpha_init)))

    def channel_weights(self, x, spec=None):
        """The per-channel gate ``w_c`` (batch, channels) in (0, 1)."""
        if spec is None:
            spec = torch.fft.rfft(x, n=fft_length(x.shape[-1]), dim=-1)
        mag = spec.abs()
        mean, minimum = _band_pool(mag, self.n_bands)
        desc = mean + self.min_weight * minimum
        if desc.shape[-1] < self.n_bands:  # very short inputs: pad the band axis
            desc = F.pad(desc, (0, self.n_bands - desc.shape[-1]))
        return torch.sigmoid(self.mlp(desc.flatten(1)))

    def forward(self, x):
        n = fft_length(x.shape[-1])
        spec = torch.fft.rfft(x, n=n, dim=-1)
        w = self.channel_weights(x, spec)[:, :, None]
        x_freq = torch.fft.irfft(torch.polar(spec.abs() * w, spec.angle()), n=n, dim=-1)
        return x + self.alpha * x_freq[..., :x.shape[-1]]


class BandFrequencyAttention(nn.Module):
    """Attention over frequency bands: per-band weights predicted from the input.

    The rFFT magnitudes of the feature map are pooled into ``n_bands`` bands (descriptor
    ``band mean + min_weight·band min`` per channel, log-compressed); a small MLP maps the
    descriptor to one weight in (0, 2) per band (initialised at 1), which is interpolated linearly
    to one weight per rFFT bin and, with ``static_filter``, multiplied by a learnable per-band
    filter ``exp(s_b)`` shared by all inputs. The weighted spectrum goes back through the inverse
    rFFT; output ``x + α·x_freq``. Unlike `PublishedFrequencyAttention` this is not a channel
    gate: a weight profile that varies along the bands changes the shape of each channel.
    """

    def __init__(self, channels, n_bands=16, min_weight=0.3, reduction=8, alpha_init=0.1,
                 static_filter=True):
        super().__init__()
        self.n_bands = n_bands
        self.min_weight = min_weight
        hidden = max(n_bands * 2, channels // reduction)
        self.mlp = nn.Sequential(
            nn.Linear(channels * n_bands, hidden), nn.ReLU(), nn.Linear(hidden, n_bands))
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)
        self.log_filter = nn.Parameter(torch.zeros(n_bands)) if static_filter else None
        self.alpha = nn.Parameter(torch.tensor(float(alpha_init)))

    def band_weights(self, x, spec=None):
        """Per-band weights (batch, n_bands), including the static filter."""
        if spec is None:
            spec = torch.fft.rfft(x, n=fft_length(x.shape[-1]), dim=-1)
        mag = spec.abs()
        mean, minimum = _band_pool(mag, self.n_bands)
        desc = torch.log1p(mean + self.min_weight * minimum)
        if desc.shape[-1] < self.n_bands:
            desc = F.pad(desc, (0, self.n_bands - desc.shape[-1]))
        w = 2.0 * torch.sigmoid(self.mlp(desc.flatten(1)))
        if self.log_filter is not None:
            w = w * torch.exp(self.log_filter)[None, :]
        return w

    def bin_weights(self, x, spec=None):
        """Per-rFFT-bin weights (batch, 1, n_freq) of the zero-padded transform."""
        if spec is None:
            spec = torch.fft.rfft(x, n=fft_length(x.shape[-1]), dim=-1)
        w = self.band_weights(x, spec)[:, None, :]
        return F.interpolate(w, size=spec.shape[-1], mode="linear", align_corners=True)

    def forward(self, x):
        n = fft_length(x.shape[-1])
        spec = torch.fft.rfft(x, n=n, dim=-1)
        x_freq = torch.fft.irfft(spec * self.bin_weights(x, spec), n=n, dim=-1)
        return x + self.alpha * x_freq[..., :x.shape[-1]]


class PyramidPoolingHead(nn.Module):
    """Pyramid pooling over ``bins`` (mean, std, min per bin), dropout and a linear layer.

    The pooled feature vector has ``channels · sum(bins) · 3`` entries whatever the input length.
    """

    def __init__(self, channels, n_classes, bins=(1, 2, 4), dropout=0.5):
        super().__init__()
        self.bins = tuple(int(b) for b in bins)
        self.n_features = channels * sum(self.bins) * 3
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(self.n_features, n_classes)

    def features(self, x):
        feats = []
        for b in self.bins:
            mean = F.adaptive_avg_pool1d(x, b)
            sq = F.adaptive_avg_pool1d(x * x, b)
            std = torch.sqrt(torch.clamp(sq - mean * mean, min=0.0) + 1e-6)
            minimum = -F.adaptive_max_pool1d(-x, b)
            feats.extend([mean.flatten(1), std.flatten(1), minimum.flatten(1)])
        return torch.cat(feats, dim=1)

    def forward(self, x):
        return self.fc(self.dropout(self.features(x)))


class MSFANet(nn.Module):
    """MSFA-Net built from an architecture config (see `architecture_config`).

    Parameters
    ----------
    config : dict, optional
        Architecture config; default `DEFAULT_ARCHITECTURE`.

    Input ``(batch, in_channels, npix)`` of any length ≥ 8; output logits ``(batch, n_classes)``.
    """

    def __init__(self, config=None):
        super().__init__()
        self.config = architecture_config(config if config is not None else "default")
        c = self.config
        widths = [int(w) for w in c["widths"]]
        self.stem = nn.Sequential(
            nn.Conv1d(c["in_channels"], widths[0], c["stem_kernel"], padding=c["stem_kernel"] // 2,
                      bias=False),
            nn.BatchNorm1d(widths[0]), nn.ReLU())
        stages = []
        prev = widths[0]
        for w in widths:
            layers = []
            if w != prev:
                layers.append(nn.Conv1d(prev, w, 1, bias=False))
            layers += [MultiScaleBlock(w, c["branch_kernels"]), nn.MaxPool1d(2)]
            stages.append(nn.Sequential(*layers))
            prev = w
        self.stages = nn.ModuleList(stages)
        kw = dict(n_bands=c["n_bands"], min_weight=c["min_weight"], reduction=c["reduction"],
                  alpha_init=c["alpha_init"])
        if c["attention"] == "published":
            self.attention = PublishedFrequencyAttention(prev, **kw)
        elif c["attention"] == "band":
            self.attention = BandFrequencyAttention(prev, static_filter=c["static_filter"], **kw)
        else:
            self.attention = nn.Identity()
        self.head = PyramidPoolingHead(prev, c["n_classes"], c["pyramid_bins"], c["dropout"])

    def embed(self, x):
        """The feature map after the attention block, (batch, C_last, npix / 8)."""
        x = self.stem(x)
        # the published placement: attention after the last multi-scale block, before its pool
        for i, stage in enumerate(self.stages):
            if i == len(self.stages) - 1:
                for layer in stage[:-1]:
                    x = layer(x)
                x = stage[-1](self.attention(x))
            else:
                x = stage(x)
        return x

    def forward(self, x):
        return self.head(self.embed(x))

    def replace_head(self, n_classes):
        """Swap the linear layer for a fresh ``n_classes``-way one (stage 2 from stage 1)."""
        self.config["n_classes"] = int(n_classes)
        self.head.fc = nn.Linear(self.head.n_features, int(n_classes))
        return self


class PlainCNN(nn.Module):
    """A plain 1-D CNN baseline (conv–BN–ReLU–pool ×3, global average pool, linear).

    Built from the same architecture config keys ``in_channels``, ``widths``, ``stem_kernel``,
    ``dropout`` and ``n_classes``; used by the comparison benchmark.
    """

    def __init__(self, config=None):
        super().__init__()
        self.config = architecture_config(config if config is not None else "default")
        self.config["network"] = "plaincnn"
        c = self.config
        layers = []
        prev = c["in_channels"]
        for i, w in enumerate(c["widths"]):
            k = c["stem_kernel"] if i == 0 else 7
            layers += [nn.Conv1d(prev, w, k, padding=k // 2, bias=False), nn.BatchNorm1d(w),
                       nn.ReLU(), nn.MaxPool1d(2)]
            prev = w
        self.body = nn.Sequential(*layers)
        self.dropout = nn.Dropout(c["dropout"])
        self.fc = nn.Linear(prev, c["n_classes"])

    def forward(self, x):
        x = self.body(x).mean(dim=-1)
        return self.fc(self.dropout(x))

    def replace_head(self, n_classes):
        self.config["n_classes"] = int(n_classes)
        self.fc = nn.Linear(self.fc.in_features, int(n_classes))
        return self


def build_network(config):
    """The network a config describes (``config["network"]``: ``msfanet`` or ``plaincnn``)."""
    network = (config or {}).get("network", "msfanet")
    if network == "plaincnn":
        return PlainCNN(config)
    if network == "msfanet":
        return MSFANet(config)
    raise ConfigurationError(f"unknown network {network!r}; use 'msfanet' or 'plaincnn'")


def count_parameters(module):
    """Number of trainable parameters."""
    return int(sum(np.prod(p.shape) for p in module.parameters() if p.requires_grad))
