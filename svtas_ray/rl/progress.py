"""The training progress bar: iterations or seconds of the time budget, with throughput and the
latest validation score.

A tqdm bar on stderr, shown only on a terminal (tqdm's ``disable=None``) and never when the run
is started quietly; log records are routed through the bar so they do not tear it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any, TextIO


class TrainProgress:
    """Progress of one ``Trainer.train`` call.

    Args:
        enabled: False: no bar at all (``--quiet``); True: a bar when stderr is a terminal.
        iterations: the iteration the call stops at; ``first`` the one it starts from.
        budget_s: its time budget (0: none). With a budget the bar counts seconds, else
            iterations.
        file: where the bar is drawn (default: stderr).
    """

    def __init__(
        self,
        enabled: bool,
        first: int,
        iterations: int,
        budget_s: float,
        file: TextIO | None = None,
    ) -> None:
        from tqdm import tqdm

        self.by_time = budget_s > 0
        self.start = time.perf_counter()
        self.total = round(budget_s) if self.by_time else max(iterations - first, 0)
        self.bar = tqdm(
            total=self.total,
            desc="train",
            unit="s" if self.by_time else "it",
            disable=None if enabled else True,
            dynamic_ncols=True,
            file=file,
            bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} {unit} [{elapsed}<{remaining}{postfix}]",
        )
        self.val = ""

    def update(self, row: dict[str, Any]) -> None:
        """After an iteration: advance, show env steps/s and the latest validation F1@50."""
        if self.bar.disable:
            return
        if "val_f1@50" in row:
            self.val = f"{row['val_f1@50']:.1f}"
        post = {"it": row["iteration"], "env steps/s": f"{row['env_steps_per_s']:.0f}"}
        if self.val:
            post["val F1@50"] = self.val
        self.bar.set_postfix(post, refresh=False)
        if self.by_time:
            seconds = min(round(time.perf_counter() - self.start), self.total)
            self.bar.update(seconds - self.bar.n)
        else:
            self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


@contextlib.contextmanager
def train_progress(
    enabled: bool, first: int, iterations: int, budget_s: float
) -> Iterator[TrainProgress]:
    """A :class:`TrainProgress` with log records written through its bar."""
    from tqdm.contrib.logging import logging_redirect_tqdm

    progress = TrainProgress(enabled, first, iterations, budget_s)
    try:
        if progress.bar.disable:
            yield progress
        else:
            with logging_redirect_tqdm():
                yield progress
    finally:
        progress.close()
