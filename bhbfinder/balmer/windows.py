"""Line windows and continuum side bands: the configuration of the Balmer measurements.

Every line is measured in the rest frame on vacuum wavelengths. A straight-line local continuum is
fitted (inverse-variance weighted) through two side bands, one on each side of the line, and the
Sérsic-type profile is fitted within ``fit_halfwidth`` of the vacuum line centre
(`bhbfinder.spectra.lines.LINES_VACUUM`).

The windows follow the style of Clewley et al. (2002, MNRAS 337, 87), Sirko et al. (2004, AJ 127,
899) and Xue et al. (2008, ApJ 684, 1143): the profile is fitted within ±30 Å of the centre (Hβ
±40 Å), which holds the D0.2 width of every A-type star. The side bands follow one rule: 20 Å
wide, 100–120 Å from the centre, beyond the Balmer wings of high-gravity A stars (which reach
~±100 Å at the per-cent level), except Hδ's blue band, kept ~50 Å clear of Hε (3971 Å) at
60–80 Å blueward. The exact bands of those papers were not available to us: these
are documented defaults; pass your own `LineWindow` objects to override them. On the MILES stars
(see the docs) the Hδ+Hγ verdicts depend on the band placement at the level of a few stars, the
Hγ-only (c, b) box much less.

The higher Balmer lines Hε, H8, H9 and H10 (González Delgado et al. 1999, ApJS 125, 489: they
respond to gravity like the lower lines) crowd together towards the Balmer limit: their wings
overlap, and no true continuum lies between them at low resolution. They are fitted over a
narrower window (±12–18 Å) with a *pseudo-continuum* through the flux peaks between neighbouring
lines (and clear of Ca II K, 3934.8 Å), so their widths are consistent measures rather than
absolute ones. Hε (3971.2 Å) is blended with Ca II H (3969.6 Å) at this resolution: in metal-rich
stars the blend is deeper, which the criteria may use, but it is not a pure gravity signal. H10
(3799.0 Å) lies below the default model grid (3800–5000 Å) and is measured only on grids that
cover it.

The Ca II K index follows the KP index of Beers et al. (1999, AJ 117, 981): equivalent width in the
12 Å K12 band centred on Ca II K, with the continuum from the bands 3903–3923 Å and 4000–4020 Å
(air in Beers et al.; shifted here to vacuum by +1.1 Å).
"""

from dataclasses import asdict, dataclass

from ..spectra.lines import LINES_VACUUM

__all__ = ["LineWindow", "DEFAULT_WINDOWS", "HIGHER_BALMER_WINDOWS", "CAK_WINDOW",
           "COLUMN_PREFIX", "MGII_WINDOW"]


@dataclass(frozen=True)
class LineWindow:
    """Where one line is measured (all wavelengths rest-frame vacuum Å).

    Parameters
    ----------
    name : str
        Line name as in `~bhbfinder.spectra.lines.LINES_VACUUM` (e.g. ``"Hdelta"``).
    center : float
        Vacuum line centre, Å.
    fit_halfwidth : float
        The profile is fitted over ``center ± fit_halfwidth``, Å.
    blue_band, red_band : tuple of float
        ``(start, end)`` of the continuum side bands, Å.
    """

    name: str
    center: float
    fit_halfwidth: float
    blue_band: tuple
    red_band: tuple

    @property
    def fit_range(self):
        """``(start, end)`` of the fit window, Å."""
        return (self.center - self.fit_halfwidth, self.center + self.fit_halfwidth)

    @property
    def full_range(self):
        """``(start, end)`` covering both side bands and the fit window, Å."""
        return (min(self.blue_band[0], self.fit_range[0]), max(self.red_band[1], self.fit_range[1]))

    def to_dict(self):
        """A plain dict (for saving with a configuration)."""
        return asdict(self)


def _window(name, halfwidth, blue, red):
    c = LINES_VACUUM[name]
    return LineWindow(name, c, halfwidth, (round(c - blue[1], 2), round(c - blue[0], 2)),
                      (round(c + red[0], 2), round(c + red[1], 2)))


#: The default windows: fit half-width and the (inner, outer) offsets of the blue and red side
#: bands from the centre, Å.
DEFAULT_WINDOWS = {
    "Hdelta": _window("Hdelta", 30.0, (60.0, 80.0), (100.0, 120.0)),
    "Hgamma": _window("Hgamma", 30.0, (100.0, 120.0), (100.0, 120.0)),
    "Hbeta": _window("Hbeta", 40.0, (100.0, 120.0), (100.0, 120.0)),
}

#: The Ca II K index window: ``fit_halfwidth`` is the half-width of the K12 band (Beers et al.
#: 1999), the side bands their KP continuum bands in vacuum.
CAK_WINDOW = LineWindow("CaII_K", LINES_VACUUM["CaII_K"], 6.0, (3904.1, 3924.1), (4001.1, 4021.1))

#: The Mg II 4481 window: the doublet's band and side bands clear of He I 4472 and of Hγ's
#: wings. In late-B and A stars the line follows the metallicity (weak in metal-poor BHB
#: stars, strong in solar B9-A0 giants and dwarfs) while Ca II K fades with temperature.
MGII_WINDOW = LineWindow("MgII_4481", LINES_VACUUM["MgII_4481"], 3.5, (4458.0, 4467.0),
                         (4490.0, 4500.0))

#: The higher Balmer lines: fit half-width and pseudo-continuum bands between the neighbouring
#: lines (vacuum Å; the side bands of one line are the peaks on either side of it).
HIGHER_BALMER_WINDOWS = {
    "Hepsilon": LineWindow("Hepsilon", LINES_VACUUM["Hepsilon"], 18.0, (3942.0, 3950.0),
                           (4001.0, 4016.0)),
    "H8": LineWindow("H8", LINES_VACUUM["H8"], 16.0, (3856.0, 3866.0), (3912.0, 3922.0)),
    "H9": LineWindow("H9", LINES_VACUUM["H9"], 14.0, (3808.0, 3815.0), (3856.0, 3866.0)),
    "H10": LineWindow("H10", LINES_VACUUM["H10"], 12.0, (3776.0, 3781.0), (3815.0, 3822.0)),
}
DEFAULT_WINDOWS.update(HIGHER_BALMER_WINDOWS)

#: Output column prefix of each line.
COLUMN_PREFIX = {"Hdelta": "hdelta", "Hgamma": "hgamma", "Hbeta": "hbeta", "Hepsilon": "hepsilon",
                 "H8": "h8", "H9": "h9", "H10": "h10", "Halpha": "halpha", "CaII_K": "cak"}
