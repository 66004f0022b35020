"""The audit chain: every write is appended hash-linked, `fieldwork audit verify` proves it, tampering is named."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api import cli
from domain import models as m
from domain.audit import GENESIS_HASH, entry_hash, verify_chain
from domain.enums import Role
from tests.conftest import World


def audit_log(sessionmaker: async_sessionmaker[AsyncSession]) -> tuple[list[m.AuditEntry], m.AuditHead]:
    async def read() -> tuple[list[m.AuditEntry], m.AuditHead]:
        async with sessionmaker() as s:
            rows = list(await s.scalars(sa.select(m.AuditEntry).order_by(m.AuditEntry.seq)))
            return rows, await s.get_one(m.AuditHead, 1)

    return asyncio.run(read())


def run_verify(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    # The CLI exports DATABASE_URL; monkeypatch puts the environment back afterwards.
    monkeypatch.setenv("DATABASE_URL", database_url)
    capsys.readouterr()
    code = cli.main(["--database-url", database_url, "audit", "verify"])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def assert_linked(rows: list[m.AuditEntry], head: m.AuditHead) -> None:
    prev = GENESIS_HASH
    for expected_seq, row in enumerate(rows, start=1):
        assert row.seq == expected_seq
        assert row.prev_hash == prev
        assert row.hash == entry_hash(
            seq=row.seq,
            prev_hash=row.prev_hash,
            occurred_at=row.occurred_at,
            actor=row.actor,
            action=row.action,
            entity=row.entity,
            entity_id=row.entity_id,
            changes=row.changes,
        )
        prev = row.hash
    assert (head.seq, head.hash) == (len(rows), prev)


def test_writes_through_the_audited_session_append_linked_entries(
    sessionmaker: async_sessionmaker[AsyncSession], world: World
) -> None:
    before, head_before = audit_log(sessionmaker)
    assert before, "building the world is itself audited"
    skill_id = uuid.uuid4()

    async def write() -> None:
        async with sessionmaker() as s:
            s.info["actor"] = "test:auditor"
            s.add(m.Skill(id=skill_id, code="hvac", name="Hvac"))
            await s.commit()
        async with sessionmaker() as s:
            s.info["actor"] = "test:auditor"
            (await s.get_one(m.Skill, skill_id)).name = "HVAC"
            await s.commit()
        async with sessionmaker() as s:
            s.info["actor"] = "test:remover"
            await s.delete(await s.get_one(m.Skill, skill_id))
            await s.commit()

    asyncio.run(write())
    after, head = audit_log(sessionmaker)
    assert [(r.seq, r.hash) for r in after[: len(before)]] == [(r.seq, r.hash) for r in before], "append-only"
    new = after[len(before) :]
    assert [(r.action, r.entity, r.entity_id, r.actor) for r in new] == [
        ("insert", "skills", str(skill_id), "test:auditor"),
        ("update", "skills", str(skill_id), "test:auditor"),
        ("delete", "skills", str(skill_id), "test:remover"),
    ]
    assert new[0].changes["code"] == "hvac"
    assert new[0].prev_hash == head_before.hash
    assert new[1].changes["name"] == ["Hvac", "HVAC"]
    assert new[2].changes["name"] == "HVAC"
    assert_linked(after, head)
    assert verify_chain(after, head).ok


def test_a_rolled_back_write_leaves_no_entry(
    sessionmaker: async_sessionmaker[AsyncSession], world: World
) -> None:
    before, head_before = audit_log(sessionmaker)

    async def write_then_roll_back() -> None:
        async with sessionmaker() as s:
            s.add(m.Skill(code="roofing", name="Roofing"))
            await s.flush()
            await s.rollback()

    asyncio.run(write_then_roll_back())
    after, head = audit_log(sessionmaker)
    assert len(after) == len(before)
    assert (head.seq, head.hash) == (head_before.seq, head_before.hash)


def test_api_writes_are_audited_under_the_caller_and_the_cli_verifies_the_chain(
    client: TestClient[Any],
    auth: Any,
    world: World,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    me = client.get("/api/me", headers=auth("disp_north")).json()
    job = client.get(f"/api/jobs/{world.jobs['north_open']}", headers=auth("disp_north"))
    moved = client.post(
        f"/api/jobs/{world.jobs['north_open']}/transitions",
        json={"to_status": "on_hold", "reason": "customer away"},
        headers={**auth("disp_north"), "If-Match": job.headers["etag"]},
    )
    assert moved.status_code == 200, moved.text
    rows, head = audit_log(sessionmaker)
    job_updates = [r for r in rows if r.entity == "jobs" and r.action == "update"]
    assert job_updates[-1].entity_id == str(world.jobs["north_open"])
    assert job_updates[-1].actor == f"user:{me['id']}"
    assert job_updates[-1].changes["status"] == ["new", "on_hold"]
    assert_linked(rows, head)

    code, output = run_verify(database_url, monkeypatch, capsys)
    assert code == 0, output
    assert f"intact: {len(rows)} entries" in output


async def _tamper(sessionmaker: async_sessionmaker[AsyncSession], how: str, seq: int) -> None:
    async with sessionmaker() as s, s.begin():
        if how == "edit changes":
            await s.execute(
                sa.text("UPDATE audit_log SET changes = :changes WHERE seq = :seq").bindparams(
                    sa.bindparam("changes", type_=sa.JSON)
                ),
                {"changes": {"name": ["Plumbing", "Nothing to see"]}, "seq": seq},
            )
        else:
            await s.execute(sa.text("DELETE FROM audit_log WHERE seq = :seq"), {"seq": seq})


@pytest.mark.parametrize("how", ["edit changes", "delete a middle row", "delete the last row"])
def test_tampering_makes_verify_fail_and_name_the_entry(
    how: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    world: World,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows, _ = audit_log(sessionmaker)
    assert len(rows) > 10
    seq = len(rows) if how == "delete the last row" else len(rows) // 2
    code, output = run_verify(database_url, monkeypatch, capsys)
    assert code == 0, output

    asyncio.run(_tamper(sessionmaker, how, seq))

    code, output = run_verify(database_url, monkeypatch, capsys)
    assert code != 0
    assert "BROKEN" in output
    assert f"entry {seq}" in output, output
    tampered, head = audit_log(sessionmaker)
    assert verify_chain(tampered, head).broken_at == seq


def test_password_hashes_never_reach_the_log(
    client: TestClient[Any],
    auth: Any,
    world: World,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    password = "a-new-staff-password"
    created = client.post(
        "/api/users",
        json={
            "email": "new.dispatcher@example.com",
            "full_name": "New Dispatcher",
            "password": password,
            "role": "dispatcher",
            "territory_ids": [str(world.territories["south"])],
        },
        headers=auth("admin"),
    )
    assert created.status_code == 201, created.text

    async def change_password() -> list[str]:
        async with sessionmaker() as s:
            s.info["actor"] = "test:password-reset"
            user = await s.scalar(sa.select(m.User).where(m.User.role == Role.ADMIN))
            assert user is not None
            user.password_hash = "$argon2id$v=19$m=65536,t=3,p=4$not-a-real-hash"
            await s.commit()
            return list(await s.scalars(sa.select(m.User.password_hash)))

    hashes = asyncio.run(change_password())
    rows, _ = audit_log(sessionmaker)
    user_rows = [r for r in rows if r.entity == "users"]
    assert {r.action for r in user_rows} == {"insert", "update"}
    assert all(r.changes["password_hash"] == "[redacted]" for r in user_rows)
    everything = json.dumps([[r.actor, r.entity_id, r.changes] for r in rows], ensure_ascii=False)
    assert "$argon2" not in everything
    assert password not in everything
    for stored in hashes:
        assert stored not in everything
