"""Sealed boxes for private keys at rest: anyone with the host's public key can seal, only
the holder of its private key (root on the host, /etc/sws/tls/store.key) can open.

The apiserver gets only the public key (SWS_CERT_SEAL_KEY), so a copy of the store or a flaw
in the apiserver gives away no certificate key. The construction is ECIES over X25519: a fresh
key pair a box, HKDF-SHA256 over the shared secret and both public keys, AES-256-GCM. No
Flask import: the agent uses it on the host.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = b"\x01"
_INFO = b"sws sealed box v1"
_RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw


class SealError(ValueError):
    """A box that does not open with this key, or a key that is not an X25519 key."""


def _derive(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral + recipient, info=_INFO)
    return hkdf.derive(shared)


def public_key_from_text(text: str) -> X25519PublicKey:
    """The public key as the bootstrap hands it over: a PEM block, or its 32 bytes in base64."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
        else:
            key = X25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
    except ValueError as err:
        raise SealError(f"not an X25519 public key: {err}") from None
    if not isinstance(key, X25519PublicKey):
        raise SealError("not an X25519 public key")
    return key


def private_key_from_pem(data: bytes) -> X25519PrivateKey:
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, X25519PrivateKey):
        raise SealError("not an X25519 private key")
    return key


def seal(recipient: X25519PublicKey, plaintext: bytes) -> bytes:
    ephemeral = X25519PrivateKey.generate()
    ephemeral_raw = ephemeral.public_key().public_bytes(*_RAW)
    recipient_raw = recipient.public_bytes(*_RAW)
    key = _derive(ephemeral.exchange(recipient), ephemeral_raw, recipient_raw)
    nonce = os.urandom(12)
    return VERSION + ephemeral_raw + nonce + AESGCM(key).encrypt(nonce, plaintext, VERSION)


def open_box(private: X25519PrivateKey, box: bytes) -> bytes:
    if len(box) < 1 + 32 + 12 + 16 or box[:1] != VERSION:
        raise SealError("not a sealed box of this version")
    ephemeral_raw, nonce, sealed = box[1:33], box[33:45], box[45:]
    recipient_raw = private.public_key().public_bytes(*_RAW)
    shared = private.exchange(X25519PublicKey.from_public_bytes(ephemeral_raw))
    try:
        return AESGCM(_derive(shared, ephemeral_raw, recipient_raw)).decrypt(nonce, sealed, VERSION)
    except InvalidTag:
        raise SealError(
            "the box does not open with this key (another host's, or altered)"
        ) from None
