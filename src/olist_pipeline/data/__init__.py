"""Olist sources: CSV reader, synthetic generator, profile check.

- :mod:`~olist_pipeline.data.reader`: the one way to read a source file
  (``iter_records`` tolerant, ``iter_parsed`` the same as tuples, ``read_rows`` strict).
- :mod:`~olist_pipeline.data.dialect`: writes records as the original files do.
- :mod:`~olist_pipeline.data.generator`: ``generate(out_dir, scale, seed, quirks)``.
- :mod:`~olist_pipeline.data.profile`: ``profile(dir)`` figures and ``check(figures)``.
- :mod:`~olist_pipeline.data.datadir`: which folder a run reads (flag, OLIST_DATA_DIR,
  generated).
"""
