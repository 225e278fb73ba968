"""``python -m svtas_ray`` is the ``svtas-ray`` command."""

from svtas_ray.cli import main

raise SystemExit(main())
