"""Result tables written the same way everywhere: parquet + CSV + markdown."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

TABLE_SUFFIXES = (".parquet", ".csv", ".md")


def write_table(df: pd.DataFrame, path: str | Path) -> list[Path]:
    """Write ``df`` to ``path``; a known suffix picks one format, no suffix writes all three."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    targets = (
        [path] if path.suffix in TABLE_SUFFIXES else [path.with_suffix(s) for s in TABLE_SUFFIXES]
    )
    for target in targets:
        if target.suffix == ".parquet":
            df.to_parquet(target, index=False)
        elif target.suffix == ".csv":
            df.to_csv(target, index=False)
        else:
            target.write_text(markdown_table(df) + "\n")
    return targets


def markdown_table(df: pd.DataFrame, digits: int = 2) -> str:
    """A GitHub markdown table of ``df`` (floats rounded to ``digits``)."""
    cols = [str(c) for c in df.columns]

    def fmt(v: object) -> str:
        return f"{v:.{digits}f}" if isinstance(v, float) else str(v)

    rows = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    rows += ["| " + " | ".join(fmt(v) for v in rec) + " |" for rec in df.itertuples(index=False)]
    return "\n".join(rows)
