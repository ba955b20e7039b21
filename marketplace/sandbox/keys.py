"""The sandbox platform's RSA key pair, generated once into `<data_dir>/sandbox/platform-key.pem` (mode 0600)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from jwt.algorithms import RSAAlgorithm

KEY_FILE = "platform-key.pem"
_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class PlatformKey:
    """The private key (PEM), its public half as PEM and as a JWK, and a kid stable across restarts."""

    kid: str
    private_pem: str
    public_pem: str
    public_jwk: dict[str, Any]

    @classmethod
    def from_private_key(cls, key: RSAPrivateKey) -> PlatformKey:
        private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()).decode("ascii")
        public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")
        jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
        kid = _thumbprint(jwk)
        jwk.update({"kid": kid, "alg": "RS256", "use": "sig"})
        return cls(kid, private_pem, public_pem, jwk)


def _thumbprint(jwk: dict[str, Any]) -> str:
    """The RFC 7638 thumbprint, so the kid follows the key file rather than the process."""
    canonical = json.dumps({"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode("ascii")).digest()).rstrip(b"=").decode("ascii")


def load_or_create_key(data_dir: Path) -> PlatformKey:
    """The sandbox key from the data folder, created (readable by the owner only) on first use."""
    path = data_dir / "sandbox" / KEY_FILE
    with _lock:
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
            # Written aside then linked into place, so another process never reads half a key.
            scratch = path.with_name(f".{KEY_FILE}.{os.getpid()}.{threading.get_ident()}")
            descriptor = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(pem)
            try:
                os.link(scratch, path)
            except FileExistsError:
                pass  # another process was first: use its key
            finally:
                scratch.unlink()
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, RSAPrivateKey):
        raise ValueError(f"{path} does not hold an RSA private key; delete it to get a new one.")
    return PlatformKey.from_private_key(loaded)
