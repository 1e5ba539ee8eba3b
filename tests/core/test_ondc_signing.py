"""ONDC Authorization header: sign and verify round trip, and every way a header is rejected."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from nacl.signing import SigningKey
from rsf_core.acks import nack_from_error
from rsf_core.signing import (
    SignatureError,
    StaticKeyLookup,
    generate_keypair,
    sign_request,
    signing_string,
    verify_authorization,
    verify_authorization_async,
)

BODY = b'{"context":{"action":"on_settle"},"message":{}}'
NOW = 1_760_000_000

# A fixed key (seed of 32 bytes 0x01..0x20) so the header is a reproducible vector.
SEED = bytes(range(1, 33))
FIXED_KEY = SigningKey(SEED)
FIXED_PRIVATE = base64.b64encode(SEED + bytes(FIXED_KEY.verify_key)).decode()
FIXED_PUBLIC = base64.b64encode(bytes(FIXED_KEY.verify_key)).decode()


def _lookup(public_b64: str) -> StaticKeyLookup:
    return StaticKeyLookup({"np.example.com": public_b64})


def test_header_has_the_exact_ondc_shape() -> None:
    header = sign_request(BODY, "np.example.com", "key-1", FIXED_PRIVATE, now=NOW)
    digest = base64.b64encode(hashlib.blake2b(BODY, digest_size=64).digest()).decode()
    expected_string = f"(created): {NOW}\n(expires): {NOW + 3600}\ndigest: BLAKE-512={digest}"
    assert signing_string(BODY, NOW, NOW + 3600) == expected_string
    expected_signature = base64.b64encode(
        FIXED_KEY.sign(expected_string.encode()).signature
    ).decode()
    assert header == (
        'Signature keyId="np.example.com|key-1|ed25519",algorithm="ed25519",'
        f'created="{NOW}",expires="{NOW + 3600}",headers="(created) (expires) digest",'
        f'signature="{expected_signature}"'
    )


def test_round_trip_names_the_signer() -> None:
    keys = generate_keypair()
    header = sign_request(BODY, "np.example.com", "key-7", keys.private_key_b64, now=NOW)
    verified = verify_authorization(header, BODY, _lookup(keys.public_key_b64), now=NOW + 10)
    assert verified.subscriber_id == "np.example.com"
    assert verified.unique_key_id == "key-7"
    assert (verified.created, verified.expires) == (NOW, NOW + 3600)


def test_a_32_byte_seed_signs_the_same_as_the_64_byte_secret_key() -> None:
    seed_only = base64.b64encode(SEED).decode()
    assert sign_request(BODY, "np.example.com", "k", seed_only, now=NOW) == sign_request(
        BODY, "np.example.com", "k", FIXED_PRIVATE, now=NOW
    )


def test_tampered_body_is_rejected() -> None:
    header = sign_request(BODY, "np.example.com", "k", FIXED_PRIVATE, now=NOW)
    with pytest.raises(SignatureError, match="does not match"):
        verify_authorization(
            header, BODY.replace(b"{}", b'{"x":1}'), _lookup(FIXED_PUBLIC), now=NOW
        )


def test_wrong_key_is_rejected() -> None:
    header = sign_request(BODY, "np.example.com", "k", FIXED_PRIVATE, now=NOW)
    other = generate_keypair()
    with pytest.raises(SignatureError, match="does not match"):
        verify_authorization(header, BODY, _lookup(other.public_key_b64), now=NOW)


def test_unknown_signer_is_rejected() -> None:
    header = sign_request(BODY, "stranger.example.com", "k", FIXED_PRIVATE, now=NOW)
    with pytest.raises(SignatureError, match="no public key"):
        verify_authorization(header, BODY, _lookup(FIXED_PUBLIC), now=NOW)


def test_expired_header_is_rejected() -> None:
    header = sign_request(BODY, "np.example.com", "k", FIXED_PRIVATE, now=NOW)
    with pytest.raises(SignatureError, match="expired"):
        verify_authorization(header, BODY, _lookup(FIXED_PUBLIC), now=NOW + 3600 + 301)
    # Within the clock-skew allowance it still verifies.
    verify_authorization(header, BODY, _lookup(FIXED_PUBLIC), now=NOW + 3600 + 299)


def test_header_created_in_the_future_is_rejected() -> None:
    header = sign_request(BODY, "np.example.com", "k", FIXED_PRIVATE, now=NOW + 3000)
    with pytest.raises(SignatureError, match="future"):
        verify_authorization(header, BODY, _lookup(FIXED_PUBLIC), now=NOW)


def test_expires_rewritten_by_an_attacker_breaks_the_signature() -> None:
    header = sign_request(BODY, "np.example.com", "k", FIXED_PRIVATE, now=NOW)
    stretched = header.replace(f'expires="{NOW + 3600}"', f'expires="{NOW + 99999}"')
    with pytest.raises(SignatureError, match="does not match"):
        verify_authorization(stretched, BODY, _lookup(FIXED_PUBLIC), now=NOW + 5000)


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing"),
        ("", "missing"),
        ("Bearer abc", "not an ONDC Signature"),
        ('Signature keyId="a|b|ed25519",algorithm="ed25519"', "lacks"),
        ("Signature garbage", "malformed"),
        (
            'Signature keyId="a|ed25519",algorithm="ed25519",created="1",expires="2",'
            'headers="(created) (expires) digest",signature="AA=="',
            "keyId",
        ),
        (
            'Signature keyId="a|b|ed25519",algorithm="rsa",created="1",expires="2",'
            'headers="(created) (expires) digest",signature="AA=="',
            "algorithm",
        ),
        (
            'Signature keyId="a|b|ed25519",algorithm="ed25519",created="x",expires="2",'
            'headers="(created) (expires) digest",signature="AA=="',
            "unix timestamps",
        ),
        (
            'Signature keyId="a|b|ed25519",algorithm="ed25519",created="1",expires="2",'
            'headers="digest",signature="AA=="',
            "headers",
        ),
        (
            'Signature keyId="a|b|ed25519",algorithm="ed25519",created="1",expires="2",'
            'headers="(created) (expires) digest",signature="not base64!"',
            "base64",
        ),
    ],
)
def test_malformed_headers_are_rejected_with_a_reason(header: str | None, reason: str) -> None:
    with pytest.raises(SignatureError, match=re.escape(reason)):
        verify_authorization(header, BODY, _lookup(FIXED_PUBLIC), now=NOW)


def test_signature_error_answers_nack_70001() -> None:
    with pytest.raises(SignatureError) as caught:
        verify_authorization(None, BODY, _lookup(FIXED_PUBLIC), now=NOW)
    body = nack_from_error(caught.value)
    assert body["message"]["ack"]["status"] == "NACK"
    assert body["error"]["code"] == "70001"


async def test_async_lookup_verifies_too() -> None:
    async def lookup(subscriber_id: str, key_id: str) -> str | None:
        return FIXED_PUBLIC if (subscriber_id, key_id) == ("np.example.com", "k") else None

    header = sign_request(BODY, "np.example.com", "k", FIXED_PRIVATE, now=NOW)
    verified = await verify_authorization_async(header, BODY, lookup, now=NOW)
    assert verified.subscriber_id == "np.example.com"
    with pytest.raises(SignatureError):
        await verify_authorization_async(header, BODY + b" ", lookup, now=NOW)
