r"""Ray Tune sweep: ASHA over PPO and model hyperparameters on the validation score.

What it does
    Samples ``--samples`` configurations of an experiment's protocol (default: experiments/gtea.py)
    from svtas_ray.rl.tune.SEARCH_SPACE (lr, ce_coef, entropy coefficient, reward weights, clip_len,
    gamma, GAE lambda, model width, whole-frame input dropout, weight decay) or a ``--space``
    JSON file. Each
    trial is one Trainer run that reserves its whole placement group (driver + rollout workers +
    learners). Every
    ``--report-every`` iterations it reports ``val_score`` = mean of validation Edit and F1@50
    (never the test split); ASHA (reduction factor 2) stops the worse half at each rung. Writes
    ``trials.{parquet,csv,md}`` and ``best_config.json`` (for ``svtas-ray train --config``).

Run it standalone
    python experiments/sweep.py --samples 8 --set iterations=20           # synthetic GTEA
    python experiments/sweep.py --experiment salads --data-root /data/50salads --samples 32
    python experiments/sweep.py --resume runs/sweeps/gtea-<time>          # after Ctrl-C / a crash
    (--resume takes no other flag: the sweep's base config, space and settings are in its folder;
    a new sweep refuses an --out folder that already holds something.)
    svtas-ray train --config runs/sweeps/gtea-<time>/best_config.json --set iterations=200

Run it on a cluster
    RAY_AUTH_MODE=token ray job submit --address http://HEAD:8265 --working-dir . \
        --runtime-env-json '{"excludes": [".git", "runs/", "data/", ".venv/", "*.npy", "*.mp4"]}' \
        -- python experiments/sweep.py --data-root /shared/gtea --out /shared/sweeps/gtea \
           --samples 64 --set iterations=100 --gpus-per-learner 1
    (--out must be a folder every node can write: Tune keeps its state and checkpoints there.)

Debug it in one process
    ``--samples 1 --set iterations=2 --set resources.num_cpus=2``: one trial, two actors; the
    trainable is svtas_ray.rl.tune.train_trial, a plain function you can call under a debugger with
    ``ray.tune`` mocked, or reproduce a trial with ``svtas-ray train --config`` + its values.

Expected results
    On 2 CPU cores, 4 trials x 4 iterations of the tiny test config take about a minute; ASHA stops
    one or two of them after the first report. On the synthetic default the best trials prefer a
    learning rate around 1e-3 with the auxiliary CE on (ce_coef >= 0.5); the per-trial table is
    the record, not these words.
"""

from __future__ import annotations

import sys

from svtas_ray.cli.tune import main

if __name__ == "__main__":
    sys.exit(main(prog="experiments/sweep.py", doc=__doc__))
