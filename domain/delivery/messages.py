"""What a sender is handed, what it may raise, and how a recipient is written where logs can see it."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


def message_id_for(key: str) -> str:
    """The message's id on the wire, from its outbox key: a resend after a crash carries the same id, so a mail
    server or an SMS provider that de-duplicates by id delivers it once. Hashed because a key may hold characters
    a Message-ID may not (`:`), and 128 bits are plenty to keep ids apart."""
    return hashlib.sha256(key.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    """One outbox row made ready to send: its `{link}` replaced by the customer link's URL."""

    outbox_id: uuid.UUID
    key: str
    message_id: str
    kind: str
    channel: str
    recipient: str
    subject: str
    text: str
    # The stored body as it is (the structured day of a technician for 'push').
    data: Mapping[str, Any] = field(default_factory=dict)


class DeliveryFailure(Exception):
    """A message that did not go out. `summary` is safe to log (a status code, an exception class: no address,
    no content); `detail` may quote what the server said, which often echoes the address, so it is only stored
    on the message's row, next to the recipient."""

    def __init__(self, summary: str, detail: str | None = None) -> None:
        super().__init__(summary)
        self.summary = summary
        self.detail = detail or summary


class TemporaryFailure(DeliveryFailure):
    """Worth trying again later: the server was unreachable, busy, or answered 4xx for now."""


class PermanentFailure(DeliveryFailure):
    """Trying again cannot help: the address is refused, the content rejected."""


class Sender(Protocol):
    async def send(self, message: RenderedMessage) -> None:
        """Deliver the message or raise TemporaryFailure / PermanentFailure."""


@runtime_checkable
class Closable(Protocol):
    async def aclose(self) -> None: ...


def mask_email(address: str) -> str:
    local, at, domain = address.strip().rpartition("@")
    if not at or not local or not domain:
        return "***"
    return f"{local[0]}***@{domain}"


def mask_phone(number: str) -> str:
    digits = "".join(c for c in number if c.isdigit())
    if len(digits) < 6:
        return "****"
    prefix = f"+{digits[:2]} " if number.strip().startswith("+") else ""
    return f"{prefix}**** **{digits[-2:]}"


_PHONE_CHARACTERS = frozenset("0123456789+-. ()/")


def mask_recipient(recipient: str) -> str:
    """The recipient as a log line may show it: enough to tell two apart, never enough to reach the person."""
    if "@" in recipient:
        return mask_email(recipient)
    if recipient and set(recipient) <= _PHONE_CHARACTERS:
        return mask_phone(recipient)
    return "***"
