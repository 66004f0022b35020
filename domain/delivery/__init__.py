"""Delivering the outbox: senders per channel, the loop that sends due messages with retries, the office's view.

The messages are queued by the changes that cause them (domain.outbox, api.planning.service); this package only
sends them. It knows nothing of HTTP: the API builds the senders from its settings and runs `deliver_due` in a
background worker (api.worker).
"""

from domain.delivery.loop import DEFAULT_POLICY, DeliveryReport, RetryPolicy, deliver_due
from domain.delivery.messages import (
    DeliveryFailure,
    PermanentFailure,
    RenderedMessage,
    Sender,
    TemporaryFailure,
    mask_recipient,
    message_id_for,
)
from domain.delivery.senders import ConsoleSender, HttpSmsSender, SmtpConfig, SmtpSender

__all__ = [
    "DEFAULT_POLICY",
    "ConsoleSender",
    "DeliveryFailure",
    "DeliveryReport",
    "HttpSmsSender",
    "PermanentFailure",
    "RenderedMessage",
    "RetryPolicy",
    "Sender",
    "SmtpConfig",
    "SmtpSender",
    "TemporaryFailure",
    "deliver_due",
    "mask_recipient",
    "message_id_for",
]
