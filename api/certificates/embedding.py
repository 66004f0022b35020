"""The machine-readable part of a certificate: its seals as JSON, inside the HTML page or attached to the PDF, and
reading them back out of a file someone hands us.

The seals carry everything a check needs (the sealed record, the key id, the signature), so the file alone can be
verified; the rest of the page is for people and is not trusted by the check."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any, Literal

from pypdf import PdfReader

from domain.errors import InvalidInput

FORMAT = "fieldwork.certificate.v1"
SEALS_ELEMENT_ID = "fieldwork-seals"
SEALS_ATTACHMENT = "fieldwork-seals.json"
# A PDF's header may follow some bytes of junk; readers look this far for it.
PDF_HEADER_WINDOW = 1024
# A job is sealed when signed and when completed; a file claiming many more seals is not ours, and each costs a
# check against the database.
MAX_SEALS = 20

FileFormat = Literal["html", "pdf"]


class UnreadableCertificate(InvalidInput):
    """The bytes are not a certificate we can read: neither format, damaged, or without a seal."""

    def __init__(self, detail: str) -> None:
        super().__init__("body", detail)


@dataclass(frozen=True, slots=True)
class EmbeddedSeals:
    file_format: FileFormat
    # The job the certificate says it is about (not itself sealed: each seal names its own job).
    job_id: str | None
    seals: list[dict[str, Any]]


def seals_json(job_id: object, seals: list[dict[str, Any]]) -> str:
    return json.dumps(
        {"format": FORMAT, "job_id": str(job_id), "seals": seals},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )


def for_script_element(text: str) -> str:
    """JSON safe inside a <script> element: `</script>` or `<!--` in a note cannot end or bend it. The escapes
    are JSON's own, so the parsed value is unchanged."""
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


class _SealsScript(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script" and dict(attrs).get("id") == SEALS_ELEMENT_ID:
            self._inside = True
            self.found.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._inside = False

    def handle_data(self, data: str) -> None:
        if self._inside:
            self.found[-1] += data


def _from_html(data: bytes) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableCertificate(
            "the file is neither a PDF nor a UTF-8 HTML page: it is not a fieldwork certificate"
        ) from exc
    parser = _SealsScript()
    parser.feed(text)
    parser.close()
    if not parser.found:
        head = text[:PDF_HEADER_WINDOW].lower()
        if "<html" in head or "<!doctype html" in head:
            raise UnreadableCertificate(
                f'the HTML page carries no seal (no <script id="{SEALS_ELEMENT_ID}"> element)'
            )
        raise UnreadableCertificate(
            "the file is neither an HTML page nor a PDF: it is not a fieldwork certificate"
        )
    if len(parser.found) > 1:
        raise UnreadableCertificate(
            f"the HTML page carries {len(parser.found)} seal blocks; a certificate has one"
        )
    return parser.found[0]


def _from_pdf(data: bytes) -> str:
    try:
        attachments = PdfReader(io.BytesIO(data)).attachments
        found = attachments.get(SEALS_ATTACHMENT)
    # A damaged or hostile PDF can make the parser fail in many ways; every one means "cannot read it".
    except Exception as exc:
        raise UnreadableCertificate(f"the PDF cannot be read: {type(exc).__name__}") from exc
    if not found:
        raise UnreadableCertificate(f"the PDF carries no seal (no {SEALS_ATTACHMENT} attachment)")
    if len(found) > 1:
        raise UnreadableCertificate(f"the PDF carries {len(found)} seal attachments; a certificate has one")
    try:
        return found[0].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableCertificate(f"the PDF's {SEALS_ATTACHMENT} attachment is not UTF-8 text") from exc


def read_seals(data: bytes) -> EmbeddedSeals:
    """The seals a certificate file carries; UnreadableCertificate says why when there are none to read."""
    if not data.strip():
        raise UnreadableCertificate("the file is empty: send the certificate's HTML or PDF file")
    file_format: FileFormat = "pdf" if b"%PDF-" in data[:PDF_HEADER_WINDOW] else "html"
    text = _from_pdf(data) if file_format == "pdf" else _from_html(data)
    try:
        block = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise UnreadableCertificate("the certificate's seal block is not valid JSON") from exc
    if not isinstance(block, dict) or block.get("format") != FORMAT:
        raise UnreadableCertificate(f"the certificate's seal block is not in the {FORMAT} format")
    seals = block.get("seals")
    if not isinstance(seals, list) or not all(isinstance(s, dict) for s in seals):
        raise UnreadableCertificate("the certificate's seal block has no list of seals")
    if not seals:
        raise UnreadableCertificate("the certificate carries no seal")
    if len(seals) > MAX_SEALS:
        raise UnreadableCertificate(
            f"the certificate carries {len(seals)} seals; at most {MAX_SEALS} are checked"
        )
    job_id = block.get("job_id")
    return EmbeddedSeals(file_format, str(job_id) if job_id is not None else None, seals)
