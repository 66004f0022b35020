"""Checking a certificate someone hands us: is each seal one this server made, and is the record it sealed still
the record in the database, the signature image still the bytes that were signed?

Each finding is a sentence that names the thing: a changed part line with its old and new quantity, a removed
note, an altered image, a seal whose content was edited in the file. Alterations fail the certificate; what was
recorded after a seal (a part added later) is reported and does not."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Mapping
from typing import Any

import anyio.to_thread
import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from api.certificates.embedding import EmbeddedSeals, read_seals
from api.controllers.sync import snapshot
from domain import models as m
from domain.db import write_intent
from domain.enums import SealKind
from domain.keys import ServerKeys
from domain.sealing import canonical, check_image, check_signature, compare, seal_document, snapshot_like
from sync.storage import BlobStore

# Enough to name what was edited in a forged copy without echoing a whole record back.
MAX_EDITS_NAMED = 20


class SealCheck(msgspec.Struct, frozen=True, kw_only=True):
    """One seal of the certificate and what its check found."""

    kind: str | None
    job_id: str | None
    key_id: str | None
    sealed_at: str | None
    # SHA-256 of the seal's canonical payload as the file carries it (equal to the digest shown when intact).
    digest: str | None
    valid: bool
    # Each makes the seal fail.
    altered: list[str]
    # Recorded after the seal: reported, not a failure.
    added: list[str]
    # The sealed record, only when the seal is genuine: the authoritative content, whatever the page around it says.
    record: dict[str, Any] | None = None


class VerificationReport(msgspec.Struct, frozen=True, kw_only=True):
    valid: bool
    file_format: str
    job_id: str | None
    checked_at: dt.datetime
    seals: list[SealCheck]
    # Every failing finding, each sentence naming its seal.
    altered: list[str]
    added: list[str]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _label(check: SealCheck) -> str:
    kind = check.kind if check.kind in ("signature", "completion") else "unnamed"
    try:
        moment = dt.datetime.fromisoformat(check.sealed_at or "")
    except ValueError:
        return f"{kind} seal"
    return f"{kind} seal of {moment.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC"


def _leaf(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _edits(made: Any, carried: Any, path: str = "") -> list[str]:
    """Where a copy of a seal's payload departs from the payload that was signed, path by path."""
    if isinstance(made, dict) and isinstance(carried, dict):
        found: list[str] = []
        for key in sorted(set(made) | set(carried)):
            name = key[:8] if len(key) == 36 and _uuid(key) else key
            where = f"{path}.{name}" if path else name
            if key not in carried:
                found.append(f"{where} was removed")
            elif key not in made:
                found.append(f"{where} was added ({_leaf(carried[key])})")
            else:
                found += _edits(made[key], carried[key], where)
        return found
    if _leaf(made) != _leaf(carried):
        return [f"{path or 'the payload'}: sealed {_leaf(made)}, in the certificate {_leaf(carried)}"]
    return []


async def _certificate_edits(
    session: AsyncSession, keys: ServerKeys, document: Mapping[str, Any]
) -> list[str]:
    """For a seal whose signature no longer matches: find the seal this server made and name what the file
    changed in it. Nothing when the server never made a seal like it."""
    payload = document.get("payload")
    if not isinstance(payload, dict):
        return []
    made = await session.scalar(sa.select(m.Seal).where(m.Seal.signature == str(document.get("signature"))))
    job_id = _uuid(payload.get("job_id"))
    kind = payload.get("kind")
    if made is None and job_id is not None and kind in {k.value for k in SealKind}:
        same_kind = list(
            await session.scalars(
                sa.select(m.Seal).where(m.Seal.job_id == job_id, m.Seal.kind == SealKind(kind))
            )
        )
        made = same_kind[0] if len(same_kind) == 1 else None
    if made is None or check_signature(keys, seal_document(made)) is not None:
        return []
    found = [
        f"the certificate's copy of the seal was edited: {edit}" for edit in _edits(made.payload, payload)
    ]
    if len(found) > MAX_EDITS_NAMED:
        found = [*found[:MAX_EDITS_NAMED], f"... and {len(found) - MAX_EDITS_NAMED} more edits"]
    if made.key_id != document.get("key_id"):
        found.append(
            f"the certificate names key {document.get('key_id')}; the seal was made with key {made.key_id}"
        )
    elif made.signature != document.get("signature"):
        found.append("the seal's signature in the certificate is not the one this server made")
    return found


async def _image_problem(session: AsyncSession, blob_store: BlobStore, sha256: str) -> str | None:
    if blob_store.has(sha256):
        return check_image(sha256, blob_store.read(sha256))
    uploaded = await session.scalar(
        sa.select(m.Attachment.id).where(m.Attachment.sha256 == sha256, m.Attachment.complete.is_(True))
    )
    if uploaded is None:
        return "the signature image has not reached the server yet, so its bytes cannot be checked"
    return check_image(sha256, None)


async def _check_seal(
    session: AsyncSession,
    keys: ServerKeys,
    blob_store: BlobStore,
    document: Mapping[str, Any],
    certificate_job: str | None,
) -> SealCheck:
    payload = document.get("payload")
    sealed: Mapping[str, Any] = payload if isinstance(payload, dict) else {}
    altered: list[str] = []
    added: list[str] = []
    problem = check_signature(keys, document)
    record: dict[str, Any] | None = None
    if problem is not None:
        altered = [problem, *await _certificate_edits(session, keys, document)]
    else:
        record = sealed["record"]
        job_id = uuid.UUID(sealed["job_id"])
        if certificate_job is not None and certificate_job != sealed["job_id"]:
            altered.append(f"the certificate names job {certificate_job}, but this seal is of job {job_id}")
        job = await session.get(m.Job, job_id)
        if job is None:
            altered.append(f"job {job_id} no longer exists: its record was deleted after the seal")
        else:
            kept = await session.scalar(
                sa.select(m.Seal.id).where(m.Seal.job_id == job_id, m.Seal.signature == document["signature"])
            )
            if kept is None:
                altered.append(
                    "the seal is no longer recorded with the job: it was deleted from the database"
                )
            found = compare(sealed["record"], await snapshot_like(session, job, sealed["record"]))
            altered += found.altered
            added += found.added
        signature = sealed["record"].get("signature")
        if isinstance(signature, dict) and isinstance(signature.get("sha256"), str):
            image = await _image_problem(session, blob_store, signature["sha256"])
            if image is not None:
                altered.append(image)
    return SealCheck(
        kind=_text(sealed.get("kind")),
        job_id=_text(sealed.get("job_id")),
        key_id=_text(document.get("key_id")),
        sealed_at=_text(sealed.get("sealed_at")),
        digest=hashlib.sha256(canonical(sealed)).hexdigest() if sealed else None,
        valid=not altered,
        altered=altered,
        added=added,
        record=record,
    )


async def check_seals(
    session: AsyncSession,
    keys: ServerKeys,
    blob_store: BlobStore,
    embedded: EmbeddedSeals,
    *,
    now: dt.datetime | None = None,
) -> VerificationReport:
    # A check only reads: on SQLite it must not take the write lock (the session begins on its first query).
    reader = write_intent.set(False)
    try:
        # One snapshot for every read, so a write landing mid-check cannot look like tampering.
        await snapshot(session)
        checks = [
            await _check_seal(session, keys, blob_store, document, embedded.job_id)
            for document in embedded.seals
        ]
    finally:
        write_intent.reset(reader)
    return VerificationReport(
        valid=all(c.valid for c in checks),
        file_format=embedded.file_format,
        job_id=embedded.job_id,
        checked_at=now or dt.datetime.now(dt.UTC),
        seals=checks,
        altered=[f"{_label(c)}: {sentence}" for c in checks for sentence in c.altered],
        added=[f"{_label(c)}: {sentence}" for c in checks for sentence in c.added],
    )


async def verify_certificate(
    session: AsyncSession, keys: ServerKeys, blob_store: BlobStore, data: bytes
) -> VerificationReport:
    """The report on a certificate file (HTML or PDF bytes); UnreadableCertificate when it carries no seal."""
    # Parsing a PDF of several megabytes is CPU work: off the event loop.
    embedded = await anyio.to_thread.run_sync(read_seals, data)
    return await check_seals(session, keys, blob_store, embedded)


def report_text(report: VerificationReport) -> str:
    """The report for a person at a terminal: the verdict first, then each seal with what it found."""
    verdict = "VALID" if report.valid else "ALTERED"
    lines = [f"certificate of job {report.job_id or '(unnamed)'} ({report.file_format}): {verdict}"]
    for check in report.seals:
        lines.append(
            f"{_label(check)}, key {check.key_id or '-'}, digest {check.digest or '-'}: "
            + ("intact" if check.valid else "ALTERED")
        )
        lines += [f"  altered: {sentence}" for sentence in check.altered]
        lines += [f"  added after the seal: {sentence}" for sentence in check.added]
    return "\n".join(lines)
