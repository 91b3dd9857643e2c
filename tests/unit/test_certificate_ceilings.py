"""Ceilings on uploaded certificates (issue 25): the key kinds and sizes HAProxy serves, a PEM
size HAProxy's runtime API takes, and certificates that cannot be read refused naming the
field, each with real generated keys."""

import time

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from swscore import certificates
from swscore.spec import SpecError
from tests.fixtures.certs import TestCA, rsa_key

DOMAIN = "web.example.com"
# Far above what a refusal costs (milliseconds) and far below what checking the key would
# (an RSA-6144 key's consistency check alone took 1.75 s here): a bound that cannot flake.
FAST = 1.0


@pytest.fixture(scope="module")
def ca():
    return TestCA()


def refused(chain: str, key: str) -> dict:
    with pytest.raises(SpecError) as caught:
        certificates.check(DOMAIN, chain, key)
    return caught.value.fields


@pytest.mark.parametrize(
    "key",
    [
        pytest.param(lambda: rsa_key(2048), id="rsa-2048"),
        pytest.param(lambda: rsa_key(4096), id="rsa-4096"),
        pytest.param(lambda: ec.generate_private_key(ec.SECP256R1()), id="p-256"),
        pytest.param(lambda: ec.generate_private_key(ec.SECP384R1()), id="p-384"),
    ],
)
def test_the_key_kinds_haproxy_serves_are_taken(ca, key):
    issued = ca.issue(DOMAIN, key=key())
    checked = certificates.check(DOMAIN, issued.chain_pem, issued.key_pem)
    assert checked.names == (DOMAIN,)


@pytest.mark.parametrize(
    "key, words",
    [
        pytest.param(lambda: rsa_key(6144), "this RSA key has 6144 bits", id="rsa-6144"),
        pytest.param(lambda: rsa_key(1024), "this RSA key has 1024 bits", id="rsa-1024"),
        pytest.param(lambda: ed25519.Ed25519PrivateKey.generate(), "is Ed25519", id="ed25519"),
        pytest.param(lambda: ec.generate_private_key(ec.SECP521R1()), "secp521r1", id="p-521"),
    ],
)
def test_other_kinds_and_sizes_are_refused_fast_naming_the_key(ca, key, words):
    issued = ca.issue(DOMAIN, key=key())
    started = time.monotonic()
    fields = refused(issued.chain_pem, issued.key_pem)
    assert time.monotonic() - started < FAST
    assert set(fields) == {"key"}
    assert "RSA key of 2048 to 4096 bits, or an ECDSA key on P-256 or P-384" in fields["key"]
    assert words in fields["key"]


def test_a_pem_over_the_limit_is_refused_before_it_is_read(ca):
    issued = ca.issue(DOMAIN, key=rsa_key(4096))
    # Certificates enough to pass 12 KiB, then garbage: nothing of it is parsed.
    chain = issued.chain_pem * 8 + "-----BEGIN CERTIFICATE-----\n" + "A" * 1_000_000
    started = time.monotonic()
    fields = refused(chain, issued.key_pem)
    assert time.monotonic() - started < FAST
    assert "must be at most 12288 bytes of PEM" in fields["certificate"]
    huge_key = issued.key_pem + "A" * 20_000
    assert "at most 12288 bytes" in refused(issued.chain_pem, huge_key)["key"]


def test_a_full_chain_with_an_rsa_4096_key_fits(ca):
    issued = ca.issue(DOMAIN, key=rsa_key(4096))
    chain = issued.chain_pem + ca.pem  # leaf, intermediate, root
    assert len(chain) + len(issued.key_pem) < certificates.MAX_PEM_BYTES
    assert certificates.check(DOMAIN, chain, issued.key_pem).names == (DOMAIN,)


@pytest.mark.parametrize(
    "defect, words",
    [
        ("duplicate-san", "has the extension 2.5.29.17 more than once"),
        ("unknown-key", "an algorithm this host does not know (1.2.840.10045.2.9)"),
    ],
)
def test_a_certificate_that_cannot_be_read_is_refused_naming_it(ca, defect, words):
    issued = ca.issue_altered(DOMAIN, defect)
    assert words in refused(issued.chain_pem, issued.key_pem)["certificate"]
