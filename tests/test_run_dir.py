"""The run directory's metrics table: atomic rows, truncation on resume, unreadable files."""

from __future__ import annotations

import threading
from pathlib import Path

import pandas as pd
import pytest

from svtas_ray.errors import DataError
from svtas_ray.rl.run_dir import RunLog, read_metrics


def test_rows_replace_later_ones_and_truncate_drops_rows_past_a_checkpoint(tmp_path: Path) -> None:
    log = RunLog(tmp_path)
    for it in (1, 2, 3):
        log.log({"iteration": it, "loss_total": float(it)})
    log.truncate(2)  # resumed from the checkpoint of iteration 2: row 3 is redone
    log.log({"iteration": 3, "loss_total": 30.0})
    log.close()
    table = pd.read_parquet(tmp_path / "metrics.parquet")
    assert list(table["iteration"]) == [1, 2, 3] and table["loss_total"].iloc[-1] == 30.0
    assert list(RunLog(tmp_path).rows[i]["iteration"] for i in range(3)) == [1, 2, 3]
    assert not list(tmp_path.glob("*.tmp"))


def test_a_live_metrics_table_reads_as_one_whole_version(tmp_path: Path) -> None:
    """A reader polling the table while a run renames new versions over it sees whole tables."""
    log = RunLog(tmp_path)
    log.log({"iteration": 1, "loss_total": 1.0})
    done = threading.Event()

    def write() -> None:
        it = 2
        while not done.is_set():
            log.log({"iteration": it, "loss_total": float(it)})
            it += 1

    writer = threading.Thread(target=write)
    writer.start()
    try:
        seen = [read_metrics(tmp_path / "metrics.parquet") for _ in range(400)]
    finally:
        done.set()
        writer.join()
    log.close()
    for table in seen:  # every snapshot is rows 1..n, whole
        assert list(table["iteration"]) == list(range(1, len(table) + 1))
    assert len(seen[-1]) > len(seen[0])


def test_a_corrupt_metrics_table_is_one_sentence(tmp_path: Path) -> None:
    (tmp_path / "metrics.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match=r"metrics\.parquet: not a readable metrics table") as err:
        RunLog(tmp_path)
    assert "\n" not in str(err.value)


def test_an_unwritable_metrics_table_is_one_sentence(tmp_path: Path) -> None:
    log = RunLog(tmp_path)
    (tmp_path / "metrics.parquet.tmp").mkdir()  # the temp file cannot be written
    with pytest.raises(DataError, match="cannot write the metrics table"):
        log.log({"iteration": 1})
    log.close()
