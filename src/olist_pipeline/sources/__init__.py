"""Olist sources: CSV reader, synthetic generator, profile check.

- :mod:`~olist_pipeline.sources.reader`: the one way to read a source file
  (``iter_records`` tolerant, ``iter_parsed`` the same as tuples, ``read_rows`` strict).
- :mod:`~olist_pipeline.sources.dialect`: writes records as the original files do.
- :mod:`~olist_pipeline.sources.generator`: ``generate(out_dir, scale, seed, quirks)``.
- :mod:`~olist_pipeline.sources.profile`: ``profile(dir)`` figures and ``check(figures)``.
- :mod:`~olist_pipeline.sources.datadir`: which folder a run reads (flag, OLIST_DATA_DIR,
  generated).
"""
