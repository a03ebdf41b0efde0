"""The class labels of the training library and the rule that assigns them to real stars.

`CLASSES` is the single list every other module (classifier, library, truth tables) imports.
The first five are the stage-1 classes of MSFA-Net (Wang et al. 2026); ``"other"`` collects the
negatives added for robustness: cooler F/G/K/M stars, supergiants and post-AGB stars, galaxies,
quasars and junk.
"""

import re

import numpy as np

from ..errors import ConfigurationError

__all__ = [
    "CLASSES",
    "STAGE1_CLASSES",
    "CLASS_DESCRIPTIONS",
    "class_index",
    "culpan_kiel_box",
    "classify_star",
    "CLASSIFY_DEFAULTS",
]

#: Every label the simulator and training library use, in a fixed order (the label index).
CLASSES = ("BHB", "A", "B", "HotSD", "WD", "other")

#: The five classes of the published stage-1 classifier.
STAGE1_CLASSES = CLASSES[:5]

#: One line per class.
CLASS_DESCRIPTIONS = {
    "BHB": "blue horizontal-branch star (Teff 7000-20000 K, log g ~2.5-4, metal-poor)",
    "A": "A-type star: main-sequence A dwarfs, blue stragglers, Am/Ap, lambda Boo, A giants",
    "B": "B-type (and O-type) star of normal gravity",
    "HotSD": "hot subdwarf (sdB/sdO, Teff 20000-40000 K, log g 5-6.5)",
    "WD": "white dwarf (mostly DA: very broad Balmer lines, log g ~8)",
    "other": "negatives: F/G/K/M stars, supergiants / post-AGB, red HB, galaxies, QSOs, junk",
}

#: Named thresholds of `classify_star` (all overridable by keyword).
CLASSIFY_DEFAULTS = {
    # BHB: Teff 7000-12000 K (Xue et al. 2008; Culpan et al. 2024); hotter HB stars up to the
    # hot-subdwarf regime
    # (the "blue tail") are still horizontal-branch stars, labelled BHB
    "bhb_teff_min": 7000.0,
    "hotsd_teff_min": 20000.0,
    # BHB stars are metal-poor ([Fe/H] mostly < -1); metal-rich stars in the Kiel box are
    # evolved A/B stars. -0.9 reproduces the data README's count of 7 box BHB stars in MILES.
    "bhb_feh_max": -0.9,
    # tolerance below the Culpan box's lower edge (dex); 0 = the box as published
    "box_margin": 0.0,
    "wd_logg_min": 7.0,
    "hotsd_logg_min": 5.0,
    # below this, A/B-temperature stars that are not HB stars are supergiants / post-AGB stars
    "supergiant_logg_max": 2.0,
    "supergiant_teff_max": 12000.0,
    # without a spectral type: the B/A and A/F boundaries in Teff
    "b_teff_min": 10500.0,
    "a_teff_min": 7300.0,
}


def class_index(label):
    """Index of ``label`` (a str or array of str) in `CLASSES`."""
    lookup = {name: i for i, name in enumerate(CLASSES)}
    if isinstance(label, str):
        return lookup[label]
    return np.array([lookup[str(x)] for x in label], dtype=np.int64)


def culpan_kiel_limits(teff, log=False):
    """Lower and upper log g of the BHB box of Culpan et al. (2024) at ``teff``.

    ``4.0150 log Teff - 12.742 < log g < 4.4157 log Teff - 13.720`` (Culpan et al. 2024);
    ``log=True`` when ``teff`` is already log10 Teff.
    """
    lt = np.asarray(teff, dtype=float) if log else np.log10(np.asarray(teff, dtype=float))
    return 4.0150 * lt - 12.742, 4.4157 * lt - 13.720


def culpan_kiel_box(teff, logg, margin=0.0):
    """Whether (Teff, log g) lies in the BHB box of Culpan et al. (2024).

    The lower limit of `culpan_kiel_limits` is lowered by ``margin``.
    """
    lo, hi = culpan_kiel_limits(teff)
    g = np.asarray(logg, dtype=float)
    return (g > lo - margin) & (g < hi)


def _sptype_parts(sptype):
    s = (sptype or "").strip()
    upper = s.upper()
    is_hb = bool(re.search(r"(^|[^A-Z])HB([^A-Z]|$)", upper))
    is_wd = bool(re.match(r"^(D[ABOQZC]|WD)", upper))
    is_hotsd = bool(re.match(r"^SD[OB]", upper))
    is_subdwarf = upper.startswith("SD")
    letter = None
    body = re.sub(r"^sd:?", "", s)
    m = re.search(r"([OBAFGKM])\s*[0-9]", body) or re.match(r"\s*([OBAFGKM])(?:[mpn]|$|\s)", body)
    if m:
        letter = m.group(1)
    supergiant = False
    if letter and not is_hb:
        tail = s[s.find(letter) + 1:]
        supergiant = bool(re.search(r"(?<![IV])(Ia|Iab|Ib|I|II)(?![IV])", tail))
    return {"hb": is_hb, "wd": is_wd, "hotsd": is_hotsd, "subdwarf": is_subdwarf,
            "letter": letter, "supergiant": supergiant}


def classify_star(teff, logg, feh=None, sptype=None, **thresholds):
    """The library class (one of `CLASSES`) of a star from its parameters and spectral type.

    The rule, in order (thresholds in `CLASSIFY_DEFAULTS`; the BHB box of Culpan et al.
    2024, the BHB metallicities of Xue et al. 2008, and the notes of the data README):

    1. ``log g >= wd_logg_min`` (or a ``D*``/``WD`` type) → ``"WD"``.
    2. ``Teff >= hotsd_teff_min`` and ``log g >= hotsd_logg_min`` (or an ``sdO``/``sdB``
       type) → ``"HotSD"``.
    3. A horizontal-branch spectral type (``"HB"`` in it, e.g. ``"A2 (HB)"``) → ``"BHB"`` for
       ``bhb_teff_min <= Teff < hotsd_teff_min``, ``"HotSD"`` above (extreme HB), ``"other"``
       below (red HB). HB types win over the catalogue log g, which for some HB stars falls
       below the Kiel box (HD 2857, log g 2.6).
    4. In the Culpan et al. (2024) Kiel box, ``Teff >= bhb_teff_min`` and
       ``[Fe/H] < bhb_feh_max`` → ``"BHB"``. Metal-rich box stars are evolved A/B stars and fall
       through to the rules below; so do box stars of unknown [Fe/H].
    5. Supergiants and post-AGB stars: a luminosity class I/II type, or
       ``log g < supergiant_logg_max``, with ``Teff < supergiant_teff_max`` → ``"other"``. They
       are the hardest negatives (narrow Balmer lines, some metal-poor), **not** BHB; ``"other"``
       keeps the ``"A"`` class a clean main-sequence / blue-straggler class.
    6. By the spectral-type letter: O, B → ``"B"``; A → ``"A"`` (A dwarfs, blue stragglers, Am,
       Ap, λ Boo); F, G, K, M (incl. F subdwarfs ``sdF``) → ``"other"``.
    7. Without a usable type, by Teff: ``>= b_teff_min`` → ``"B"``, ``>= a_teff_min`` → ``"A"``,
       cooler → ``"other"``.

    Parameters
    ----------
    teff, logg, feh : float or None
        Effective temperature (K), log g (cgs), [Fe/H] (dex); ``None`` or NaN when unknown.
    sptype : str, optional
        Spectral type (MILES / SIMBAD style).
    **thresholds
        Overrides of `CLASSIFY_DEFAULTS`.

    Returns
    -------
    str
        One of `CLASSES`.
    """
    unknown = set(thresholds) - set(CLASSIFY_DEFAULTS)
    if unknown:
        raise ConfigurationError(f"classify_star: unknown threshold(s) {sorted(unknown)}; "
                                 f"the thresholds are {sorted(CLASSIFY_DEFAULTS)}")
    t = {**CLASSIFY_DEFAULTS, **thresholds}
    teff = _num(teff)
    logg = _num(logg)
    feh = _num(feh)
    sp = _sptype_parts(sptype)

    if sp["wd"] or (logg >= t["wd_logg_min"]):
        return "WD"
    if sp["hotsd"] or (teff >= t["hotsd_teff_min"] and logg >= t["hotsd_logg_min"]):
        return "HotSD"
    if sp["hb"]:
        if np.isnan(teff) or t["bhb_teff_min"] <= teff < t["hotsd_teff_min"]:
            return "BHB"
        return "HotSD" if teff >= t["hotsd_teff_min"] else "other"
    if (teff >= t["bhb_teff_min"] and feh < t["bhb_feh_max"]
            and bool(culpan_kiel_box(teff, logg, t["box_margin"]))):
        return "BHB"
    if (sp["supergiant"] or logg < t["supergiant_logg_max"]) and \
            not (teff >= t["supergiant_teff_max"]):
        return "other"
    letter = sp["letter"]
    if letter in ("O", "B"):
        return "B"
    if letter == "A":
        return "A"
    if letter in ("F", "G", "K", "M"):
        return "other"
    if np.isnan(teff):
        return "other"
    if teff >= t["b_teff_min"]:
        return "B"
    if teff >= t["a_teff_min"]:
        return "A"
    return "other"


def _num(x):
    try:
        v = float(x)
    except (TypeError, ValueError):
        return np.nan
    return v
