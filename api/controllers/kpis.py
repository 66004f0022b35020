"""KPIs for dispatchers and managers: the figures, their export, and the settings behind them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Annotated, Literal

import msgspec
from litestar import Controller, MediaType, Response, get, patch
from litestar.datastructures import State
from litestar.di import Provide
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import ADMIN, OFFICE
from api.kpi_charts import report_charts
from api.kpi_export import to_csv
from api.kpi_tallies import refresh_kpis_once
from api.schemas.kpis import GroupOut, KpiFiltersOut, KpiOut, KpiReportOut, KpiSettingsOut, KpiSettingsPatch
from domain import models as m
from domain.kpis.definitions import DEFINITIONS, targets
from domain.kpis.report import MAX_WEEKS, KpiQuery, KpiReport, kpi_report
from domain.principal import Principal
from domain.services import kpi_settings

Start = Annotated[
    dt.date | None,
    Parameter(query="from", description="First local date of the period (default: 27 days before `to`)"),
]
End = Annotated[
    dt.date | None,
    Parameter(query="to", description="Last local date of the period, included (default: today, local)"),
]
Weeks = Annotated[
    int, Parameter(ge=1, le=MAX_WEEKS, description="Weeks of trend, ending with the week of `to`")
]


async def provide_report(
    state: State,
    principal: Principal,
    db_session: AsyncSession,
    start: Start = None,
    end: End = None,
    weeks: Weeks = 8,
    territory_id: uuid.UUID | None = None,
    service_type_id: uuid.UUID | None = None,
    technician_id: uuid.UUID | None = None,
) -> KpiReport:
    """The report the query asks for: GetKpis, ExportKpis and GetKpiCharts share its parameters and its errors."""
    query = KpiQuery(start, end, weeks, territory_id, service_type_id, technician_id)
    now = dt.datetime.now(dt.UTC)
    # In a transaction of its own, as a writer: the report's own only reads.
    await refresh_kpis_once(state.sessionmaker, now=now, write_lock=state.sqlite_writers)
    return await kpi_report(db_session, principal, query, now=now, refresh=False)


def report_out(report: KpiReport) -> KpiReportOut:
    return KpiReportOut(
        start=report.start,
        end=report.end,
        weeks=report.weeks,
        kpis=[KpiOut(**dataclasses.asdict(k)) for k in report.kpis],
        territories=[GroupOut(**dataclasses.asdict(g)) for g in report.territories],
        service_types=[GroupOut(**dataclasses.asdict(g)) for g in report.service_types],
        filters=KpiFiltersOut(**report.filters),
        first_fix_window_days=report.first_fix_window_days,
        labour_rate_cents_per_hour=report.labour_rate_cents_per_hour,
        travel_rate_cents_per_km=report.travel_rate_cents_per_km,
        currency=report.currency,
        computed_at=report.computed_at,
    )


def settings_out(row: m.KpiSettings) -> KpiSettingsOut:
    return KpiSettingsOut(
        first_fix_window_days=row.first_fix_window_days,
        labour_rate_cents_per_hour=row.labour_rate_cents_per_hour,
        travel_rate_cents_per_km=row.travel_rate_cents_per_km,
        currency=row.currency,
        targets=targets(row.targets),
        default_targets={d.key: d.target for d in DEFINITIONS},
        updated_at=row.updated_at,
    )


class KpiController(Controller):
    path = "/api/kpis"
    tags = ["kpis"]
    guards = [OFFICE]
    dependencies = {"report": Provide(provide_report)}

    @get(
        operation_id="GetKpis",
        summary="Every KPI over a period, with its target, its weekly trend and the worst groups",
        description=(
            "Computed from the recorded events at the time of asking (docs/kpis.md has each rule). A dispatcher's "
            "figures cover their territories; a territory or technician they cannot see is a 404. Dates are local "
            "to each territory."
        ),
    )
    async def get_kpis(self, report: KpiReport) -> KpiReportOut:
        return report_out(report)

    @get(
        "/export",
        operation_id="ExportKpis",
        summary="The same figures as a file: CSV (a row per KPI and period, week, territory or service type) or JSON",
        media_type="text/csv",
    )
    async def export_kpis(
        self,
        report: KpiReport,
        file_format: Annotated[Literal["csv", "json"], Parameter(query="format")] = "csv",
    ) -> Response[bytes]:
        name = f"kpis-{report.start.isoformat()}-{report.end.isoformat()}.{file_format}"
        headers = {"Content-Disposition": f'attachment; filename="{name}"'}
        if file_format == "json":
            body = msgspec.json.encode(report_out(report))
            return Response(body, media_type=MediaType.JSON, headers=headers)
        return Response(to_csv(report).encode(), media_type="text/csv", headers=headers)

    @get(
        "/charts",
        operation_id="GetKpiCharts",
        summary="Each KPI's weekly trend drawn as a small SVG (points, dashed target line), for the same query",
        description=(
            "An object from KPI key to a standalone, accessible SVG document (a `<title>` and a `<desc>` saying "
            "the figures in words). The same query, scoping and errors as GetKpis."
        ),
    )
    async def get_kpi_charts(self, report: KpiReport) -> dict[str, str]:
        return report_charts(report)

    @get(
        "/settings",
        operation_id="GetKpiSettings",
        summary="The KPI targets, the first-fix window and the rates that price a visit",
    )
    async def get_settings(self, db_session: AsyncSession) -> KpiSettingsOut:
        return settings_out(await kpi_settings.current(db_session))

    @patch(
        "/settings",
        operation_id="SetKpiSettings",
        guards=[ADMIN],
        summary="Change targets, the first-fix window or the rates (admin); a target set to null is the default again",
    )
    async def set_settings(self, data: KpiSettingsPatch, db_session: AsyncSession) -> KpiSettingsOut:
        changes = {f: getattr(data, f) for f in data.__struct_fields__ if getattr(data, f) is not None}
        return settings_out(await kpi_settings.update(db_session, changes))
