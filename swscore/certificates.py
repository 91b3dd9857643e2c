"""A user's own certificate for a service (issue 15): checked, then its key sealed to the host.

What is refused, each naming the field: a chain or key that is not PEM, a key with a
passphrase or of a kind nginx should not serve, a key that is not the certificate's, a
certificate that has expired or is not yet valid, one that does not cover the service's domain,
and a chain whose certificates do not follow each other. No Flask import (the agent checks
issued certificates with the same code).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtensionOID

from swscore.spec import SpecError

MAX_CHAIN = 10
MIN_RSA_BITS = 2048
EC_CURVES = (ec.SECP256R1, ec.SECP384R1)
_SPKI = serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo


@dataclass(frozen=True)
class CheckedCertificate:
    chain_pem: str  # the certificates, leaf first, as PEM
    key_pem: bytes  # PKCS#8 PEM: sealed at once, never stored or shown as is
    fingerprint: str  # sha256 of the leaf (DER), hex
    not_after: datetime
    names: tuple[str, ...]  # the leaf's DNS names


def load_chain(text) -> list[x509.Certificate]:
    if not isinstance(text, str) or "-----BEGIN CERTIFICATE-----" not in text:
        raise SpecError({"certificate": "must be PEM text: -----BEGIN CERTIFICATE----- ..."})
    try:
        chain = x509.load_pem_x509_certificates(text.encode())
    except ValueError:
        raise SpecError({"certificate": "is not a readable PEM certificate chain"}) from None
    if len(chain) > MAX_CHAIN:
        raise SpecError({"certificate": f"must hold at most {MAX_CHAIN} certificates"})
    return chain


def load_key(text):
    if not isinstance(text, str) or "PRIVATE KEY-----" not in text:
        raise SpecError({"key": "must be a PEM private key: -----BEGIN PRIVATE KEY----- ..."})
    try:
        key = serialization.load_pem_private_key(text.encode(), password=None)
    except TypeError:
        raise SpecError({"key": "must not be protected by a passphrase"}) from None
    except (ValueError, UnsupportedAlgorithm):
        raise SpecError({"key": "is not a readable PEM private key"}) from None
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size >= MIN_RSA_BITS:
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, EC_CURVES):
        return key
    raise SpecError({"key": "must be an RSA key of 2048 bits or more, or ECDSA P-256 or P-384"})


def dns_names(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        san = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    except x509.ExtensionNotFound:
        return ()
    return tuple(n.lower() for n in san.value.get_values_for_type(x509.DNSName))


def covers(names: tuple[str, ...], domain: str) -> bool:
    """RFC 6125: an exact name, or a wildcard for the domain's first label only."""
    parent = domain.partition(".")[2]
    return domain in names or (bool(parent) and f"*.{parent}" in names)


def check(domain: str, chain_text, key_text, now: datetime | None = None) -> CheckedCertificate:
    """The upload for `domain`, checked; SpecError naming certificate or key otherwise."""
    now = now or datetime.now(UTC)
    chain = load_chain(chain_text)
    key = load_key(key_text)
    leaf = chain[0]
    if not key_matches(leaf, key):
        raise SpecError({"key": "does not match the certificate (the first one in the chain)"})
    if leaf.not_valid_after_utc <= now:
        raise SpecError(
            {"certificate": f"expired on {leaf.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"}
        )
    if leaf.not_valid_before_utc > now:
        raise SpecError(
            {"certificate": f"is not valid before {leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"}
        )
    names = dns_names(leaf)
    if not covers(names, domain):
        shown = ", ".join(names[:5]) or "no DNS names"
        raise SpecError(
            {"certificate": f"does not cover the service's domain {domain} (it covers {shown})"}
        )
    for i, (child, parent) in enumerate(zip(chain, chain[1:], strict=False)):
        if child.issuer != parent.subject:
            raise SpecError(
                {"certificate": f"certificate {i + 2} of the chain did not issue number {i + 1}"}
            )
    return CheckedCertificate(
        chain_pem="".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in chain),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        fingerprint=leaf_fingerprint(leaf),
        not_after=leaf.not_valid_after_utc,
        names=names,
    )


def key_matches(leaf: x509.Certificate, key) -> bool:
    """Is `key` the private half of the certificate's public key?"""
    return leaf.public_key().public_bytes(*_SPKI) == key.public_key().public_bytes(*_SPKI)


def leaf_fingerprint(leaf: x509.Certificate) -> str:
    return hashlib.sha256(leaf.public_bytes(serialization.Encoding.DER)).hexdigest()
