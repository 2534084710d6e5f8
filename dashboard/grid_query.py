"""AG Grid's infinite row model served from a data frame: the grid's
filter and sort models applied on the server, one block of rows at a time.

A table of a survey's 120,000 (observation, filter) rows is too large to
send to the browser; the grid asks for the rows it shows
(``getRowsRequest``: startRow, endRow, filterModel, sortModel) and the
page answers with `rows_block`. Pure functions of data frames.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

TEXT_TESTS = ("contains", "notContains", "equals", "notEqual", "startsWith", "endsWith", "blank", "notBlank")
NUMBER_TESTS = ("equals", "notEqual", "lessThan", "lessThanOrEqual", "greaterThan", "greaterThanOrEqual",
                "inRange", "blank", "notBlank")


def _text_mask(values: pd.Series, test: str, text: str) -> np.ndarray:
    strings = values.astype(object).where(values.notna(), "").astype(str).str.lower()
    text = str(text or "").lower()
    if test == "blank":
        return (strings == "").to_numpy()
    if test == "notBlank":
        return (strings != "").to_numpy()
    if test == "equals":
        return (strings == text).to_numpy()
    if test == "notEqual":
        return (strings != text).to_numpy()
    if test == "startsWith":
        return strings.str.startswith(text).to_numpy()
    if test == "endsWith":
        return strings.str.endswith(text).to_numpy()
    found = strings.str.contains(text, regex=False).to_numpy()
    return ~found if test == "notContains" else found


def _number_mask(values: pd.Series, test: str, low: Any, high: Any) -> np.ndarray:
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    if test == "blank":
        return np.isnan(numbers)
    if test == "notBlank":
        return ~np.isnan(numbers)
    try:
        a = float(low)
    except (TypeError, ValueError):
        return np.ones(len(numbers), dtype=bool)  # an incomplete filter selects everything, as the grid does
    with np.errstate(invalid="ignore"):
        if test == "equals":
            return numbers == a
        if test == "notEqual":
            return numbers != a
        if test == "lessThan":
            return numbers < a
        if test == "lessThanOrEqual":
            return numbers <= a
        if test == "greaterThan":
            return numbers > a
        if test == "greaterThanOrEqual":
            return numbers >= a
        if test == "inRange":
            try:
                b = float(high)
            except (TypeError, ValueError):
                return numbers >= a
            return (numbers >= min(a, b)) & (numbers <= max(a, b))
    return np.ones(len(numbers), dtype=bool)


def _condition_mask(values: pd.Series, condition: dict) -> np.ndarray:
    kind = condition.get("filterType", "text")
    test = str(condition.get("type") or "contains")
    if kind == "number":
        return _number_mask(values, test if test in NUMBER_TESTS else "equals", condition.get("filter"),
                            condition.get("filterTo"))
    return _text_mask(values, test if test in TEXT_TESTS else "contains", str(condition.get("filter") or ""))


def filter_rows(df: pd.DataFrame, filter_model: dict | None) -> pd.DataFrame:
    """The rows of ``df`` that pass an AG Grid filter model (text and
    number filters, one condition or two joined by AND / OR); fields that
    are not columns of ``df`` are ignored.

    >>> df = pd.DataFrame({"obs": [1, 2, 3], "status": ["OK", "FAIL", "WARN"]})
    >>> filter_rows(df, {"obs": {"filterType": "number", "type": "greaterThan", "filter": 1},
    ...                  "status": {"filterType": "text", "type": "contains", "filter": "ai"}})["obs"].tolist()
    [2]
    """
    if not filter_model or not isinstance(filter_model, dict):
        return df
    keep = np.ones(len(df), dtype=bool)
    for field, model in filter_model.items():
        if field not in df.columns or not isinstance(model, dict):
            continue
        conditions = model.get("conditions")
        if isinstance(conditions, list) and conditions:
            masks = [_condition_mask(df[field], c) for c in conditions if isinstance(c, dict)]
            if masks:
                joined = np.logical_or.reduce(masks) if model.get("operator") == "OR" else np.logical_and.reduce(masks)
                keep &= joined
            continue
        keep &= _condition_mask(df[field], model)
    return df[keep]


def sort_rows(df: pd.DataFrame, sort_model: list | None, default: list[str] | None = None) -> pd.DataFrame:
    """``df`` in the order of an AG Grid sort model (``[{"colId", "sort"}]``),
    else by ``default`` columns; missing values last."""
    keys, ascending = [], []
    for item in sort_model or []:
        if isinstance(item, dict) and item.get("colId") in df.columns:
            keys.append(item["colId"])
            ascending.append(item.get("sort") != "desc")
    if not keys:
        keys = [c for c in (default or []) if c in df.columns]
        ascending = [True] * len(keys)
    if not keys:
        return df
    return df.sort_values(keys, ascending=ascending, kind="stable", na_position="last")


def rows_block(df: pd.DataFrame, request: dict | None, *, default_sort: list[str] | None = None,
               limit: int = 1000) -> tuple[pd.DataFrame, int]:
    """The block of rows a ``getRowsRequest`` asks for (at most ``limit``)
    and how many rows pass its filters."""
    request = request or {}
    chosen = sort_rows(filter_rows(df, request.get("filterModel")), request.get("sortModel"), default_sort)
    try:
        start = max(0, int(request.get("startRow") or 0))
        end_row = request.get("endRow")
        end = max(start, int(end_row if end_row is not None else start + 100))
    except (TypeError, ValueError):
        start, end = 0, 100
    return chosen.iloc[start:min(end, start + int(limit))], len(chosen)
