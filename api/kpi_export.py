"""ExportKpis as CSV: one tidy table (a row per KPI and scope) that a spreadsheet can pivot, with the same figures
as GetKpis: the period, each week of the trend, each territory and each service type."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from domain.kpis.definitions import BY_KEY
from domain.kpis.report import KpiReport

COLUMNS = ("scope", "group_id", "group", "kpi", "label", "unit", "value", "target", "met", "sample")

Row = tuple[object, ...]


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _met(key: str, value: float | None, target: float) -> bool | None:
    return None if value is None else BY_KEY[key].meets(value, target)


def _rows(report: KpiReport) -> Iterator[Row]:
    targets = {k.key: k.target for k in report.kpis}
    period = f"{report.start.isoformat()}..{report.end.isoformat()}"
    for k in report.kpis:
        yield ("period", "", period, k.key, k.label, k.unit.value, k.value, k.target, k.met, k.sample)
    for i, week in enumerate(report.weeks):
        for k in report.kpis:
            value = k.trend[i]
            met = _met(k.key, value, k.target)
            yield ("week", "", week.isoformat(), k.key, k.label, k.unit.value, value, k.target, met, "")
    for scope, groups in (("territory", report.territories), ("service_type", report.service_types)):
        for g in groups:
            for key, value in g.values.items():
                definition = BY_KEY[key]
                met = _met(key, value, targets[key])
                yield (
                    scope,
                    g.id or "",
                    g.name,
                    key,
                    definition.label,
                    definition.unit.value,
                    value,
                    targets[key],
                    met,
                    g.sample,
                )


def to_csv(report: KpiReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows([_cell(v) for v in row] for row in _rows(report))
    return out.getvalue()
