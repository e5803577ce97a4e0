"""Sample-quality evaluation (tools/eval.py, docs/evaluation.md): the protocols (``protocols``), the detector files
and walt's own feature networks (``detectors``, ``i3d``, ``inception``, ``standin_detectors``), real clips and frames
(``real_data``), generated samples (``samples``), running statistics and the cache of real ones
(``feature_stats``, ``stats_cache``), the metrics (``frechet``, ``inception_score``) and the distributed run
(``runner``)."""
