"""svtas-ray: streaming video temporal action segmentation trained end to end with RL on Ray.

Importing the package starts nothing: Ray is only imported by ``svtas_ray.rl`` and the CLI
commands that train.
"""

__version__ = "0.1.0"
