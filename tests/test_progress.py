"""The training progress bar: shown on a terminal only, never when quiet; iterations or seconds."""

from __future__ import annotations

import io

from svtas_ray.rl.progress import TrainProgress


class Terminal(io.StringIO):
    """A text stream that says it is a terminal (tqdm shows its bar on terminals only)."""

    def isatty(self) -> bool:
        return True


def row(iteration: int, **extra: float) -> dict:
    return {"iteration": iteration, "env_steps_per_s": 1234.4, **extra}


def test_bar_over_iterations_shows_throughput_and_the_latest_validation() -> None:
    screen = Terminal()
    bar = TrainProgress(True, first=2, iterations=5, budget_s=0.0, file=screen)
    for i, extra in ((3, {}), (4, {"val_f1@50": 55.04}), (5, {})):
        bar.update(row(i, **extra))
    bar.close()
    text = screen.getvalue()
    assert "3/3 it" in text and "env steps/s=1234" in text
    assert "val F1@50=55.0" in text.rsplit("\r", 1)[-1]  # still shown after a row without one


def test_bar_over_the_time_budget_counts_seconds() -> None:
    screen = Terminal()
    bar = TrainProgress(True, first=0, iterations=10**6, budget_s=120.0, file=screen)
    bar.update(row(1))
    bar.close()
    assert "/120 s" in screen.getvalue()


def test_no_bar_when_quiet_or_not_a_terminal() -> None:
    for enabled, screen in ((False, Terminal()), (True, io.StringIO())):
        bar = TrainProgress(enabled, first=0, iterations=3, budget_s=0.0, file=screen)
        bar.update(row(1))
        bar.close()
        assert screen.getvalue() == ""
