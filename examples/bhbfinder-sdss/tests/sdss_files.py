"""Writing SDSS-layout spec files for the tests (no real data: every value is made up here)."""

from pathlib import Path

import numpy as np
from astropy.io import fits

#: What the fixture files hold, by layout: HDU-2 name and reduction.
LAYOUTS = {
    "SDSS-I/II spec": {"extname": "SPECOBJ", "run2d": "26", "vers2d": "v5_3_12"},
    "BOSS spec": {"extname": "SPALL", "run2d": "v5_7_0", "vers2d": "v5_7_0"},
}

#: The fixture spectrum's pixel grid: log10(λ/Å) from 3.5800 in steps of 1e-4 dex.
LOGLAM0, DLOGLAM, NPIX = 3.58, 1e-4, 400

#: Pixel index -> and_mask bits written into the fixture (MANYBADCOLUMNS = 4, BRIGHTSKY = 23).
MASK_BITS = {10: 1 << 23, 11: 1 << 23, 200: 1 << 4, 201: 1 << 4, 202: (1 << 4) | (1 << 23)}
#: Pixels with ivar = 0, and the pixel whose flux is NaN.
ZERO_IVAR, NAN_FLUX = (50, 51), 300


def sdss_truth(plate=266, mjd=51602, fiber=13, layout="SDSS-I/II spec"):
    """The values a fixture file holds, as the reader should return them."""
    i = np.arange(NPIX)
    loglam = (LOGLAM0 + DLOGLAM * i).astype(np.float32)
    flux = (20.0 + 5.0 * np.sin(i / 17.0)).astype(np.float32)
    flux[NAN_FLUX] = np.nan
    ivar = np.full(NPIX, 4.0, np.float32)
    ivar[list(ZERO_IVAR)] = 0.0
    and_mask = np.zeros(NPIX, np.int32)
    for pixel, bits in MASK_BITS.items():
        and_mask[pixel] = bits
    return {
        "plate": plate, "mjd": mjd, "fiber": fiber, "layout": layout,
        "loglam": loglam, "flux": flux, "ivar": ivar, "and_mask": and_mask,
        "plug_ra": 146.9341 + fiber * 1e-3, "plug_dec": -0.6704 - fiber * 1e-3,
        "plate_ra": 145.89219, "plate_dec": 0.059372,  # the plate centre: never the star's
        "z": 1.23e-4, "z_err": 4.5e-6, "class": "STAR", "subclass": "BHB",
        "sn_median": np.array([5.0, 30.5, 25.0, 20.0, 10.0], np.float32),
        "run2d": LAYOUTS[layout]["run2d"],
    }


def write_sdss_spec(folder, truth=None, with_object_hdu=True, **kwargs):
    """Write a minimal ``spec-PLATE-MJD-FIBER.fits`` with the SDSS layout; return its path.

    HDU 0 an empty primary with the SDSS header keywords specutils' loader checks, HDU 1
    ``COADD`` (flux, loglam, ivar, and_mask, ... in the SDSS column order), HDU 2 ``SPECOBJ``
    (SDSS-I/II) or ``SPALL`` (BOSS) with one row.
    """
    t = truth or sdss_truth(**kwargs)
    header = fits.Header()
    header["TELESCOP"] = "SDSS 2.5-M"
    header["RA"], header["DEC"] = t["plate_ra"], t["plate_dec"]
    header["MJD"] = t["mjd"]
    header["PLATEID"], header["FIBERID"] = t["plate"], t["fiber"]
    header["PLUG_RA"], header["PLUG_DEC"] = t["plug_ra"], t["plug_dec"]
    header["VERS2D"] = LAYOUTS[t["layout"]]["vers2d"]
    header["RUN2D"] = t["run2d"]
    header["BUNIT"] = "1E-17 erg/cm^2/s/Ang"
    zeros = np.zeros(NPIX, np.float32)
    coadd = fits.BinTableHDU.from_columns([
        fits.Column("flux", "E", array=t["flux"]),
        fits.Column("loglam", "E", array=t["loglam"]),
        fits.Column("ivar", "E", array=t["ivar"]),
        fits.Column("and_mask", "J", array=t["and_mask"]),
        fits.Column("or_mask", "J", array=t["and_mask"]),
        fits.Column("wdisp", "E", array=zeros + 1.1),
        fits.Column("sky", "E", array=zeros),
        fits.Column("model", "E", array=t["flux"]),
    ], name="COADD")
    hdus = [fits.PrimaryHDU(header=header), coadd]
    if with_object_hdu:
        columns = [
            fits.Column("PLATE", "J", array=[t["plate"]]),
            fits.Column("MJD", "J", array=[t["mjd"]]),
            fits.Column("FIBERID", "J", array=[t["fiber"]]),
            fits.Column("RUN2D", "8A", array=[t["run2d"]]),
            fits.Column("PLUG_RA", "D", array=[t["plug_ra"]]),
            fits.Column("PLUG_DEC", "D", array=[t["plug_dec"]]),
            fits.Column("CLASS", "6A", array=[t["class"]]),
            fits.Column("SUBCLASS", "21A", array=[t["subclass"]]),
            fits.Column("Z", "E", array=[t["z"]]),
            fits.Column("Z_ERR", "E", array=[t["z_err"]]),
            fits.Column("SN_MEDIAN", "5E", array=[t["sn_median"]]),
        ]
        if t["layout"] == "BOSS spec":  # BOSS adds the catalogue position
            columns += [fits.Column("RA", "D", array=[t["plug_ra"] + 1e-5]),
                        fits.Column("DEC", "D", array=[t["plug_dec"] + 1e-5])]
        hdus.append(fits.BinTableHDU.from_columns(
            columns, name=LAYOUTS[t["layout"]]["extname"]))
    path = Path(folder) / f"spec-{t['plate']:04d}-{t['mjd']:05d}-{t['fiber']:04d}.fits"
    fits.HDUList(hdus).writeto(path, overwrite=True)
    return path
