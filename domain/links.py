"""Customer links: who may open them, for what, until when.

A token is the link row's id followed by an HMAC of it (and its purpose) under the server's link secret, in
base64url: 32 bytes, of which 16 are the MAC and 16 the id (122 random bits). Nothing of the token is stored; it
is derived again when the message carrying it is sent, and checked in constant time when it comes back. A token
changed by one character, made up, or from another server fails the check and opens nothing.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain import models as m
from domain.enums import LinkPurpose

TOKEN_BYTES = 32
_MAC_BYTES = 16
_CONTEXT = b"fieldwork.customer-link.v1"

# How long a link stays usable after it is made.
LIFETIME: dict[LinkPurpose, dt.timedelta] = {
    LinkPurpose.CONFIRM: dt.timedelta(days=14),
    LinkPurpose.TRACK: dt.timedelta(days=2),
    LinkPurpose.SIGN_OFF: dt.timedelta(days=7),
    LinkPurpose.SURVEY: dt.timedelta(days=30),
    LinkPurpose.COMPLAINT: dt.timedelta(days=90),
    LinkPurpose.REQUEST: dt.timedelta(days=30),
}
SINGLE_USE = frozenset({LinkPurpose.SIGN_OFF})


def _mac(secret: bytes, link_id: uuid.UUID, purpose: LinkPurpose) -> bytes:
    message = _CONTEXT + link_id.bytes + purpose.value.encode()
    return hmac.new(secret, message, hashlib.sha256).digest()[:_MAC_BYTES]


def token_for(secret: bytes, link: m.CustomerLink) -> str:
    raw = link.id.bytes + _mac(secret, link.id, link.purpose)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _parse(token: str) -> tuple[uuid.UUID, bytes] | None:
    if len(token) != 43 or not token.isascii():
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=")
    except (binascii.Error, ValueError):
        return None
    # Only the one canonical spelling: the last character's two spare bits would otherwise let four different
    # tokens open the same link.
    if len(raw) != TOKEN_BYTES or base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != token:
        return None
    return uuid.UUID(bytes=raw[:16]), raw[16:]


class LinkRefused(Exception):
    """Why a link opens nothing: `unknown` (made up or altered), `expired`, `used`, `superseded`."""

    def __init__(self, reason: str, link: m.CustomerLink | None = None) -> None:
        super().__init__(reason)
        self.reason, self.link = reason, link


@dataclass(frozen=True, slots=True)
class OpenLink:
    link: m.CustomerLink
    job: m.Job


def new_link(
    session: AsyncSession,
    purpose: LinkPurpose,
    job: m.Job,
    *,
    now: dt.datetime,
    appointment_id: uuid.UUID | None = None,
    complaint_id: uuid.UUID | None = None,
    created_by: uuid.UUID | None = None,
) -> m.CustomerLink:
    link = m.CustomerLink(
        id=uuid.uuid4(),
        purpose=purpose,
        job_id=job.id,
        appointment_id=appointment_id,
        complaint_id=complaint_id,
        expires_at=now + LIFETIME[purpose],
        single_use=purpose in SINGLE_USE,
        created_by_user_id=created_by,
    )
    session.add(link)
    return link


async def open_link(
    session: AsyncSession, secret: bytes, token: str, *, now: dt.datetime, for_update: bool = False
) -> OpenLink:
    """The link and its job, or LinkRefused. `for_update` locks the link (a POST that uses it)."""
    parsed = _parse(token)
    if parsed is None:
        raise LinkRefused("unknown")
    link_id, mac = parsed
    stmt = sa.select(m.CustomerLink).where(m.CustomerLink.id == link_id)
    if for_update:
        stmt = stmt.with_for_update()
    link = await session.scalar(stmt)
    if link is None or not hmac.compare_digest(mac, _mac(secret, link.id, link.purpose)):
        raise LinkRefused("unknown")
    if link.expires_at <= now:
        raise LinkRefused("expired", link)
    if link.single_use and link.used_at is not None:
        raise LinkRefused("used", link)
    job = await session.get_one(m.Job, link.job_id)
    if link.appointment_id is not None:
        appointment = await session.get(m.Appointment, link.appointment_id)
        if appointment is None or appointment.status.value in {"rescheduled", "cancelled"}:
            raise LinkRefused("superseded", link)
    return OpenLink(link, job)


def use(link: m.CustomerLink, now: dt.datetime) -> None:
    """Spend a single-use link (the caller's transaction commits it with what the link did)."""
    if link.single_use:
        link.used_at = now
