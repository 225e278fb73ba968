"""Datasets in the MS-TCN layout: layout, feature and video sources, clip plans, converters and
synthetic data. Import the submodule you need (``svtas_ray.data.layout``, ``.clips``, ...)."""
