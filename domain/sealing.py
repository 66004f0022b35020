"""Seals: a job's evidence, signed with the server's key when the customer signs and when the job completes.

A seal's payload is a canonical snapshot of the job's record (what was found, done and used, when and where) plus,
for a signature, the hash of the signature image. The canonical bytes (sorted keys, no spaces, UTF-8) are signed
with Ed25519; the `Seal` row that keeps them is itself in the audit chain.

Checking a seal answers two questions and names every finding:
- Is the seal as it was made? The signature over the payload must verify with a key of this server; a payload
  edited in the certificate, or signed by another key, fails here.
- Is the record still what was sealed? The job's current snapshot is compared with the sealed one, item by item:
  an item changed or removed since is an alteration; an item recorded after the seal is only reported. A time entry
  still running when sealed may have stopped since. The signature image's bytes must still hash to the sealed hash.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature
from sqlalchemy.ext.asyncio import AsyncSession

from domain import models as m
from domain.enums import SealKind
from domain.keys import ServerKeys

FORMAT = "fieldwork.seal.v1"


def _at(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds") if value is not None else None


def canonical(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


async def job_snapshot(
    session: AsyncSession, job: m.Job, *, completion_id: uuid.UUID | None = None
) -> dict[str, Any]:
    """The job's evidence as plain JSON values, each item keyed by its id (or, for answers, by its name).

    The completion is the one that stands, or the one named (a seal of a reopened job's earlier completion is
    checked against that completion, which is kept)."""

    async def rows(model: Any) -> list[Any]:
        return list(await session.scalars(sa.select(model).where(model.job_id == job.id)))

    site = await session.get_one(m.Site, job.site_id)
    service_type = await session.get(m.ServiceType, job.service_type_id) if job.service_type_id else None
    signature = await session.scalar(sa.select(m.JobSignature).where(m.JobSignature.job_id == job.id))
    completions = sa.select(m.JobCompletion).where(m.JobCompletion.job_id == job.id)
    completion = await session.scalar(
        completions.where(m.JobCompletion.id == completion_id)
        if completion_id is not None
        else completions.where(m.JobCompletion.superseded_at.is_(None))
    )
    return {
        "job": {
            "id": str(job.id),
            "service_type": service_type.code if service_type else None,
            "description": job.description,
            "site": {"latitude": site.latitude, "longitude": site.longitude},
        },
        "answers": {v.name: v.value for v in await rows(m.JobFieldValue)},
        "notes": {
            str(n.id): {"body": n.body, "written_at": _at(n.written_at)} for n in await rows(m.JobNote)
        },
        "parts": {str(p.id): {"part": p.part, "quantity": p.quantity} for p in await rows(m.JobPartLine)},
        "photos": {
            str(p.id): {"sha256": p.sha256, "caption": p.caption, "taken_at": _at(p.taken_at)}
            for p in await rows(m.JobPhoto)
        },
        "time": {
            str(t.id): {
                "started_at": _at(t.started_at),
                "ended_at": _at(t.ended_at),
                "clock_offset_s": t.clock_offset_s,
            }
            for t in await rows(m.TimeEntry)
        },
        "signature": (
            {
                "sha256": signature.sha256,
                "signer_name": signature.signer_name,
                "captured_at": _at(signature.captured_at),
                "latitude": signature.latitude,
                "longitude": signature.longitude,
            }
            if signature is not None
            else None
        ),
        "completion": (
            {
                "id": str(completion.id),
                "outcome": completion.outcome.value,
                "follow_up_reason": completion.follow_up_reason,
                "summary": completion.summary,
                "completed_at": _at(completion.completed_at),
                "reported_at": _at(completion.reported_at),
                "latitude": completion.latitude,
                "longitude": completion.longitude,
                "on_site_s": completion.on_site_s,
                "travel_s": completion.travel_s,
            }
            if completion is not None
            else None
        ),
    }


async def snapshot_like(session: AsyncSession, job: m.Job, sealed: Mapping[str, Any]) -> dict[str, Any]:
    """The job's record now, to compare with a sealed one: with the completion the seal names, if it names one."""
    named = (sealed.get("completion") or {}).get("id")
    try:
        completion_id = uuid.UUID(str(named)) if named else None
    except ValueError:
        completion_id = None
    return await job_snapshot(session, job, completion_id=completion_id)


def seal_document(seal: m.Seal) -> dict[str, Any]:
    """What a certificate carries of a seal: enough to check it anywhere that knows the server's public key."""
    return {"format": FORMAT, "key_id": seal.key_id, "payload": seal.payload, "signature": seal.signature}


async def seal_job(
    session: AsyncSession, keys: ServerKeys, job: m.Job, kind: SealKind, *, now: dt.datetime
) -> m.Seal:
    """Snapshot the job as it stands in this transaction and sign it; the new row joins the audit chain."""
    await session.flush()
    payload = {
        "format": FORMAT,
        "kind": kind.value,
        "job_id": str(job.id),
        "sealed_at": _at(now),
        "record": await job_snapshot(session, job),
    }
    data = canonical(payload)
    seal = m.Seal(
        id=uuid.uuid4(),
        job_id=job.id,
        kind=kind,
        payload=payload,
        digest=hashlib.sha256(data).hexdigest(),
        signature=base64.b64encode(keys.seal.sign(data)).decode(),
        key_id=keys.seal_key_id,
        sealed_at=now,
    )
    session.add(seal)
    return seal


@dataclass(slots=True)
class Findings:
    """What a check found. `altered` makes the seal fail; `added` is reported only."""

    altered: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.altered


def check_signature(keys: ServerKeys, document: Mapping[str, Any]) -> str | None:
    """None when the document is a seal of this server's, as it was signed; otherwise what is wrong with it."""
    if document.get("format") != FORMAT or not isinstance(document.get("payload"), dict):
        return "the certificate carries no readable seal"
    key = keys.public_key(str(document.get("key_id")))
    if key is None:
        return f"the seal was made with a key this server does not know ({document.get('key_id')})"
    try:
        key.verify(
            base64.b64decode(str(document.get("signature")), validate=True), canonical(document["payload"])
        )
    except (InvalidSignature, ValueError):
        return "the certificate's sealed content was altered: its seal no longer matches it"
    return None


_LABELS = {
    "answers": "checklist answer",
    "notes": "note",
    "parts": "part line",
    "photos": "photo",
    "time": "time entry",
}


def _describe(section: str, key: str, item: Any) -> str:
    label = _LABELS[section]
    if section == "parts" and isinstance(item, dict):
        return f"{label} '{item.get('part')}' ({key[:8]})"
    if section == "answers":
        return f"{label} '{key}'"
    return f"{label} {key[:8]}"


def _still_running(section: str, sealed: Any, now: Any) -> bool:
    """A time entry that was running when sealed and has stopped since, with nothing else changed."""
    if section != "time" or not isinstance(sealed, dict) or not isinstance(now, dict):
        return False
    return sealed.get("ended_at") is None and {**now, "ended_at": None} == sealed


def compare(sealed: Mapping[str, Any], current: Mapping[str, Any]) -> Findings:
    """Every difference between a sealed record and the record now, in words a dispatcher can act on."""
    found = Findings()
    for name in ("service_type", "description", "site"):
        if sealed["job"].get(name) != current["job"].get(name):
            found.altered.append(
                f"job {name.replace('_', ' ')}: sealed {sealed['job'].get(name)!r}, now {current['job'].get(name)!r}"
            )
    for section in _LABELS:
        before, after = sealed.get(section) or {}, current.get(section) or {}
        for key, item in before.items():
            if key not in after:
                found.altered.append(f"{_describe(section, key, item)} was removed")
            elif after[key] != item and not _still_running(section, item, after[key]):
                changes = (
                    ", ".join(
                        f"{k}: {item.get(k)!r} -> {after[key].get(k)!r}"
                        for k in sorted(set(item) | set(after[key]))
                        if item.get(k) != after[key].get(k)
                    )
                    if isinstance(item, dict) and isinstance(after[key], dict)
                    else f"{item!r} -> {after[key]!r}"
                )
                found.altered.append(f"{_describe(section, key, item)} was changed ({changes})")
        for key, item in after.items():
            if key not in before:
                found.added.append(f"{_describe(section, key, item)} was recorded after the seal")
    for block in ("signature", "completion"):
        was, now = sealed.get(block), current.get(block)
        if was is None:
            if now is not None:
                found.added.append(f"the {block} was recorded after the seal")
            continue
        if now is None:
            found.altered.append(f"the {block} was removed")
            continue
        for k in sorted(set(was) | set(now)):
            if was.get(k) != now.get(k):
                what = "signature image" if (block, k) == ("signature", "sha256") else f"{block} {k}"
                found.altered.append(f"{what}: sealed {was.get(k)!r}, now {now.get(k)!r}")
    return found


def check_image(sealed_sha256: str, image: bytes | None) -> str | None:
    """The signature image's bytes against the sealed hash; None when they match."""
    if image is None:
        return "the signature image is missing from storage"
    actual = hashlib.sha256(image).hexdigest()
    if actual != sealed_sha256:
        return f"the signature image was altered: its bytes hash to {actual[:16]}..., sealed {sealed_sha256[:16]}..."
    return None
