"""ONDC request signing: ed25519 over a BLAKE2b-512 digest, carried in the Authorization header.

The header and the signed string follow the RSF domain contract byte for byte, because the
receiving network participant rebuilds the signed string from the header and the raw body; any
difference (a space, the digest label) makes a valid signature fail there.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import inspect
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from rsf_core.errors import NACK_INVALID_SIGNATURE, DomainError

__all__ = [
    "DEFAULT_CLOCK_SKEW_SECONDS",
    "SIGNATURE_VALIDITY_SECONDS",
    "AnyPublicKeyLookup",
    "AsyncPublicKeyLookup",
    "KeyPair",
    "PublicKeyLookup",
    "SignatureError",
    "StaticKeyLookup",
    "VerifiedSignature",
    "body_digest",
    "generate_keypair",
    "parse_authorization",
    "sign_request",
    "signing_string",
    "verify_authorization",
    "verify_authorization_async",
]

SIGNATURE_VALIDITY_SECONDS = 3600
DEFAULT_CLOCK_SKEW_SECONDS = 300
_SIGNED_HEADERS = "(created) (expires) digest"
_PARAM = re.compile(r'\s*([A-Za-z]+)="([^"]*)"\s*(?:,|$)')


class SignatureError(DomainError):
    """A missing, malformed, expired or invalid Authorization signature: NACK 70001."""

    http_status = 401
    default_code = "INVALID_SIGNATURE"
    nack_code = NACK_INVALID_SIGNATURE


PublicKeyLookup = Callable[[str, str], str | None]
"""``(subscriber_id, unique_key_id) -> base64 ed25519 public key``, or ``None`` when unknown."""

AsyncPublicKeyLookup = Callable[[str, str], Awaitable[str | None]]
"""The same, asynchronously (e.g. a registry over HTTP)."""

AnyPublicKeyLookup = PublicKeyLookup | AsyncPublicKeyLookup


@dataclass(frozen=True)
class KeyPair:
    """An ed25519 key pair as ONDC registries publish it (base64)."""

    private_key_b64: str  # 64 bytes: seed + public key (libsodium's secret key layout)
    public_key_b64: str  # 32 bytes


@dataclass(frozen=True)
class VerifiedSignature:
    """Who signed a request, once the signature is proven valid."""

    subscriber_id: str
    unique_key_id: str
    created: int
    expires: int


@dataclass(frozen=True)
class _ParsedHeader:
    subscriber_id: str
    unique_key_id: str
    created: int
    expires: int
    signature: bytes


class StaticKeyLookup:
    """Public keys from configuration: keyed by subscriber id, optionally by ``(id, key id)``."""

    def __init__(self, keys: Mapping[str, str] | Mapping[tuple[str, str], str]) -> None:
        self._keys: dict[object, str] = {key: value for key, value in keys.items()}

    def __call__(self, subscriber_id: str, unique_key_id: str) -> str | None:
        return self._keys.get((subscriber_id, unique_key_id)) or self._keys.get(subscriber_id)


def generate_keypair() -> KeyPair:
    """A fresh ed25519 key pair (for tests, local development and key rotation)."""
    key = SigningKey.generate()
    public = bytes(key.verify_key)
    return KeyPair(
        private_key_b64=base64.b64encode(bytes(key) + public).decode("ascii"),
        public_key_b64=base64.b64encode(public).decode("ascii"),
    )


def body_digest(body: bytes) -> str:
    """``b64(blake2b-512(body))``: the digest the signed string carries."""
    return base64.b64encode(hashlib.blake2b(body, digest_size=64).digest()).decode("ascii")


def signing_string(body: bytes, created: int, expires: int) -> str:
    return f"(created): {created}\n(expires): {expires}\ndigest: BLAKE-512={body_digest(body)}"


def _signing_key(private_key_b64: str) -> SigningKey:
    try:
        raw = base64.b64decode(private_key_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("signing private key is not valid base64") from exc
    # Registries hand out libsodium's 64-byte secret key (seed + public); the seed is enough.
    if len(raw) not in (32, 64):
        raise ValueError("signing private key must decode to 32 or 64 bytes")
    return SigningKey(raw[:32])


def sign_request(
    body: bytes,
    subscriber_id: str,
    unique_key_id: str,
    private_key_b64: str,
    now: float | None = None,
) -> str:
    """The ``Authorization`` header value for ``body``, valid for one hour from ``now``."""
    created = int(time.time() if now is None else now)
    expires = created + SIGNATURE_VALIDITY_SECONDS
    signed = _signing_key(private_key_b64).sign(signing_string(body, created, expires).encode())
    signature = base64.b64encode(signed.signature).decode("ascii")
    return (
        f'Signature keyId="{subscriber_id}|{unique_key_id}|ed25519",algorithm="ed25519",'
        f'created="{created}",expires="{expires}",headers="{_SIGNED_HEADERS}",'
        f'signature="{signature}"'
    )


def parse_authorization(header: str | None) -> _ParsedHeader:
    """Split the header into its parts, rejecting anything not exactly the ONDC shape."""
    if header is None or not header.strip():
        raise SignatureError("Authorization header is missing")
    scheme, _, rest = header.strip().partition(" ")
    if scheme != "Signature" or not rest:
        raise SignatureError("Authorization header is not an ONDC Signature header")
    params: dict[str, str] = {}
    position = 0
    while position < len(rest):
        match = _PARAM.match(rest, position)
        if match is None:
            raise SignatureError("Authorization header is malformed")
        params[match.group(1)] = match.group(2)
        position = match.end()
    missing = [
        name
        for name in ("keyId", "algorithm", "created", "expires", "headers", "signature")
        if name not in params
    ]
    if missing:
        raise SignatureError(f"Authorization header lacks {', '.join(missing)}")
    key_parts = params["keyId"].split("|")
    if len(key_parts) != 3 or not all(key_parts) or key_parts[2] != "ed25519":
        raise SignatureError("keyId must be subscriber_id|unique_key_id|ed25519")
    if params["algorithm"] != "ed25519":
        raise SignatureError("algorithm must be ed25519")
    if params["headers"] != _SIGNED_HEADERS:
        raise SignatureError(f'headers must be "{_SIGNED_HEADERS}"')
    if not (params["created"].isdigit() and params["expires"].isdigit()):
        raise SignatureError("created and expires must be unix timestamps")
    try:
        signature = base64.b64decode(params["signature"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureError("signature is not valid base64") from exc
    if len(signature) != 64:
        raise SignatureError("signature must be 64 bytes")
    return _ParsedHeader(
        subscriber_id=key_parts[0],
        unique_key_id=key_parts[1],
        created=int(params["created"]),
        expires=int(params["expires"]),
        signature=signature,
    )


def _check_window(parsed: _ParsedHeader, now: float | None, skew: float) -> None:
    current = time.time() if now is None else now
    if parsed.expires <= parsed.created:
        raise SignatureError("expires must be later than created")
    if parsed.created > current + skew:
        raise SignatureError("signature created in the future")
    if parsed.expires < current - skew:
        raise SignatureError("signature has expired")


def _check_signature(parsed: _ParsedHeader, body: bytes, public_key_b64: str | None) -> None:
    if not public_key_b64:
        raise SignatureError(f"no public key known for {parsed.subscriber_id}")
    try:
        verify_key = VerifyKey(base64.b64decode(public_key_b64, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise SignatureError(f"public key of {parsed.subscriber_id} is not usable") from exc
    message = signing_string(body, parsed.created, parsed.expires).encode()
    try:
        verify_key.verify(message, parsed.signature)
    except BadSignatureError as exc:
        raise SignatureError("signature does not match the body or the key") from exc


def verify_authorization(
    header: str | None,
    body: bytes,
    public_key_lookup: PublicKeyLookup,
    now: float | None = None,
    *,
    clock_skew: float = DEFAULT_CLOCK_SKEW_SECONDS,
) -> VerifiedSignature:
    """Prove ``header`` signs ``body``; :class:`SignatureError` (NACK 70001) otherwise."""
    parsed = parse_authorization(header)
    _check_window(parsed, now, clock_skew)
    _check_signature(parsed, body, public_key_lookup(parsed.subscriber_id, parsed.unique_key_id))
    return VerifiedSignature(
        parsed.subscriber_id, parsed.unique_key_id, parsed.created, parsed.expires
    )


async def verify_authorization_async(
    header: str | None,
    body: bytes,
    public_key_lookup: AnyPublicKeyLookup,
    now: float | None = None,
    *,
    clock_skew: float = DEFAULT_CLOCK_SKEW_SECONDS,
) -> VerifiedSignature:
    """:func:`verify_authorization` with a sync or async key lookup (e.g. a registry over HTTP)."""
    parsed = parse_authorization(header)
    _check_window(parsed, now, clock_skew)
    found = public_key_lookup(parsed.subscriber_id, parsed.unique_key_id)
    public_key = await found if inspect.isawaitable(found) else found
    _check_signature(parsed, body, public_key)
    return VerifiedSignature(
        parsed.subscriber_id, parsed.unique_key_id, parsed.created, parsed.expires
    )
