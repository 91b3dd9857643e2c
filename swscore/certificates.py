"""A user's own certificate for a service (issue 15): checked, then its key sealed to the host.

What is refused, each naming the field: a chain and key larger than HAProxy takes, a chain or
key that is not PEM, a key with a passphrase or of a kind or size HAProxy should not serve, a
key that is not the certificate's, a certificate whose key or extensions cannot be read, one
that has expired or is not yet valid, one that does not cover the service's domain, and a chain
whose certificates do not follow each other. The cheap checks come first (size, then the key's
kind and size), so a hostile upload costs milliseconds, never seconds of CPU. No Flask import
(the agent checks issued certificates with the same code).
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
# HAProxy ends TLS in one thread: every handshake signs with the key, and an RSA key's cost
# grows with the cube of its size (RSA-12288 took 0.095 s of that thread a handshake, and
# checking an RSA-16384 key took the apiserver 27 s). 4096 bits is the most any CA issues.
MIN_RSA_BITS = 2048
MAX_RSA_BITS = 4096
EC_CURVES = (ec.SECP256R1, ec.SECP384R1)
KEY_KINDS = "an RSA key of 2048 to 4096 bits, or an ECDSA key on P-256 or P-384"
# HAProxy's runtime API (`set ssl cert`) refuses a payload over its 16 KiB buffer, and a
# refused one left the domain wedged (issue 25). Chain and key travel together as one PEM, so
# they share one limit, with room below 16 KiB for the agent's framing; a leaf, two
# intermediates and an RSA-4096 key take about 8 KiB.
MAX_PEM_BYTES = 12 * 1024
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


def check_sizes(chain_text, key_text) -> None:
    """Refuse a chain and key larger than HAProxy takes, before anything parses them."""
    if not isinstance(chain_text, str) or not isinstance(key_text, str):
        return  # load_chain and load_key say what each must be
    chain_bytes, key_bytes = len(chain_text.encode()), len(key_text.encode())
    if key_bytes > MAX_PEM_BYTES:
        raise SpecError(
            {"key": f"must be at most {MAX_PEM_BYTES} bytes of PEM (it is {key_bytes})"}
        )
    if chain_bytes + key_bytes > MAX_PEM_BYTES:
        raise SpecError(
            {
                "certificate": f"with the key, must be at most {MAX_PEM_BYTES} bytes of PEM "
                f"(the chain is {chain_bytes}, the key {key_bytes}): send fewer certificates "
                "or a smaller key"
            }
        )


def _kind_problem(key) -> str | None:
    """Why HAProxy should not serve with this key (private or public), or None."""
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        if MIN_RSA_BITS <= key.key_size <= MAX_RSA_BITS:
            return None
        return f"must be {KEY_KINDS} (this RSA key has {key.key_size} bits)"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        if isinstance(key.curve, EC_CURVES):
            return None
        return f"must be {KEY_KINDS} (this ECDSA key is on {key.curve.name})"
    kind = type(key).__name__.removesuffix("PrivateKey").removesuffix("PublicKey")
    return f"must be {KEY_KINDS} (this key is {kind})"


def load_key(text):
    if not isinstance(text, str) or "PRIVATE KEY-----" not in text:
        raise SpecError({"key": "must be a PEM private key: -----BEGIN PRIVATE KEY----- ..."})
    # The kind and size are known without OpenSSL's consistency check of an RSA key, whose
    # cost grows with the size: that check runs only once the size is one we take.
    key = _read_key(text, skip_rsa_check=True)
    problem = _kind_problem(key)
    if problem:
        raise SpecError({"key": problem})
    return _read_key(text, skip_rsa_check=False) if isinstance(key, rsa.RSAPrivateKey) else key


def _read_key(text: str, skip_rsa_check: bool):
    try:
        return serialization.load_pem_private_key(
            text.encode(), password=None, unsafe_skip_rsa_key_validation=skip_rsa_check
        )
    except TypeError:
        raise SpecError({"key": "must not be protected by a passphrase"}) from None
    except (ValueError, UnsupportedAlgorithm):
        raise SpecError({"key": "is not a readable PEM private key"}) from None


def leaf_public_key(leaf: x509.Certificate):
    """The certificate's public key, or a SpecError when it is of no kind this host takes."""
    try:
        key = leaf.public_key()
    except (UnsupportedAlgorithm, ValueError):
        oid = leaf.public_key_algorithm_oid.dotted_string
        raise SpecError(
            {"certificate": f"has a public key of an algorithm this host does not know ({oid})"}
        ) from None
    problem = _kind_problem(key)
    if problem:
        raise SpecError({"certificate": f"its public key {problem}"})
    return key


def dns_names(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        san = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    except x509.ExtensionNotFound:
        return ()
    except x509.DuplicateExtension as err:  # RFC 5280 4.2: each extension at most once
        raise SpecError(
            {"certificate": f"has the extension {err.oid.dotted_string} more than once"}
        ) from None
    except ValueError:
        raise SpecError({"certificate": "has extensions that cannot be read"}) from None
    return tuple(n.lower() for n in san.value.get_values_for_type(x509.DNSName))


def covers(names: tuple[str, ...], domain: str) -> bool:
    """RFC 6125: an exact name, or a wildcard for the domain's first label only."""
    parent = domain.partition(".")[2]
    return domain in names or (bool(parent) and f"*.{parent}" in names)


def check(domain: str, chain_text, key_text, now: datetime | None = None) -> CheckedCertificate:
    """The upload for `domain`, checked; SpecError naming certificate or key otherwise."""
    now = now or datetime.now(UTC)
    check_sizes(chain_text, key_text)
    chain = load_chain(chain_text)
    key = load_key(key_text)
    leaf = chain[0]
    leaf_public_key(leaf)
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
