"""Sealed boxes (issue 15): the apiserver seals with the host's public key, only the private
key opens, and a box that was altered or sealed for another host does not open."""

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from swscore import sealing

HOST = X25519PrivateKey.generate()


@settings(max_examples=50, deadline=None)
@given(plaintext=st.binary(max_size=5000))
def test_a_box_opens_with_the_host_key_only(plaintext):
    box = sealing.seal(HOST.public_key(), plaintext)
    assert len(plaintext) < 16 or plaintext not in box  # short ones may occur by chance
    assert sealing.open_box(HOST, box) == plaintext
    with pytest.raises(sealing.SealError):
        sealing.open_box(X25519PrivateKey.generate(), box)


def test_two_boxes_of_one_key_differ_and_an_altered_box_is_refused():
    first = sealing.seal(HOST.public_key(), b"key")
    assert first != sealing.seal(HOST.public_key(), b"key")
    for i in (0, 5, 40, len(first) - 1):
        altered = bytearray(first)
        altered[i] ^= 1
        with pytest.raises(sealing.SealError):
            sealing.open_box(HOST, bytes(altered))
    with pytest.raises(sealing.SealError):
        sealing.open_box(HOST, b"\x01short")


def test_the_public_key_reads_as_base64_or_pem_and_anything_else_is_refused():
    raw = HOST.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    pem = HOST.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for text in (base64.b64encode(raw).decode(), pem.decode()):
        key = sealing.public_key_from_text(text)
        assert sealing.open_box(HOST, sealing.seal(key, b"x")) == b"x"
    for bad in ("", "not base64!", base64.b64encode(b"short").decode(), "-----BEGIN junk"):
        with pytest.raises(sealing.SealError):
            sealing.public_key_from_text(bad)


def test_the_apiserver_config_names_the_variable_of_a_bad_key():
    from swsapi.config import Config, ConfigError

    with pytest.raises(ConfigError, match="SWS_CERT_SEAL_KEY"):
        Config({"SWS_CERT_SEAL_KEY": "nonsense"})
    assert Config({}).SWS_CERT_SEAL_KEY is None
