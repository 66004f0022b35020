"""Completion certificates: a job signed and completed through the technician's phone (the sync push API) gets an
HTML page and a PDF that verify; changing the record in the database behind the ORM's back (as a tamperer would)
fails verification naming what changed; the routes are scoped, and bad files are 4xx problems."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fpdf import FPDF
from litestar.testing import TestClient
from PIL import Image, ImageDraw
from pypdf import PdfReader
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api import cli
from api.auth import LoginLimiter
from api.certificates import pdf as certificate_pdf
from api.certificates.embedding import SEALS_ATTACHMENT, SEALS_ELEMENT_ID
from api.settings import Settings
from domain import models as m
from domain.keys import key_id, load_or_create, retire_seal_key
from domain.sealing import canonical
from tests.conftest import World
from tests.sync.devices import phone

PROBLEM_JSON = "application/problem+json"
VERIFY = "/api/certificates/verification"
SIGNER = "Élodie Martin"
SCRIPT_NOTE = "Customer wrote: </script><script>alert(1)</script> & more"


def signature_png() -> bytes:
    image = Image.new("L", (160, 60), 255)
    ImageDraw.Draw(image).line([(10, 50), (60, 10), (110, 45), (150, 15)], fill=0, width=3)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@dataclass
class Signed:
    job: str
    line: str
    note: str
    script_note: str
    signature: str
    device: Any


def sign_and_complete(
    client: TestClient[Any],
    auth: Any,
    world: World,
    sessionmaker: async_sessionmaker[AsyncSession],
    store: Path,
    *,
    image: bytes | None = None,
) -> Signed:
    """Everything on site through the phone: moves, checklist, notes, a part, time, a photo, the customer's
    signature, the completion; then one sync (push, pull, upload of the photo and the signature image)."""
    job = str(world.jobs["north_assigned"])

    async def give_checklist() -> None:
        async with sessionmaker() as s:
            s.info["actor"] = "test:checklist"
            row = await s.get_one(m.Job, world.jobs["north_assigned"])
            row.checklist = ["Water isolated", "Repair tested"]
            await s.commit()

    asyncio.run(give_checklist())
    device = phone(client, auth("tech_n1"), store)
    device.sync()
    device.transition(job, "en_route")
    device.transition(job, "on_site")
    note = device.add_note(job, "Leak under the sink, trap seal worn")
    script_note = device.add_note(job, SCRIPT_NOTE)
    device.set_fields(job, {"Water isolated": True, "Repair tested": True})
    line = device.add_part_line(job, "PTFE tape", 1)
    entry = device.start_time(job)
    device.transition(job, "in_progress")
    device.stop_time(entry)
    device.add_photo(job, b"\xff\xd8\xff photo bytes", "under the sink")
    signature = device.capture_signature(job, signature_png() if image is None else image, SIGNER)
    device.record(
        "job.complete.v1",
        {"job_id": job, "epoch": device.epoch(job), "outcome": "fixed", "summary": "Trap seal replaced"},
    )
    device.sync()
    assert {r["result"] for r in device.results().values()} == {"applied"}, device.results()
    return Signed(job, line, note, script_note, signature, device)


@pytest.fixture
def signed(
    client: TestClient[Any],
    auth: Any,
    world: World,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> Signed:
    return sign_and_complete(client, auth, world, sessionmaker, tmp_path / "phone.db")


def certificate(client: TestClient[Any], headers: dict[str, str], job: str, fmt: str = "html") -> bytes:
    response = client.get(f"/api/jobs/{job}/certificate", params={"format": fmt}, headers=headers)
    assert response.status_code == 200, response.text
    return response.content


def verify(client: TestClient[Any], data: bytes, content_type: str = "text/html") -> dict[str, Any]:
    response = client.post(VERIFY, content=data, headers={"Content-Type": content_type})
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    return report


def tamper(engine: AsyncEngine, statement: Any) -> None:
    """Straight to the database, past the session's audit and change-feed listeners."""

    async def run() -> None:
        async with engine.begin() as conn:
            result = await conn.execute(statement)
            assert result.rowcount == 1

    asyncio.run(run())


def seals_in(html: bytes) -> dict[str, Any]:
    found = re.search(
        rb'<script type="application/json" id="' + SEALS_ELEMENT_ID.encode() + rb'">(.*?)</script>',
        html,
        re.S,
    )
    assert found is not None
    block: dict[str, Any] = json.loads(found.group(1))
    return block


def with_seals(html: bytes, block: dict[str, Any]) -> bytes:
    text = json.dumps(block).replace("<", "\\u003c").encode()
    return re.sub(
        rb'(id="' + SEALS_ELEMENT_ID.encode() + rb'">)(.*?)(</script>)',
        lambda found: found.group(1) + text + found.group(3),
        html,
        flags=re.S,
    )


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def by_kind(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {seal["kind"]: seal for seal in report["seals"]}


# Issued and valid --------------------------------------------------------------------------------------------


def test_the_html_certificate_shows_the_work_and_verifies(
    client: TestClient[Any], auth: Any, signed: Signed, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    response = client.get(f"/api/jobs/{signed.job}/certificate", headers=auth("disp_north"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    page = response.text
    for shown in (
        "PTFE tape",
        "Water isolated",
        "Trap seal replaced",
        SIGNER,
        "Customer north",
        "1 Rue North",
    ):
        assert shown in page, shown
    assert f'src="data:image/png;base64,{base64.b64encode(signature_png()).decode()}"' in page
    # A note cannot end the seals' script element or open one of its own.
    assert "<script>alert(1)" not in page
    assert page.count("</script>") == 1

    block = seals_in(response.content)
    assert block["job_id"] == signed.job
    assert {s["payload"]["kind"] for s in block["seals"]} == {"signature", "completion"}
    notes = {s["payload"]["kind"]: s["payload"]["record"]["notes"] for s in block["seals"]}
    assert notes["completion"][signed.script_note]["body"] == SCRIPT_NOTE

    report = verify(client, response.content)
    assert report["valid"] is True, report
    assert report["file_format"] == "html"
    assert report["altered"] == []
    seals = by_kind(report)
    assert seals["signature"]["valid"] is True
    assert seals["completion"]["valid"] is True
    # The customer signed before the technician completed: the signature's seal says so, and does not fail.
    assert seals["signature"]["added"] == ["the completion was recorded after the seal"]
    assert seals["completion"]["added"] == []
    assert seals["completion"]["record"]["parts"][signed.line] == {"part": "PTFE tape", "quantity": 1.0}

    async def digests() -> set[str]:
        async with sessionmaker() as s:
            return set(await s.scalars(sa.select(m.Seal.digest)))

    # The digest the check computes from the file is the one sealed, and the one shown to people.
    assert {s["digest"] for s in report["seals"]} == asyncio.run(digests())
    assert all(s["digest"] in page and s["key_id"] in page for s in report["seals"])


def test_the_pdf_certificate_is_a_pdf_with_the_work_and_the_seals_attached(
    client: TestClient[Any], auth: Any, signed: Signed
) -> None:
    response = client.get(
        f"/api/jobs/{signed.job}/certificate", params={"format": "pdf"}, headers=auth("tech_n1")
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(response.content))
    text = pdf_text(response.content)
    for shown in ("Completion certificate", "PTFE tape", "Water isolated", "Trap seal replaced", SIGNER):
        assert shown in text, shown
    assert any(page.images for page in reader.pages), "the signature image is not drawn"
    attached = json.loads(reader.attachments[SEALS_ATTACHMENT][0])
    assert {s["payload"]["kind"] for s in attached["seals"]} == {"signature", "completion"}

    report = verify(client, response.content, "application/pdf")
    assert report["valid"] is True, report
    assert report["file_format"] == "pdf"
    assert len(report["seals"]) == 2


def test_without_the_unicode_font_the_pdf_falls_back_to_a_core_font(
    client: TestClient[Any], auth: Any, signed: Signed, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(certificate_pdf, "FONT_DIRS", ())
    data = certificate(client, auth("admin"), signed.job, "pdf")
    fonts = {
        str(font.get("/BaseFont"))
        for page in PdfReader(io.BytesIO(data)).pages
        for font in page["/Resources"]["/Font"].values()
    }
    assert fonts == {"/Helvetica", "/Helvetica-Bold"}
    assert SIGNER in pdf_text(data)  # Latin-1 survives the core font
    assert certificate_pdf.latin1("L\u2019\u0153uvre \u2192 fini\u2026") == "L'oeuvre -> fini..."
    assert verify(client, data, "application/pdf")["valid"] is True


def test_a_signature_image_that_is_not_an_image_still_gives_a_certificate(
    client: TestClient[Any],
    auth: Any,
    world: World,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    done = sign_and_complete(client, auth, world, sessionmaker, tmp_path / "phone.db", image=b"\x89PNG torn")
    data = certificate(client, auth("disp_north"), done.job, "pdf")
    assert "in a format this document cannot show" in pdf_text(data)
    assert verify(client, data, "application/pdf")["valid"] is True


# Altered after signing -----------------------------------------------------------------------------------------


def _part_quantity(signed: Signed) -> Any:
    return (
        sa.update(m.JobPartLine.__table__)
        .where(m.JobPartLine.__table__.c.id == uuid.UUID(signed.line))
        .values(quantity=3.0)
    )


def _signature_hash(signed: Signed) -> Any:
    return (
        sa.update(m.JobSignature.__table__)
        .where(m.JobSignature.__table__.c.job_id == uuid.UUID(signed.job))
        .values(sha256="f" * 64)
    )


def _checklist_answer(signed: Signed) -> Any:
    table = m.JobFieldValue.__table__
    return (
        sa.update(table)
        .where(table.c.job_id == uuid.UUID(signed.job), table.c.name == "Water isolated")
        .values(value=False)
    )


def _deleted_note(signed: Signed) -> Any:
    return sa.delete(m.JobNote.__table__).where(m.JobNote.__table__.c.id == uuid.UUID(signed.note))


DATABASE_TAMPERING: dict[str, tuple[Callable[[Signed], Any], Callable[[Signed], str]]] = {
    "part quantity": (
        _part_quantity,
        lambda s: f"part line 'PTFE tape' ({s.line[:8]}) was changed (quantity: 1.0 -> 3.0)",
    ),
    "signature hash": (
        _signature_hash,
        lambda s: f"signature image: sealed '{s.signature}', now '{'f' * 64}'",
    ),
    "checklist answer": (
        _checklist_answer,
        lambda s: "checklist answer 'Water isolated' was changed (True -> False)",
    ),
    "deleted note": (_deleted_note, lambda s: f"note {s.note[:8]} was removed"),
}


@pytest.mark.parametrize("change", list(DATABASE_TAMPERING), ids=list(DATABASE_TAMPERING))
@pytest.mark.parametrize("fmt", ["html", "pdf"])
def test_a_record_changed_in_the_database_after_signing_fails_naming_it(
    client: TestClient[Any], auth: Any, signed: Signed, engine: AsyncEngine, change: str, fmt: str
) -> None:
    issued = certificate(client, auth("disp_north"), signed.job, fmt)
    statement, expected = DATABASE_TAMPERING[change]
    tamper(engine, statement(signed))
    report = verify(client, issued, "application/pdf" if fmt == "pdf" else "text/html")
    assert report["valid"] is False
    seals = by_kind(report)
    # Everything changed here was there when the customer signed: both seals fail, each naming it.
    for kind in ("signature", "completion"):
        assert seals[kind]["valid"] is False
        assert seals[kind]["altered"] == [expected(signed)], seals[kind]
    assert any(
        s.startswith("completion seal of ") and s.endswith(expected(signed)) for s in report["altered"]
    )


def test_signature_image_bytes_changed_in_storage_fail(
    client: TestClient[Any], auth: Any, signed: Signed, settings: Settings
) -> None:
    issued = certificate(client, auth("disp_north"), signed.job)
    blob = settings.data_dir / "attachments" / "blobs" / signed.signature[:2] / signed.signature
    assert blob.read_bytes() == signature_png()
    blob.write_bytes(signature_png().replace(b"IDAT", b"IDAT\x00", 1))
    report = verify(client, issued)
    assert report["valid"] is False
    for seal in report["seals"]:
        assert len(seal["altered"]) == 1
        assert seal["altered"][0].startswith("the signature image was altered: its bytes hash to ")
    blob.unlink()
    missing = verify(client, issued)
    assert missing["valid"] is False
    assert {tuple(s["altered"]) for s in missing["seals"]} == {
        ("the signature image is missing from storage",)
    }


def test_a_job_deleted_after_signing_fails(
    client: TestClient[Any], auth: Any, signed: Signed, engine: AsyncEngine
) -> None:
    issued = certificate(client, auth("disp_north"), signed.job)

    async def delete_job() -> None:
        job_id = uuid.UUID(signed.job)
        async with engine.begin() as conn:
            # What still names the job without cascading: its sync bookkeeping and its queued messages.
            for table in m.metadata.sorted_tables:
                if (
                    table.name != "jobs"
                    and "job_id" in table.c
                    and not any(fk.ondelete == "CASCADE" for fk in table.c.job_id.foreign_keys)
                ):
                    await conn.execute(sa.delete(table).where(table.c.job_id == job_id))
            await conn.execute(sa.delete(m.Job.__table__).where(m.Job.__table__.c.id == job_id))

    asyncio.run(delete_job())
    report = verify(client, issued)
    assert report["valid"] is False
    for seal in report["seals"]:
        assert f"job {signed.job} no longer exists: its record was deleted after the seal" in seal["altered"]


def test_a_part_added_after_completion_is_reported_and_does_not_fail(
    client: TestClient[Any], auth: Any, signed: Signed
) -> None:
    issued = certificate(client, auth("disp_north"), signed.job, "pdf")
    washer = signed.device.add_part_line(signed.job, "Washer", 2)
    signed.device.sync()
    report = verify(client, issued, "application/pdf")
    assert report["valid"] is True, report
    seals = by_kind(report)
    recorded_later = f"part line 'Washer' ({washer[:8]}) was recorded after the seal"
    assert seals["completion"]["added"] == [recorded_later]
    assert recorded_later in seals["signature"]["added"]
    assert "the completion was recorded after the seal" in seals["signature"]["added"]
    # A certificate issued now shows the washer, and its newest seal is still the completion's.
    assert b"Washer" in certificate(client, auth("disp_north"), signed.job)


# Altered in the file -------------------------------------------------------------------------------------------


def test_an_edited_seal_in_the_html_fails_naming_the_seal_and_the_edit(
    client: TestClient[Any], auth: Any, signed: Signed
) -> None:
    issued = certificate(client, auth("disp_north"), signed.job)
    block = seals_in(issued)
    completion = next(s for s in block["seals"] if s["payload"]["kind"] == "completion")
    completion["payload"]["record"]["parts"][signed.line]["quantity"] = 5
    report = verify(client, with_seals(issued, block))
    assert report["valid"] is False
    seals = by_kind(report)
    assert seals["signature"]["valid"] is True
    assert seals["completion"]["altered"] == [
        "the certificate's sealed content was altered: its seal no longer matches it",
        f"the certificate's copy of the seal was edited: record.parts.{signed.line[:8]}.quantity: "
        "sealed 1.0, in the certificate 5",
    ]
    assert (
        seals["completion"]["record"] is None
    )  # an edited payload is never handed back as the sealed record
    assert report["altered"][0].startswith("completion seal of ")


def test_a_seal_made_with_a_key_the_server_does_not_know_fails(
    client: TestClient[Any], auth: Any, signed: Signed
) -> None:
    issued = certificate(client, auth("disp_north"), signed.job)
    block = seals_in(issued)
    forger = Ed25519PrivateKey.generate()
    for seal in block["seals"]:
        seal["key_id"] = key_id(forger.public_key())
        seal["signature"] = base64.b64encode(forger.sign(canonical(seal["payload"]))).decode()
    report = verify(client, with_seals(issued, block))
    assert report["valid"] is False
    for seal in report["seals"]:
        assert seal["altered"][0] == (
            f"the seal was made with a key this server does not know ({key_id(forger.public_key())})"
        )
        assert seal["altered"][1].startswith(f"the certificate names key {key_id(forger.public_key())}; ")


def test_a_certificate_sealed_with_a_retired_key_still_verifies(
    client: TestClient[Any], auth: Any, signed: Signed, settings: Settings
) -> None:
    issued = certificate(client, auth("disp_north"), signed.job)
    retired = retire_seal_key(settings.data_dir / "keys")
    client.app.state.server_keys = load_or_create(settings.data_dir / "keys")  # what the next start loads
    assert client.app.state.server_keys.seal_key_id != retired
    report = verify(client, issued)
    assert report["valid"] is True, report
    assert {s["key_id"] for s in report["seals"]} == {retired}


# The command line ----------------------------------------------------------------------------------------------


def test_the_command_line_exit_codes(
    client: TestClient[Any],
    auth: Any,
    signed: Signed,
    engine: AsyncEngine,
    settings: Settings,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("FIELDWORK_DATA_DIR", str(settings.data_dir))
    html = tmp_path / "certificate.html"
    html.write_bytes(certificate(client, auth("disp_north"), signed.job))
    pdf = tmp_path / "certificate.pdf"
    pdf.write_bytes(certificate(client, auth("disp_north"), signed.job, "pdf"))

    assert cli.main(["verify-certificate", str(html)]) == 0
    assert f"certificate of job {signed.job} (html): VALID" in capsys.readouterr().out
    assert cli.main(["verify-certificate", "--json", str(pdf)]) == 0
    assert json.loads(capsys.readouterr().out)["valid"] is True

    tamper(engine, _part_quantity(signed))
    assert cli.main(["verify-certificate", str(pdf)]) == 1
    out = capsys.readouterr().out
    assert "(pdf): ALTERED" in out
    assert f"  altered: part line 'PTFE tape' ({signed.line[:8]}) was changed (quantity: 1.0 -> 3.0)" in out

    text = tmp_path / "notes.txt"
    text.write_text("not a certificate")
    assert cli.main(["verify-certificate", str(text)]) == 2
    assert "neither an HTML page nor a PDF" in capsys.readouterr().err
    assert cli.main(["verify-certificate", str(tmp_path / "absent.pdf")]) == 2
    assert "cannot read" in capsys.readouterr().err
    monkeypatch.setenv("FIELDWORK_DATA_DIR", str(tmp_path / "elsewhere"))
    assert cli.main(["verify-certificate", str(html)]) == 2
    assert "no server keys" in capsys.readouterr().err
    assert not (tmp_path / "elsewhere" / "keys").exists()


# Who may read one ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "status"),
    [("admin", 200), ("disp_north", 200), ("tech_n1", 200), ("disp_south", 404), ("tech_n2", 404)],
)
def test_a_certificate_is_scoped_like_the_field_report(
    client: TestClient[Any], auth: Any, signed: Signed, who: str, status: int
) -> None:
    for fmt in ("html", "pdf"):
        response = client.get(
            f"/api/jobs/{signed.job}/certificate", params={"format": fmt}, headers=auth(who)
        )
        assert response.status_code == status, response.text
        if status != 200:
            assert response.headers["content-type"].startswith(PROBLEM_JSON)
            assert SIGNER not in response.text


def test_a_job_without_a_seal_has_no_certificate_yet(
    client: TestClient[Any], auth: Any, world: World
) -> None:
    response = client.get(f"/api/jobs/{world.jobs['north_open']}/certificate", headers=auth("disp_north"))
    assert response.status_code == 409, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert "has no seal yet" in response.json()["detail"]
    bad = client.get(
        f"/api/jobs/{world.jobs['north_open']}/certificate", params={"format": "docx"}, headers=auth("admin")
    )
    assert bad.status_code == 400
    assert bad.headers["content-type"].startswith(PROBLEM_JSON)


# Bad files -----------------------------------------------------------------------------------------------------


def _pdf_without_seals() -> bytes:
    document = FPDF()
    document.add_page()
    document.set_font("Helvetica", size=12)
    document.cell(text="Completion certificate (not really)")
    return bytes(document.output())


BAD_FILES: dict[str, tuple[bytes, str, str]] = {
    "empty": (b"", "text/html", "the file is empty"),
    "plain text": (b"hello, is this a certificate?", "text/plain", "neither an HTML page nor a PDF"),
    "binary": (bytes(range(256)) * 4, "application/octet-stream", "neither a PDF nor a UTF-8 HTML page"),
    "page without seals": (b"<!doctype html><html><p>Done</p></html>", "text/html", "carries no seal"),
    "seals not json": (
        f'<html><script type="application/json" id="{SEALS_ELEMENT_ID}">{{nope</script></html>'.encode(),
        "text/html",
        "not valid JSON",
    ),
    "deeply nested json": (
        f'<html><script type="application/json" id="{SEALS_ELEMENT_ID}">{"[" * 100_000}</script></html>'.encode(),
        "text/html",
        "not valid JSON",
    ),
    "no seals listed": (
        f'<html><script type="application/json" id="{SEALS_ELEMENT_ID}">'
        '{"format":"fieldwork.certificate.v1","job_id":null,"seals":[]}</script></html>'.encode(),
        "text/html",
        "carries no seal",
    ),
    "pdf without attachment": (_pdf_without_seals(), "application/pdf", f"no {SEALS_ATTACHMENT} attachment"),
    "broken pdf": (b"%PDF-1.7\n" + b"\x00garbage" * 50, "application/pdf", "the PDF cannot be read"),
}


@pytest.mark.parametrize("name", list(BAD_FILES), ids=list(BAD_FILES))
def test_a_file_that_is_not_a_certificate_is_a_422_problem(
    client: TestClient[Any], world: World, snapshot: Any, name: str
) -> None:
    body, content_type, detail = BAD_FILES[name]
    before = snapshot()
    response = client.post(VERIFY, content=body, headers={"Content-Type": content_type})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert detail in response.json()["detail"]
    assert snapshot() == before


def test_a_file_past_the_size_limit_is_a_413_problem(client: TestClient[Any]) -> None:
    response = client.post(
        VERIFY, content=b"%PDF-" + b"0" * (8 * 1024 * 1024), headers={"Content-Type": "application/pdf"}
    )
    assert response.status_code == 413, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)


def test_checks_are_limited_per_address(client: TestClient[Any]) -> None:
    client.app.state.certificate_limiter = LoginLimiter(2, what="too many certificate checks")
    for _ in range(2):
        assert client.post(VERIFY, content=b"x").status_code == 422
    response = client.post(VERIFY, content=b"x")
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert int(response.headers["retry-after"]) >= 1
