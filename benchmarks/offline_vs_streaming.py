"""Offline TAS vs streaming TAS on one dataset and protocol: one table, plots, three targets.

What it measures: on one dataset root and list of splits, every row below is trained and scored
on the test videos with the MS-TCN metrics (Acc, Edit, F1@{10,25,50}, background dropped), mean ±
std over splits and seeds, with train wall time, streaming latency per clip (batch 1, 1 thread),
frames/s and parameters:

- ``offline``: MS-TCN and ASFormer on whole videos (the upper reference, 50 epochs);
- ``naive_stream``: the same trained models run on each clip alone (clip = the streaming clip's
  span of raw frames), the collapse streaming methods start from;
- ``supervised``, ``ppo``, ``reinforce``, ``actor_critic``, ``paper_mc``, ``paper_td``: the Ray
  trainer's streaming segmenters with heads ``causal_mstcn`` and ``brt``, each trained for the same
  wall-clock budget with the same hyperparameters, tested with the checkpoint selected on
  validation videos carved from the training split (never the test split);
- ``--external NAME=DIR``: prediction files of another codebase, scored the same way.

Every (row, split, seed) is a Ray task holding one CPU (its actors reserve none), so jobs run in
parallel on however many CPUs the cluster has, and a budget means the same thing for every job.
Output (``--out``, default ``runs/bench/offline_vs_streaming/<setting>/``): ``runs.*`` and
``summary.*`` (parquet, CSV, markdown), ``table.md``, ``targets.md`` (the issue's three targets
and the distance to each), ``metrics.png`` (bars per row) and ``colour_bars_<video>.png`` (ground
truth and every row's prediction of the same test videos). ``--publish DIR`` copies the last
four there (the README's docs/results/). An interrupted run resumes: the same command again reuses
every job whose rows were saved in ``--out``/done/ with the same data, setting and ``--set``.

How to run::

    .venv/bin/python benchmarks/offline_vs_streaming.py --quick      # or: svtas-ray bench
    .venv/bin/python benchmarks/offline_vs_streaming.py --setting algos   # issue 6's comparison
    .venv/bin/python benchmarks/offline_vs_streaming.py --setting full    # GTEA labels, 4 splits
    .venv/bin/python benchmarks/offline_vs_streaming.py --data-root /data/gtea --bg background

Settings: ``quick`` — every row, synthetic gtea preset at half length, split 1, seed 0, 8 s
per streaming job, offline 5 epochs; ``algos`` — issue 6's comparison: the six objectives with
causal_mstcn, gtea preset, split 1, seeds 0-2, 60 s per job, no offline rows (add them with
``--offline mstcn``); ``full`` — every row on the real GTEA label sequences with synthetic
features (``$SVTAS_SHARED_DATA/gtea``), splits 1-4, seed 0, 120 s per job, offline 50 epochs.
``--splits/--seeds/--budget-s/--algos/--heads/--offline/--set`` adjust any of them.
To debug with one process, train one row alone: ``svtas-ray train --set algo.kind=ppo ...`` or
``svtas-ray baseline train --model mstcn --naive-stream``.

How long (2 CPU cores): ``--quick`` ~2.5 min (14 jobs, two at a time); ``algos`` ~11 min;
``full`` 73 min (56 jobs; on 16 cores an estimated ~15 min, not measured). Expected results
(README "Results"): ``--quick`` runs every row but its streaming rows are mostly untrained;
``full``: offline MS-TCN ~94 Acc / 91 Edit / 92 F1@50, its naive streaming ~84 / 75 / 72, every
streaming row ~82-86 / 50-58 / 51-60 (the objectives within the spread over splits); ``algos``
(60 s): the RL objectives ahead of ``supervised`` early in training.
"""

from __future__ import annotations

import sys

from svtas_ray.cli.bench import main

if __name__ == "__main__":
    sys.exit(main(description=__doc__))
