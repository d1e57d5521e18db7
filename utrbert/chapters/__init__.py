"""Chapter experiment code, one module per chapter notebook (``notebooks/03_rbp_binding.ipynb`` -> ``utrbert.chapters.rbp_binding``)."""
