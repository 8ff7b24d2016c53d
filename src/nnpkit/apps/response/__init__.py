"""Response properties from any potential: dipoles, polarizabilities, Born charges, IR spectra.

The field derivatives themselves live in :mod:`nnpkit.derivatives` (the charge-aware model
family makes them non-trivial); this application turns them into spectra and reports.
"""
