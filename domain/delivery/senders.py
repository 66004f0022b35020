"""The senders: e-mail over SMTP, SMS through an HTTP provider, and the console sink used when neither is set up.

Each turns its transport's answers into TemporaryFailure (try again later) or PermanentFailure (give up): the
delivery loop decides what happens next, the sender only says which it was.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

import httpx

from domain.delivery.messages import (
    PermanentFailure,
    RenderedMessage,
    TemporaryFailure,
    mask_recipient,
)

console_log = logging.getLogger("fieldwork.outbox.console")


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    host: str
    sender: str
    port: int = 587
    username: str | None = None
    password: str | None = None
    starttls: bool = True
    timeout_s: float = 30.0
    # Whom to trust for STARTTLS; None: the system's certificate authorities.
    tls_context: ssl.SSLContext | None = None


def _smtp_failure(code: int, what: str, reply: bytes | str) -> TemporaryFailure | PermanentFailure:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else reply
    detail = f"SMTP {code} on {what}: {text}"
    if 500 <= code < 600:
        return PermanentFailure(f"smtp {code} on {what}", detail)
    return TemporaryFailure(f"smtp {code} on {what}", detail)


class SmtpSender:
    """E-mail through an SMTP server (a relay or a provider's submission port), one connection per message.

    smtplib is blocking, so each message is sent in a worker thread. Only what the server says about this message
    (its recipient, its content) can make a failure permanent; a server that cannot be reached, refuses our login
    or our sender address is a fault of ours or theirs that may be fixed, so those are temporary."""

    def __init__(self, config: SmtpConfig) -> None:
        _, address = parseaddr(config.sender)
        if "@" not in address:
            raise ValueError(f"the SMTP sender {config.sender!r} is not an e-mail address")
        self.config = config
        self._envelope_from = address
        self._domain = address.rpartition("@")[2]

    def message_id_header(self, message: RenderedMessage) -> str:
        return f"<{message.message_id}@{self._domain}>"

    def build(self, message: RenderedMessage) -> EmailMessage:
        email = EmailMessage()
        try:
            email["From"] = self.config.sender
            email["To"] = message.recipient
            email["Subject"] = message.subject
        except ValueError as exc:  # a header with a line break in it: never fixed by waiting
            raise PermanentFailure("unusable header", str(exc)) from exc
        email["Message-ID"] = self.message_id_header(message)
        email["Date"] = formatdate(usegmt=True)
        # RFC 3834: tells auto-responders (out-of-office replies) not to answer.
        email["Auto-Submitted"] = "auto-generated"
        email.set_content(message.text)
        return email

    async def send(self, message: RenderedMessage) -> None:
        email = self.build(message)
        await asyncio.to_thread(self._send_blocking, email, message.recipient)

    def _send_blocking(self, email: EmailMessage, recipient: str) -> None:
        config = self.config
        try:
            with smtplib.SMTP(config.host, config.port, timeout=config.timeout_s) as smtp:
                if config.starttls:
                    smtp.starttls(context=config.tls_context or ssl.create_default_context())
                if config.username:
                    smtp.login(config.username, config.password or "")
                smtp.send_message(email, from_addr=self._envelope_from, to_addrs=[recipient])
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()), (450, b"refused"))
            raise _smtp_failure(code, "the recipient", reply) from exc
        except smtplib.SMTPDataError as exc:
            raise _smtp_failure(exc.smtp_code, "the message", exc.smtp_error) from exc
        except smtplib.SMTPResponseException as exc:
            raise TemporaryFailure(
                f"smtp {exc.smtp_code}", f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:
            # Connection refused or reset, timeouts, TLS errors, a server that hung up (SMTPException is an
            # OSError; both are named for the reader).
            raise TemporaryFailure(type(exc).__name__, f"{type(exc).__name__}: {exc}") from exc


class HttpSmsSender:
    """SMS through a provider's HTTP API: POST `{"id", "to", "text"}` as JSON, with a bearer token if one is set.

    The id also goes in `Idempotency-Key`, for providers that de-duplicate on it. 2xx is delivered (handed over);
    4xx means the request itself is wrong (a number the provider refuses) except 408 and 429, which ask us to come
    back; 5xx and network errors are temporary."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout_s: float = 10.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        parsed = httpx.URL(url)
        if parsed.scheme not in {"http", "https"} or not parsed.host:
            raise ValueError(f"the SMS provider URL {url!r} is not an http(s) URL")
        self.url = url
        self._token = token
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(timeout=timeout_s)

    async def send(self, message: RenderedMessage) -> None:
        headers = {"Idempotency-Key": message.message_id}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        payload = {"id": message.message_id, "to": message.recipient, "text": message.text}
        try:
            response = await self._client.post(self.url, json=payload, headers=headers)
        except httpx.TransportError as exc:
            raise TemporaryFailure(type(exc).__name__, f"{type(exc).__name__}: {exc}") from exc
        status = response.status_code
        if 200 <= status < 300:
            return
        detail = f"the SMS provider answered {status}: {response.text[:300]}"
        if 400 <= status < 500 and status not in (408, 429):
            raise PermanentFailure(f"http {status}", detail)
        raise TemporaryFailure(f"http {status}", detail)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()


class ConsoleSender:
    """Writes one line per message to the log instead of sending it: the default for SMS and 'push', and for
    e-mail until an SMTP server is configured.

    The line names the message, never its content: texts carry customer links (whoever reads the token can act
    as the customer) and may carry an address; the recipient is masked."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._log = logger or console_log

    async def send(self, message: RenderedMessage) -> None:
        self._log.info(
            "%s to %s: %s, message %s (outbox %s, %d characters)",
            message.channel,
            mask_recipient(message.recipient),
            message.kind,
            message.message_id,
            message.outbox_id,
            len(message.text),
        )
