"""The web pages the service serves itself: one small file each, no build step, data through the API."""

from __future__ import annotations

from pathlib import Path

from litestar import Controller, MediaType, Response, get

PAGES = Path(__file__).resolve().parent.parent / "pages"
BOARD = (PAGES / "board.html").read_text(encoding="utf-8")
KPIS = (PAGES / "kpis.html").read_text(encoding="utf-8")


class PageController(Controller):
    tags = ["pages"]

    @get(
        "/board",
        operation_id="GetDispatcherBoard",
        summary="The dispatcher board (sign in on the page; its data comes from the API with the token)",
        media_type=MediaType.HTML,
        include_in_schema=False,
    )
    async def board(self) -> Response[str]:
        return Response(BOARD, media_type=MediaType.HTML, headers={"Cache-Control": "no-cache"})

    @get(
        "/kpis",
        operation_id="GetKpiPage",
        summary="The KPI page (sign in on the page; figures, charts and exports come from the API with the token)",
        media_type=MediaType.HTML,
        include_in_schema=False,
        # The page itself holds no data: like /board, it is served to anyone and signs in with the API.
        opt={"exclude_from_auth": True},
    )
    async def kpis(self) -> Response[str]:
        return Response(KPIS, media_type=MediaType.HTML, headers={"Cache-Control": "no-cache"})
