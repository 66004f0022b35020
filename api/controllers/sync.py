"""Sync protocol v1 for technicians' devices (docs/sync.md); every route only calls into `sync/`."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, patch, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import ANY_STAFF, requires
from domain.enums import Role
from domain.errors import PermissionDenied
from domain.keys import ServerKeys
from domain.principal import Principal
from sync import attachments, devices, pull, push
from sync.protocol import MAX_PUSH_BYTES, DeviceIn, DeviceOut, DigestOut, PullIn, PullOut, PushIn, PushOut

TECHNICIAN = requires(Role.TECHNICIAN)
SYNC_PATH = "/api/sync/v1"
# POSTs that only read: on SQLite they must neither queue behind writers nor take the write lock.
READ_ONLY_POSTS = frozenset({f"{SYNC_PATH}/pull"})


def technician_of(principal: Principal) -> uuid.UUID:
    if principal.technician_id is None:
        raise PermissionDenied("this account is not linked to a technician")
    return principal.technician_id


async def snapshot(session: AsyncSession) -> None:
    """Read the whole answer from one snapshot: PostgreSQL's default gives each statement its own."""
    if session.get_bind().dialect.name == "postgresql":
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


class SyncController(Controller):
    path = SYNC_PATH
    tags = ["sync"]
    guards = [TECHNICIAN]

    @post(
        "/devices",
        operation_id="RegisterDevice",
        summary="Register this install of the app to the signed-in technician (idempotent on device_id)",
        description="201 the first time, 200 after. A device id registered to another technician is a 409.",
        responses={200: ResponseSpec(data_container=DeviceOut, description="Already registered to you")},
    )
    async def register(
        self, data: DeviceIn, principal: Principal, db_session: AsyncSession
    ) -> Response[DeviceOut]:
        device, created = await devices.register(db_session, technician_of(principal), data)
        return Response(
            DeviceOut(
                device_id=device.device_id,
                technician_id=device.technician_id,
                last_mutation_id=device.last_mutation_id,
                registered_at=device.created_at,
            ),
            status_code=201 if created else 200,
        )

    @post(
        "/push",
        operation_id="PushMutations",
        summary="Apply the device's next mutations, exactly once and in order",
        description=(
            "Ids ascend without gaps, at most 500 per push. Ids the server already has answer `duplicate` with "
            "their stored result; a first id past the next expected one is a 409 with `expected_id` and applies "
            "nothing. A refused mutation is still consumed (`rejected` with a `code`): the answer is 200. "
            "The body may be up to 8 MiB."
        ),
        status_code=200,
        request_max_body_size=MAX_PUSH_BYTES,
    )
    async def push(
        self, data: PushIn, principal: Principal, db_session: AsyncSession, keys: ServerKeys
    ) -> PushOut:
        return await push.push(db_session, principal, technician_of(principal), data, keys)

    @post(
        "/pull",
        operation_id="PullChanges",
        summary="The changes in the technician's scope after the cursor, commit-ordered, one page",
        description=(
            "Without a cursor, a bootstrap of the whole scope. Keep pulling until `has_more` is false; apply each "
            "page and its cursor together. `reset_required` means: drop the local copy (keep pending mutations) "
            "and pull again without a cursor."
        ),
        status_code=200,
    )
    async def pull(self, data: PullIn, principal: Principal, db_session: AsyncSession) -> PullOut:
        await snapshot(db_session)
        return await pull.pull(db_session, technician_of(principal), data)

    @get(
        "/digest",
        operation_id="GetSyncDigest",
        summary="Per table, the count and a hash of the rows the device should hold",
        description="SHA-256 over the `id:version` lines of the scope's rows, sorted by id.",
    )
    async def digest(self, device_id: uuid.UUID, principal: Principal, db_session: AsyncSession) -> DigestOut:
        await snapshot(db_session)
        return await pull.digest(db_session, technician_of(principal), device_id)


class AttachmentController(Controller):
    path = f"{SYNC_PATH}/attachments"
    tags = ["sync"]

    @post(
        operation_id="DeclareAttachment",
        guards=[TECHNICIAN],
        summary="Declare a photo or signature image by its SHA-256 before sending its bytes",
        description=(
            "201 for a new upload, 200 for one the server knows: `received` says where to resume, `complete` that "
            "nothing more is needed. Photos up to 15 MiB, signatures up to 2 MiB."
        ),
        responses={
            200: ResponseSpec(
                data_container=attachments.AttachmentOut, description="Known: resume at `received`"
            )
        },
    )
    async def declare(
        self,
        request: Request[Any, Any, Any],
        data: attachments.AttachmentIn,
        principal: Principal,
        db_session: AsyncSession,
    ) -> Response[attachments.AttachmentOut]:
        found, created = await attachments.declare(
            db_session, request.app.state.blob_store, technician_of(principal), data
        )
        return Response(attachments.attachment_out(found), status_code=201 if created else 200)

    @patch(
        "/{sha256:str}",
        operation_id="UploadAttachmentChunk",
        guards=[TECHNICIAN],
        summary="Send the next chunk of an upload at the offset the server holds (`Upload-Offset`)",
        description=(
            "At most 1 MiB a chunk. Another offset is a 409 carrying `received`; the last chunk is checked against "
            "the hash and a mismatch (422) discards the upload."
        ),
        request_max_body_size=attachments.MAX_CHUNK,
    )
    async def upload(
        self,
        request: Request[Any, Any, Any],
        sha256: str,
        principal: Principal,
        db_session: AsyncSession,
        upload_offset: Annotated[int, Parameter(header="Upload-Offset", ge=0)],
    ) -> attachments.AttachmentOut:
        chunk = await request.body()
        found = await attachments.append(
            db_session, request.app.state.blob_store, technician_of(principal), sha256, upload_offset, chunk
        )
        return attachments.attachment_out(found)

    @get(
        "/{sha256:str}",
        operation_id="DownloadAttachment",
        guards=[ANY_STAFF],
        summary="The bytes of a complete attachment the caller may see",
        description="A technician sees what they uploaded and what belongs to their jobs; the office its territories'.",
        media_type="application/octet-stream",
    )
    async def download(
        self, request: Request[Any, Any, Any], sha256: str, principal: Principal, db_session: AsyncSession
    ) -> Response[bytes]:
        found = await attachments.download(db_session, principal, sha256)
        content = request.app.state.blob_store.read(found.sha256)
        return Response(content, media_type=found.content_type, headers={"ETag": f'"{found.sha256}"'})
