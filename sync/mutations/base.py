"""What every mutation handler gets and gives back, and the checks they share."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain import models as m
from domain.keys import ServerKeys
from domain.principal import Principal
from sync import review
from sync.protocol import MutationIn, Result

Epoch = Annotated[int, msgspec.Meta(ge=1, le=2**31)]
Sha256 = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]
DeviceTime = Annotated[dt.datetime, msgspec.Meta(tz=True)]
Latitude = Annotated[float, msgspec.Meta(ge=-90, le=90)]
Longitude = Annotated[float, msgspec.Meta(ge=-180, le=180)]


class Args(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The arguments of one mutation name; unknown fields are refused like everywhere at the boundary."""


class JobArgs(Args, frozen=True):
    job_id: uuid.UUID
    # The assignment epoch the device held when the technician acted.
    epoch: Epoch


class Rejected(Exception):
    """A domain refusal: recorded with its code, the mutation is consumed and the queue moves on."""

    def __init__(self, code: str, detail: str, *, flag: str | None = None) -> None:
        super().__init__(detail)
        self.code, self.detail, self.flag = code, detail, flag


@dataclass(frozen=True, slots=True)
class Outcome:
    result: Result = "applied"
    code: str | None = None
    detail: str | None = None
    flag: str | None = None


APPLIED = Outcome()


@dataclass(slots=True)
class Batch:
    """What one push learns once and every mutation in it reuses."""

    # Jobs the technician holds or held (job -> in scope now), read once per push.
    granted: dict[uuid.UUID, bool]
    # Jobs this push has read, kept here (the session holds its objects weakly); `locked` are those read under a
    # lock, as they are (status moves need that; evidence only needs the epoch).
    jobs: dict[uuid.UUID, m.Job] = field(default_factory=dict)
    locked: set[uuid.UUID] = field(default_factory=set)
    # The rows the batch's device-chosen ids name (None: no such row yet), read in one query per table; rows the
    # batch makes or removes update it. Sparing a query per mutation lets the writes go to the database together.
    records: dict[type[Any], dict[uuid.UUID, Any]] = field(default_factory=dict)


# The ids a device chooses for the records it makes, by argument name.
DEVICE_IDS: dict[str, type[Any]] = {
    "note_id": m.JobNote,
    "photo_id": m.JobPhoto,
    "line_id": m.JobPartLine,
    "entry_id": m.TimeEntry,
}


async def prefetch_records(
    session: AsyncSession, mutations: list[MutationIn]
) -> dict[type[Any], dict[uuid.UUID, Any]]:
    wanted: dict[type[Any], set[uuid.UUID]] = {}
    for mutation in mutations:
        for key, model in DEVICE_IDS.items():
            value = mutation.args.get(key)
            if isinstance(value, str):
                try:
                    wanted.setdefault(model, set()).add(uuid.UUID(value))
                except ValueError:
                    continue  # the mutation's own check refuses it
    records: dict[type[Any], dict[uuid.UUID, Any]] = {}
    for model, ids in wanted.items():
        found: dict[uuid.UUID, Any] = dict.fromkeys(ids)
        ordered = sorted(ids)
        for start in range(0, len(ordered), 500):
            for row in await session.scalars(
                sa.select(model).where(model.id.in_(ordered[start : start + 500]))
            ):
                found[row.id] = row
        records[model] = found
    return records


async def find(ctx: Context, model: type[Any], row_id: uuid.UUID) -> Any:
    known = ctx.batch.records.get(model, {})
    if row_id in known:
        return known[row_id]
    return await ctx.session.get(model, row_id)


def remember(ctx: Context, model: type[Any], row_id: uuid.UUID, row: Any) -> None:
    ctx.batch.records.setdefault(model, {})[row_id] = row


@dataclass(slots=True)
class Context:
    session: AsyncSession
    principal: Principal
    technician_id: uuid.UUID
    device: m.SyncDevice
    mutation: MutationIn
    now: dt.datetime
    batch: Batch
    # The server's keys: a signature or a completion is sealed as it is applied.
    keys: ServerKeys
    # When the device says the technician acted (`client_ts`): kept as data, never used to order anything.
    reported_at: dt.datetime | None = None
    job_id: uuid.UUID | None = None

    async def flag(self, code: str, detail: str) -> None:
        await review.flag(
            self.session,
            code=code,
            detail=detail,
            technician_id=self.technician_id,
            device_id=self.device.device_id,
            mutation_id=self.mutation.id,
            mutation_name=self.mutation.name,
            job_id=self.job_id,
            args=self.mutation.args,
        )


A = TypeVar("A", bound=Args)
Handler = Callable[[Context, Any], Awaitable[Outcome]]


@dataclass(frozen=True, slots=True)
class Mutation:
    name: str
    args: type[Args]
    handle: Handler


REGISTRY: dict[str, Mutation] = {}


def mutation(name: str, args: type[A]) -> Callable[[Callable[[Context, A], Awaitable[Outcome]]], Handler]:
    """Register a handler under its versioned name; a name never changes shape once published."""

    def register(handle: Callable[[Context, A], Awaitable[Outcome]]) -> Handler:
        if name in REGISTRY:
            raise ValueError(f"mutation {name} is registered twice")
        REGISTRY[name] = Mutation(name, args, handle)
        return handle

    return register


async def granted_jobs(session: AsyncSession, technician_id: uuid.UUID) -> dict[uuid.UUID, bool]:
    rows = await session.execute(
        sa.select(m.SyncGrant.job_id, m.SyncGrant.active).where(m.SyncGrant.technician_id == technician_id)
    )
    return {job_id: bool(active) for job_id, active in rows}


async def was_granted(ctx: Context, job_id: uuid.UUID) -> bool:
    """Whether the job is or was in this technician's scope: evidence from then is theirs to give."""
    return job_id in ctx.batch.granted


async def locked_job(ctx: Context, job_id: uuid.UUID) -> m.Job | None:
    """The job, locked against the office's writes until the push commits (read afresh the first time)."""
    if job_id in ctx.batch.locked:
        return ctx.batch.jobs[job_id]
    job = await ctx.session.scalar(
        sa.select(m.Job).where(m.Job.id == job_id).with_for_update().execution_options(populate_existing=True)
    )
    if job is not None:
        ctx.batch.jobs[job_id] = job
        ctx.batch.locked.add(job_id)
    return job


async def job_for_evidence(ctx: Context, args: JobArgs) -> m.Job:
    """The job a piece of evidence belongs to, if the technician ever held it; anyone else's job is unknown."""
    ctx.job_id = args.job_id
    job = ctx.batch.jobs.get(args.job_id) or await ctx.session.get(m.Job, args.job_id)
    if job is not None:
        ctx.batch.jobs[args.job_id] = job
    if job is None or not await was_granted(ctx, args.job_id):
        ctx.job_id = None
        raise Rejected("unknown_job", f"job {args.job_id} is not one of yours")
    current = job.assignment.epoch if job.assignment is not None else 0
    if args.epoch > max(current, 1):
        raise Rejected("bad_epoch", f"epoch {args.epoch} is ahead of the job's assignment ({current})")
    return job


async def append_once(
    ctx: Context, args: JobArgs, model: type[Any], row_id: uuid.UUID, **values: Any
) -> Outcome:
    """Create the technician's record under the id their device chose; the same id again finds it and does
    nothing (a mutation replayed under a new id), an id naming someone else's record is refused."""
    await job_for_evidence(ctx, args)
    existing = await find(ctx, model, row_id)
    if existing is not None:
        if existing.job_id != args.job_id or existing.technician_id != ctx.technician_id:
            raise Rejected("id_taken", f"id {row_id} already names another record")
        return APPLIED
    row = model(id=row_id, job_id=args.job_id, technician_id=ctx.technician_id, **values)
    ctx.session.add(row)
    remember(ctx, model, row_id, row)
    return APPLIED
