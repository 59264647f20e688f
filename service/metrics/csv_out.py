"""Metrics responses as CSV (Accept: text/csv): one line per row, nested fields flattened."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel


def _flat(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flat(f"{prefix}.{key}" if prefix else str(key), inner, out)
    elif isinstance(value, list):
        out[prefix] = ";".join(map(str, value))
    else:
        out[prefix] = value


def to_csv(rows: Iterable[BaseModel | dict[str, Any]], first: Iterable[str] = ()) -> str:
    """CSV of `rows` with the union of their (flattened) fields; `first` columns lead."""
    flat = []
    for row in rows:
        record: dict[str, Any] = {}
        _flat("", row.model_dump(mode="json") if isinstance(row, BaseModel) else row, record)
        flat.append(record)
    columns = list(dict.fromkeys([*first, *(k for r in flat for k in r)]))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(flat)
    return buffer.getvalue()
