"""The certificate as a PDF: the same content as the page, and the seals attached as a JSON file so that the PDF
alone can be verified.

DejaVu Sans is used where the machine has it (any script prints); elsewhere the PDF falls back to Helvetica, a
core font every reader has, with the text reduced to Latin-1 so nothing is lost but the rare accent."""

from __future__ import annotations

import datetime as dt
import io
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path

from fpdf import FPDF
from fpdf.fonts import FontFace

from api.certificates import display
from api.certificates.content import Certificate
from api.certificates.embedding import SEALS_ATTACHMENT, seals_json

FONT_DIRS: tuple[Path, ...] = (Path("/usr/share/fonts/truetype/dejavu"),)
_FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}

# Characters outside Latin-1 that have a plain equivalent; the rest lose their accents or become "?".
_PLAIN = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2026": "...",
        "\u20ac": "EUR",
        "\u2022": "-",
        "\u2192": "->",
        "\u0153": "oe",
        "\u0152": "OE",
        "\t": "    ",
    }
)
# Control characters other than the line break: a note may carry them, and no font draws them.
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")

MUTED = (91, 100, 112)
ACCENT = (11, 92, 173)


def latin1(text: str) -> str:
    out = []
    for ch in text.translate(_PLAIN):
        if ord(ch) < 256:
            out.append(ch)
            continue
        stripped = unicodedata.normalize("NFKD", ch).encode("latin-1", "ignore").decode("latin-1")
        out.append(stripped or "?")
    return "".join(out)


def _unicode_font() -> Path | None:
    for directory in FONT_DIRS:
        if all((directory / name).is_file() for name in _FONT_FILES.values()):
            return directory
    return None


class _Document:
    def __init__(self) -> None:
        self.pdf = FPDF(format="A4")
        self.pdf.set_auto_page_break(auto=True, margin=15)
        self.pdf.set_margins(18, 15, 18)
        fonts = _unicode_font()
        if fonts is not None:
            for style, name in _FONT_FILES.items():
                self.pdf.add_font("DejaVu", style, fonts / name)
            self.family = "DejaVu"
        else:
            self.family = "Helvetica"
        self.pdf.add_page()

    def text(self, value: object) -> str:
        cleaned = _CONTROL.sub("", str(value))
        return cleaned if self.family == "DejaVu" else latin1(cleaned)

    def title(self, value: str, sub: str) -> None:
        self.pdf.set_font(self.family, "B", 18)
        self.pdf.cell(text=self.text(value), new_x="LMARGIN", new_y="NEXT")
        self.pdf.set_font(self.family, "", 10)
        self.pdf.set_text_color(*MUTED)
        self.pdf.multi_cell(0, 5, self.text(sub), align="L", new_x="LMARGIN", new_y="NEXT")
        self.pdf.set_text_color(0)

    def heading(self, value: str) -> None:
        # A heading never ends a page without at least a line of what it heads.
        if self.pdf.get_y() > self.pdf.page_break_trigger - 25:
            self.pdf.add_page()
        else:
            self.pdf.ln(4)
        self.pdf.set_font(self.family, "B", 12)
        self.pdf.set_text_color(*ACCENT)
        self.pdf.cell(text=self.text(value), new_x="LMARGIN", new_y="NEXT")
        self.pdf.set_draw_color(*ACCENT)
        self.pdf.line(self.pdf.l_margin, self.pdf.get_y(), self.pdf.w - self.pdf.r_margin, self.pdf.get_y())
        self.pdf.set_text_color(0)
        self.pdf.ln(1.5)

    def paragraph(self, value: str, *, muted: bool = False) -> None:
        self.pdf.set_font(self.family, "", 9 if muted else 10)
        if muted:
            self.pdf.set_text_color(*MUTED)
        self.pdf.multi_cell(0, 5, self.text(value), align="L", new_x="LMARGIN", new_y="NEXT")
        self.pdf.set_text_color(0)

    def pairs(self, rows: Sequence[tuple[str, object]]) -> None:
        self.pdf.set_font(self.family, "", 10)
        with self.pdf.table(
            col_widths=(35, 65),
            first_row_as_headings=False,
            borders_layout="NONE",
            text_align="LEFT",
            padding=(0.8, 1, 0.8, 0),
        ) as table:
            for label, value in rows:
                row = table.row()
                row.cell(self.text(label), style=FontFace(color=MUTED))
                row.cell(self.text(value))

    def table(self, headings: Sequence[str], rows: Sequence[Sequence[object]], widths: Sequence[int]) -> None:
        self.pdf.set_font(self.family, "", 10)
        with self.pdf.table(
            col_widths=tuple(widths),
            borders_layout="HORIZONTAL_LINES",
            headings_style=FontFace(emphasis="BOLD", color=MUTED),
            text_align="LEFT",
            line_height=5,
            padding=(1, 1, 1, 0),
        ) as table:
            table.row([self.text(h) for h in headings])
            for values in rows:
                table.row([self.text(v) for v in values])

    def listing(
        self,
        title: str,
        headings: Sequence[str],
        rows: Sequence[Sequence[object]],
        widths: Sequence[int],
        empty: str,
    ) -> None:
        self.heading(title)
        if rows:
            self.table(headings, rows, widths)
        else:
            self.paragraph(empty, muted=True)

    def image(self, data: bytes) -> bool:
        """Draws the signature; False when its bytes are not an image the PDF library can read."""
        try:
            self.pdf.image(io.BytesIO(data), w=70, h=35, keep_aspect_ratio=True)
        # The image came from a phone: a damaged or exotic file fails inside fpdf2 or Pillow in many ways.
        except Exception:
            return False
        return True


def _sections(doc: _Document, c: Certificate) -> None:
    tz = c.tz
    doc.heading("Customer and place")
    doc.pairs(
        [("Customer", c.customer_name), ("Address", c.site_address), ("Technician", c.technician_name or "-")]
    )
    doc.heading("The work")
    work: list[tuple[str, object]] = [("Requested", c.job.description)]
    done = c.completion
    if done is not None:
        work.append(("Outcome", "Fixed" if done.outcome == "fixed" else "Follow-up visit needed"))
        if done.follow_up_reason:
            work.append(("Follow-up because", done.follow_up_reason))
        if done.summary:
            work.append(("Summary", done.summary))
        work.append(("Completed", display.when(done.completed_at, tz)))
        if done.reported_at:
            work.append(("On the technician's device", display.when(done.reported_at, tz)))
        work += [
            ("Time on site", display.duration(done.on_site_s)),
            ("Travel", display.duration(done.travel_s)),
            ("Completed at (lat, lon)", display.place(done.latitude, done.longitude)),
        ]
    else:
        work.append(("Status", f"not completed yet ({c.job.status})"))
    doc.pairs(work)

    doc.listing(
        "Checklist",
        ["Item", "Answer"],
        [(a.name, display.answer(a.value)) for a in c.answers],
        (60, 40),
        "No checklist answers.",
    )
    doc.listing(
        "Notes",
        ["Note", "Written"],
        [(n.body, display.when(n.written_at, tz)) for n in c.notes],
        (70, 30),
        "No notes.",
    )
    doc.listing(
        "Parts used",
        ["Part", "Quantity"],
        [(p.part, display.quantity(p.quantity)) for p in c.parts],
        (80, 20),
        "No parts.",
    )
    doc.listing(
        "Time",
        ["Started", "Ended", "Duration"],
        [
            (
                display.when(display.server_clock(t.started_at, t.clock_offset_s), tz),
                display.when(display.server_clock(t.ended_at, t.clock_offset_s), tz)
                if t.ended_at
                else "running",
                display.duration((t.ended_at - t.started_at).total_seconds() if t.ended_at else None),
            )
            for t in c.time_entries
        ],
        (40, 40, 20),
        "No time recorded.",
    )
    doc.listing(
        "Photos",
        ["Photo", "Taken", "SHA-256"],
        [(p.caption or "Photo", display.when(p.taken_at, tz), display.short(p.sha256)) for p in c.photos],
        (45, 30, 25),
        "No photos.",
    )


def _signature(doc: _Document, c: Certificate) -> None:
    doc.heading("Signature")
    signature = c.signature
    if signature is None:
        pending = c.completion is not None and c.completion.sign_off == "remote_pending"
        doc.paragraph(
            "Not signed: the customer was asked to sign off remotely." if pending else "Not signed.",
            muted=True,
        )
        return
    row = signature.row
    doc.pairs(
        [
            ("Signed by", row.signer_name),
            ("Signed", display.when(row.captured_at, c.tz)),
            ("Signed at (lat, lon)", display.place(row.latitude, row.longitude)),
            ("Image SHA-256", row.sha256),
        ]
    )
    if signature.image is None:
        doc.paragraph("The signature image has not reached the server yet.", muted=True)
    elif not doc.image(signature.image):
        doc.paragraph("The signature image is in a format this document cannot show.", muted=True)


def _seals(doc: _Document, c: Certificate) -> None:
    doc.heading("Seals")
    doc.paragraph(
        "The record above was sealed by the service with its own key: a snapshot of the work, the parts, the "
        "times and the signature image's hash, signed so that any later change is detected. The seals are "
        f"attached to this PDF as {SEALS_ATTACHMENT}."
    )
    for seal in c.seals:
        doc.pdf.ln(2)
        doc.pairs(
            [
                ("Seal", "Customer's signature" if seal.kind == "signature" else "Completion"),
                ("Sealed", display.when(seal.sealed_at, c.tz)),
                ("Key id", seal.key_id),
                ("Digest (SHA-256)", seal.digest),
            ]
        )


def render_pdf(certificate: Certificate, *, issued_at: dt.datetime) -> bytes:
    doc = _Document()
    pdf = doc.pdf
    pdf.set_title(doc.text(f"Completion certificate, job {certificate.job.id}"))
    pdf.set_author("fieldwork")
    pdf.set_subject(doc.text(certificate.service_type or "Service visit"))
    pdf.set_creation_date(issued_at)
    doc.title(
        "Completion certificate", f"{certificate.service_type or 'Service visit'} - job {certificate.job.id}"
    )
    _sections(doc, certificate)
    _signature(doc, certificate)
    _seals(doc, certificate)
    doc.pdf.ln(4)
    doc.paragraph(
        "To check this certificate, keep the file as it is and run 'fieldwork verify-certificate FILE' on the "
        "server, or send the file to POST /api/certificates/verification. Issued "
        f"{display.when(issued_at, certificate.tz)}.",
        muted=True,
    )
    pdf.embed_file(
        bytes=seals_json(certificate.job.id, certificate.seal_documents()).encode("utf-8"),
        basename=SEALS_ATTACHMENT,
        mime_type="application/json",
        modification_date=issued_at,
        desc="The seals of this certificate (fieldwork.certificate.v1)",
        compress=True,
    )
    return bytes(pdf.output())
