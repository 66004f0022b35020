"""Where attachment bytes live: a small interface, and the local file system behind it by default.

An upload grows in `partial/<sha256>`; once complete and verified it moves to `blobs/<ab>/<sha256>`, named by its
content, so a finished file is never written again.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from typing import Protocol


class BlobStore(Protocol):
    def write_at(self, sha256: str, offset: int, data: bytes) -> None: ...
    def partial_size(self, sha256: str) -> int: ...
    def finish(self, sha256: str) -> bool: ...
    def has(self, sha256: str) -> bool: ...
    def read(self, sha256: str) -> bytes: ...


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "partial").mkdir(parents=True, exist_ok=True)
        (root / "blobs").mkdir(parents=True, exist_ok=True)

    def _partial(self, sha256: str) -> Path:
        return self.root / "partial" / sha256

    def _blob(self, sha256: str) -> Path:
        return self.root / "blobs" / sha256[:2] / sha256

    def write_at(self, sha256: str, offset: int, data: bytes) -> None:
        """Write a chunk at `offset`, dropping anything after it (bytes a failed request left behind)."""
        path = self._partial(sha256)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        with os.fdopen(fd, "r+b") as handle:
            handle.truncate(offset)
            handle.seek(offset)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())

    def partial_size(self, sha256: str) -> int:
        try:
            return self._partial(sha256).stat().st_size
        except FileNotFoundError:
            return 0

    def finish(self, sha256: str) -> bool:
        """Verify the complete upload against its name; a mismatch discards it so the device sends it again."""
        path = self._partial(sha256)
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        if digest.hexdigest() != sha256:
            path.unlink(missing_ok=True)
            return False
        target = self._blob(sha256)
        target.parent.mkdir(exist_ok=True)
        os.replace(path, target)
        return True

    def has(self, sha256: str) -> bool:
        return self._blob(sha256).exists()

    def read(self, sha256: str) -> bytes:
        return self._blob(sha256).read_bytes()

    def discard(self, sha256: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._partial(sha256).unlink()
