"""Result tables written the same way everywhere: parquet + CSV + markdown."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

TABLE_SUFFIXES = (".parquet", ".csv", ".md")


def write_table(df: pd.DataFrame, path: str | Path) -> list[Path]:
    """Write ``df`` to ``path``; a known suffix picks one format, no suffix writes all three.

    Without a suffix the three files go beside a folder of the same name, if there is one (the
    benchmark's ``runs`` table beside its ``runs/`` folder). Another suffix, or a place that
    cannot be written, is one ConfigError / DataError sentence.
    """
    from svtas_ray.data.files import make_folder
    from svtas_ray.errors import ConfigError, DataError

    path = Path(path)
    if path.suffix and path.suffix not in TABLE_SUFFIXES:
        raise ConfigError(
            f"{path}: a table is written as {', '.join(TABLE_SUFFIXES)} (or, without a suffix, "
            f"all three), not {path.suffix}"
        )
    targets = [path] if path.suffix else [path.with_suffix(s) for s in TABLE_SUFFIXES]
    make_folder(path.parent, "table")
    try:
        for target in targets:
            if target.suffix == ".parquet":
                df.to_parquet(target, index=False)
            elif target.suffix == ".csv":
                df.to_csv(target, index=False)
            else:
                target.write_text(markdown_table(df) + "\n")
    except OSError as exc:
        where = exc.filename or path
        raise DataError(f"{where}: cannot write the table ({exc.strerror or exc})") from None
    return targets


def markdown_table(df: pd.DataFrame, digits: int = 2) -> str:
    """A GitHub markdown table of ``df`` (floats rounded to ``digits``)."""
    cols = [str(c) for c in df.columns]

    def fmt(v: object) -> str:
        return f"{v:.{digits}f}" if isinstance(v, float) else str(v)

    rows = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    rows += ["| " + " | ".join(fmt(v) for v in rec) + " |" for rec in df.itertuples(index=False)]
    return "\n".join(rows)
