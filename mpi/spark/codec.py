"""Normalised records as JSON text, to carry them through Parquet and Spark's workers.

The fields are read from the declared columns (:data:`matching.fields.COLUMNS`), so a
column added there travels without a change here: arrays go as lists, dates as ISO text.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from typing import Any

from matching.fields import COLUMNS
from matching.types import NormalisedRecord

__all__ = ["norm_from_json", "norm_to_json"]

_FIELDS = dataclasses.fields(NormalisedRecord)
_TUPLES = frozenset(c.name for c in COLUMNS if c.is_array)
_DATES = frozenset(c.name for c in COLUMNS if c.sql_type == "date")


def _plain(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value


def norm_to_json(norm: NormalisedRecord) -> str:
    """The record as compact JSON (fields at their default are left out)."""
    found = {}
    for f in _FIELDS:
        value = getattr(norm, f.name)
        if value != f.default:
            found[f.name] = _plain(value)
    return json.dumps(found, separators=(",", ":"), ensure_ascii=False)


def norm_from_json(text: str) -> NormalisedRecord:
    """The record :func:`norm_to_json` wrote.

    Example:
        >>> from datetime import date
        >>> rec = NormalisedRecord(family_name="SMITH", birth_date=date(1980, 3, 4))
        >>> norm_from_json(norm_to_json(rec)) == rec
        True
    """
    raw = json.loads(text)
    for name in _TUPLES & raw.keys():
        raw[name] = tuple(raw[name])
    for name in _DATES & raw.keys():
        raw[name] = date.fromisoformat(raw[name])
    return NormalisedRecord(**raw)
