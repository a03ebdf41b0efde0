"""Spectral operations on batches: line lists, air/vacuum, grids, resampling, normalisation, RV."""
