"""Benchmarks of quality and speed: settings and jobs (:mod:`.plan`), running them (:mod:`.jobs`),
one whole run (:mod:`.run`) and its tables and plots (:mod:`.report`).

The arrows point one way: ``run -> jobs, report -> plan``.
"""
