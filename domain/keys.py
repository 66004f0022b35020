"""The server's own keys, generated on first start and kept in files outside the database.

- `seal-ed25519.pem`: the Ed25519 key that seals signatures and completion certificates. A key that is replaced
  goes to `retired/` (named by its id) so that certificates sealed with it still verify.
- `link-secret`: the secret that customer-link tokens are derived from (domain.links).

Someone with a copy of the database alone can neither forge a seal nor use a customer link.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

SEAL_KEY_FILE = "seal-ed25519.pem"
LINK_SECRET_FILE = "link-secret"
RETIRED_DIR = "retired"


def key_id(public: Ed25519PublicKey) -> str:
    """The first 16 bytes of the SHA-256 of the raw public key, in hex."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:32]


def public_pem(public: Ed25519PublicKey) -> str:
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


@dataclass(frozen=True, slots=True)
class ServerKeys:
    seal: Ed25519PrivateKey
    link_secret: bytes
    # Every public key a seal may name, by id: the current one and the retired ones.
    known: Mapping[str, Ed25519PublicKey] = field(default_factory=dict)

    @property
    def seal_key_id(self) -> str:
        return key_id(self.seal.public_key())

    def public_key(self, kid: str) -> Ed25519PublicKey | None:
        if kid == self.seal_key_id:
            return self.seal.public_key()
        return self.known.get(kid)


def _create_exclusive(path: Path, data: bytes) -> bytes:
    """Write a new secret file readable by its owner only; if another process won the race, use its file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return data


def _seal_key(path: Path) -> Ed25519PrivateKey:
    if path.exists():
        pem = path.read_bytes()
    else:
        pem = _create_exclusive(
            path,
            Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
        )
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 private key")
    return key


def _retired(directory: Path) -> dict[str, Ed25519PublicKey]:
    found: dict[str, Ed25519PublicKey] = {}
    for file in sorted(directory.glob("*.pem")) if directory.is_dir() else []:
        key = serialization.load_pem_public_key(file.read_bytes())
        if isinstance(key, Ed25519PublicKey):
            found[key_id(key)] = key
    return found


def load_or_create(directory: Path) -> ServerKeys:
    seal = _seal_key(directory / SEAL_KEY_FILE)
    link_path = directory / LINK_SECRET_FILE
    link_secret = (
        link_path.read_bytes()
        if link_path.exists()
        else _create_exclusive(link_path, secrets.token_bytes(32))
    )
    if len(link_secret) < 32:
        raise ValueError(f"{link_path} must hold at least 32 bytes")
    return ServerKeys(seal=seal, link_secret=link_secret, known=_retired(directory / RETIRED_DIR))


def retire_seal_key(directory: Path) -> str:
    """Move the current seal key's public half to `retired/` and drop the private key; the next start makes a new
    one. Returns the retired key's id."""
    path = directory / SEAL_KEY_FILE
    public = _seal_key(path).public_key()
    kid = key_id(public)
    (directory / RETIRED_DIR).mkdir(parents=True, exist_ok=True)
    (directory / RETIRED_DIR / f"{kid}.pem").write_text(public_pem(public))
    path.unlink()
    return kid
