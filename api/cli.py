"""The `fieldwork` command line: serve, migrate, seed, manage users, plan a day, verify the audit chain and
completion certificates, run the early warnings or the KPI tallies' refresh once."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import os
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.settings import Settings
from domain import demo, migrate
from domain import models as m
from domain.audit import verify_chain
from domain.db import create_engine
from domain.enums import Role
from domain.errors import DomainError
from domain.services.directory import create_user
from domain.session import AuditedSession


def _sessionmaker(url: str) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(create_engine(url), expire_on_commit=False, sync_session_class=AuditedSession)


async def _seed(url: str, only_if_empty: bool) -> int:
    maker = _sessionmaker(url)
    async with maker() as session:
        session.info["actor"] = "cli:seed"
        if not await demo.is_empty(session):
            if only_if_empty:
                print("database already has data; demo seed skipped")
                return 0
            print("refusing to seed: the database is not empty", file=sys.stderr)
            return 1
        counts = await demo.seed(session)
        await session.commit()
    async with maker() as session:
        # Fresh tables have no statistics: without them PostgreSQL plans the KPI queries for empty tables (seconds
        # instead of a fraction of one) until autovacuum comes round.
        await (await session.connection()).exec_driver_sql("ANALYZE")
        await session.commit()
    print("demo data seeded: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    return 0


async def _create_user(url: str, args: argparse.Namespace) -> int:
    password = args.password or os.environ.get("FIELDWORK_PASSWORD") or getpass.getpass("password: ")
    maker = _sessionmaker(url)
    async with maker() as session:
        session.info["actor"] = "cli:create-user"
        territory_ids = []
        for code in args.territory or []:
            territory = await session.scalar(sa.select(m.Territory).where(m.Territory.code == code))
            if territory is None:
                print(f"no territory with code {code!r}", file=sys.stderr)
                return 1
            territory_ids.append(territory.id)
        try:
            user = await create_user(
                session,
                email=args.email,
                full_name=args.name or args.email,
                password=password,
                role=Role(args.role),
                technician_id=args.technician_id,
                territory_ids=territory_ids,
            )
        except DomainError as exc:
            print(f"cannot create the user: {exc.detail}", file=sys.stderr)
            return 1
        await session.commit()
    print(f"created {user.role} {user.email} ({user.id})")
    return 0


async def _plan(url: str, args: argparse.Namespace) -> int:
    import datetime as dt

    from api.planning.command import plan_territory

    day = args.day or dt.date.today() + dt.timedelta(days=1)
    if args.time_limit <= 0:
        print("--time-limit must be positive", file=sys.stderr)
        return 2
    return await plan_territory(
        _sessionmaker(url), args.territory, day, days=args.days, time_limit=args.time_limit, seed=args.seed
    )


async def _verify_audit(url: str) -> int:
    maker = _sessionmaker(url)
    async with maker() as session:
        head = await session.get(m.AuditHead, 1)
        rows = await session.stream_scalars(sa.select(m.AuditEntry).order_by(m.AuditEntry.seq))
        report = verify_chain([row async for row in rows], head)
    if report.ok:
        print(f"audit chain intact: {report.entries} entries")
        return 0
    print(f"audit chain BROKEN at entry {report.broken_at}: {report.problem}", file=sys.stderr)
    return 2


def _verify_certificate(url: str, path: str, as_json: bool) -> int:
    """Exit 0 when every seal holds, 1 when something was altered, 2 when nothing could be checked."""
    import msgspec

    from api.certificates import UnreadableCertificate, read_seals
    from api.certificates.verification import VerificationReport, check_seals, report_text
    from domain.keys import load_or_create
    from sync.storage import LocalBlobStore

    try:
        embedded = read_seals(Path(path).read_bytes())
    except OSError as exc:
        print(f"cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 2
    except UnreadableCertificate as exc:
        print(f"{path} cannot be checked: {exc.detail}", file=sys.stderr)
        return 2
    # The override only spares creating a JWT secret, which checking a certificate never uses.
    data_dir = Settings.from_env(jwt_secret="unused").data_dir
    if not (data_dir / "keys").is_dir():
        # Making a new key here would only fail every seal as made by an unknown key.
        print(
            f"no server keys in {data_dir / 'keys'}: set FIELDWORK_DATA_DIR to the server's data directory",
            file=sys.stderr,
        )
        return 2
    keys = load_or_create(data_dir / "keys")
    blob_store = LocalBlobStore(data_dir / "attachments")

    async def check() -> VerificationReport:
        engine = create_engine(url)
        try:
            maker = async_sessionmaker(engine, expire_on_commit=False, sync_session_class=AuditedSession)
            async with maker() as session:
                return await check_seals(session, keys, blob_store, embedded)
        finally:
            await engine.dispose()

    report = asyncio.run(check())
    print(msgspec.json.encode(report).decode() if as_json else report_text(report))
    return 0 if report.valid else 1


async def _sync_maintain(url: str, horizon_days: int) -> int:
    import datetime as dt

    from sync.scope import maintain

    async with _sessionmaker(url)() as session:
        done = await maintain(session, dt.datetime.now(dt.UTC), dt.timedelta(days=horizon_days))
        await session.commit()
    print(
        f"revoked {done.revoked} finished jobs from scopes; pruned {done.pruned_tombstones} tombstones and "
        f"{done.pruned_grants} revokes; cursors below version {done.pruned_below} must reset"
    )
    return 0


@contextlib.asynccontextmanager
async def _sessions(url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on an engine of their own, disposed of afterwards (its pooled connections closed)."""
    engine = create_engine(url)
    try:
        yield async_sessionmaker(engine, expire_on_commit=False, sync_session_class=AuditedSession)
    finally:
        await engine.dispose()


async def _warnings(url: str) -> int:
    import datetime as dt

    from api.warning_watch import evaluate_once

    async with _sessions(url) as maker:
        report = await evaluate_once(maker, now=dt.datetime.now(dt.UTC))
    print(
        f"early warnings: {report.raised} raised ({report.notified} e-mails queued), {report.updated} updated, "
        f"{report.cleared} cleared, {report.open} open"
    )
    return 0


async def _kpis_refresh(url: str) -> int:
    import datetime as dt

    from api.kpi_tallies import refresh_kpis_once

    async with _sessions(url) as maker:
        stored_until = await refresh_kpis_once(maker, now=dt.datetime.now(dt.UTC))
    print(f"KPI daily tallies up to date: every day before {stored_until} is stored")
    return 0


def _serve(settings: Settings) -> int:
    import uvicorn

    base = f"http://{settings.host}:{settings.port}"
    print(f"fieldwork serving on {base}")
    print(f"  dispatcher board: {base}/board")
    print(f"  API docs:      {base}/schema   (OpenAPI JSON at {base}/schema/openapi.json)")
    print(
        "  demo logins:   admin@example.com, dispatcher@example.com, tech01@example.com ... tech25@example.com"
    )
    print(f"  demo password: {demo.DEMO_PASSWORD}   (POST {base}/api/auth/token)")
    uvicorn.run("api.app:create_app", factory=True, host=settings.host, port=settings.port, log_level="info")
    return 0


def _solve(args: argparse.Namespace) -> int:
    from scheduling.plan import Plan
    from scheduling.problem import ProblemError, load_problem
    from scheduling.solomon import SCALE, parse_solomon
    from scheduling.solver import solve

    text = Path(args.path).read_bytes()
    try:
        problem = parse_solomon(text.decode()) if args.format == "solomon" else load_problem(text)
    except (ProblemError, ValueError, StopIteration) as exc:
        print(f"cannot read {args.path}: {exc}", file=sys.stderr)
        return 1
    plan: Plan = solve(problem, time_limit=args.time_limit, seed=args.seed)
    scale = SCALE if args.format == "solomon" else 1

    def t(value: int) -> float | int:
        return value / scale if scale != 1 else value

    output = {
        "routes": [
            {
                "technician": r.technician,
                "shift": r.shift,
                "stops": [
                    {"id": s.job, "arrival": t(s.arrival), "start": t(s.start), "end": t(s.end)}
                    for s in r.stops
                ],
                "breaks": [{"start": t(b.start), "end": t(b.end)} for b in r.breaks],
                "distance": r.distance / scale,
            }
            for r in plan.routes
        ],
        "unassigned": [{"id": u.job, "reasons": list(u.reasons)} for u in plan.unassigned],
        "totals": {
            "distance": round(plan.totals.distance / scale, 4),
            "travel_time": t(plan.totals.travel_time),
            "vehicles_used": plan.totals.vehicles_used,
            "assigned": plan.totals.assigned,
            "unassigned": plan.totals.unassigned,
        },
    }
    print(json.dumps(output, indent=2))
    print(
        f"{plan.totals.assigned} jobs on {plan.totals.vehicles_used} routes, {len(plan.unassigned)} unassigned, "
        f"distance {plan.totals.distance / scale:.2f}, first plan {plan.first_solution_ms} ms, "
        f"solved in {plan.solve_ms} ms",
        file=sys.stderr,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fieldwork", description=__doc__)
    parser.add_argument("--database-url", help="overrides DATABASE_URL (default sqlite:///./fieldwork.db)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="serve the API (HOST and PORT override 127.0.0.1:8000)")
    db = sub.add_parser("db", help="database schema")
    db.add_argument("action", choices=["upgrade"], help="apply every migration")
    seed = sub.add_parser("seed", help="load the demo operation into an empty database")
    seed.add_argument("--if-empty", action="store_true", help="do nothing (and succeed) when data exists")
    user = sub.add_parser("create-user", help="create a staff account")
    user.add_argument("email")
    user.add_argument("--role", choices=[r.value for r in Role], required=True)
    user.add_argument("--name")
    user.add_argument("--password", help="or FIELDWORK_PASSWORD, or asked for")
    user.add_argument("--technician-id", type=__import__("uuid").UUID)
    user.add_argument("--territory", action="append", help="territory code, for a dispatcher (repeatable)")
    solve = sub.add_parser("solve", help="solve a scheduling problem file and print the plan as JSON")
    solve.add_argument("path")
    solve.add_argument("--format", choices=["json", "solomon"], default="json")
    solve.add_argument("--time-limit", type=float, default=10.0, help="seconds (default 10)")
    solve.add_argument("--seed", type=int, default=0)
    plan = sub.add_parser("plan", help="plan a territory's day from the database and print the summary")
    plan.add_argument("territory", help="territory code, e.g. lyon-north")
    plan.add_argument(
        "--day", type=__import__("datetime").date.fromisoformat, help="YYYY-MM-DD (default tomorrow)"
    )
    plan.add_argument("--days", type=int, default=1, choices=range(1, 8), metavar="1..7")
    plan.add_argument("--time-limit", type=float, default=10.0, help="seconds (default 10)")
    plan.add_argument("--seed", type=int, default=0)
    audit = sub.add_parser("audit", help="the audit chain")
    audit.add_argument("action", choices=["verify"], help="recompute every link of the chain")
    sync = sub.add_parser("sync", help="offline sync housekeeping")
    sync.add_argument(
        "action", choices=["maintain"], help="drop old finished jobs from scopes, prune old tombstones"
    )
    sync.add_argument("--horizon-days", type=int, default=90, help="tombstones kept this long (default 90)")
    sub.add_parser(
        "warnings", help="evaluate the early warnings once (what the server's watch does every minute)"
    )
    kpis = sub.add_parser("kpis", help="the KPIs' daily tallies")
    kpis.add_argument(
        "action",
        choices=["refresh"],
        help="count the days gone stale again (the server's watch does it every minute; after an upgrade or a bulk "
        "load of events, this does it before the first report has to)",
    )
    check = sub.add_parser(
        "verify-certificate",
        help="check a completion certificate (HTML or PDF) against the database; exit 0 valid, 1 altered, 2 unreadable",
    )
    check.add_argument("file", help="the certificate file as it was issued")
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.database_url:
        os.environ["DATABASE_URL"] = args.database_url
    url = os.environ.get("DATABASE_URL", "sqlite:///./fieldwork.db")
    match args.command:
        case "serve":
            return _serve(Settings.from_env())
        case "db":
            migrate.upgrade(url)
            print("database schema is up to date")
            return 0
        case "seed":
            return asyncio.run(_seed(url, args.if_empty))
        case "create-user":
            return asyncio.run(_create_user(url, args))
        case "solve":
            return _solve(args)
        case "audit":
            return asyncio.run(_verify_audit(url))
        case "plan":
            return asyncio.run(_plan(url, args))
        case "sync":
            if args.horizon_days < 1:
                print("--horizon-days must be at least 1", file=sys.stderr)
                return 2
            return asyncio.run(_sync_maintain(url, args.horizon_days))
        case "verify-certificate":
            return _verify_certificate(url, args.file, args.json)
        case "warnings":
            return asyncio.run(_warnings(url))
        case "kpis":
            return asyncio.run(_kpis_refresh(url))
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
