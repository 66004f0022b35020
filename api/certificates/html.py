"""The certificate as one self-contained HTML page: readable on a phone, printable, the signature inline."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

import jinja2
from markupsafe import Markup

from api.certificates import display
from api.certificates.content import Certificate
from api.certificates.embedding import for_script_element, seals_json

_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).resolve().parent),
    # Every value on the page comes from the field (notes, names, captions): escaped unless marked safe.
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.filters.update(
    when=display.when,
    duration=display.duration,
    answer=display.answer,
    quantity=display.quantity,
    short=display.short,
)
_ENV.globals.update(place=display.place, server_clock=display.server_clock)
_TEMPLATE = _ENV.get_template("certificate.html")


def _signature_uri(certificate: Certificate) -> str | None:
    signature = certificate.signature
    if signature is None or signature.image is None or signature.media_type is None:
        return None
    return f"data:{signature.media_type};base64,{base64.b64encode(signature.image).decode()}"


def render_html(certificate: Certificate, *, issued_at: dt.datetime) -> bytes:
    block = seals_json(certificate.job.id, certificate.seal_documents())
    return _TEMPLATE.render(
        c=certificate,
        signature_uri=_signature_uri(certificate),
        # Escaped for a <script> element already; HTML-escaping it as well would change the JSON.
        seals_json=Markup(for_script_element(block)),  # noqa: S704
        issued_at=issued_at,
    ).encode("utf-8")
