"""Torch modules for streaming temporal action segmentation (no Ray).

- :mod:`~svtas_ray.models.interface`: the streaming contract (:class:`SegmenterOutput`, state
  helpers) and :class:`StreamingSegmenter`, which joins an input encoder, a head and a value head.
- :mod:`~svtas_ray.models.causal_tcn`: ``causal_mstcn``, MS-TCN made causal with per-layer caches.
- :mod:`~svtas_ray.models.brt`: ``brt``, the SVTAS-RL block-recurrent transformer head.
- :mod:`~svtas_ray.models.inputs`: feature projector, TSM frame backbone, pretrained loader.
- :mod:`~svtas_ray.models.offline`, :mod:`~svtas_ray.models.asformer`: offline baselines (MS-TCN,
  ASFormer, frame-wise linear) and their naive streaming use.
- :mod:`~svtas_ray.models.losses`: per-stage cross-entropy and MS-TCN's smoothing loss.
- :mod:`~svtas_ray.models.build`: config -> module; :mod:`~svtas_ray.models.checkpoint`: save/load.
"""
