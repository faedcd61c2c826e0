"""Read-only Nightscout access tokens for a patient's followers, and the JWTs apps ask for.

A follower (a caregiver's app, a watch face, another xDrip+ in follower mode) gets its
own token, made for one person and revocable, instead of the uploader's write secret.
Nightscout's token forms are accepted (cgm-remote-monitor ``lib/authorization/index.js``):
``?token=``, ``Authorization: Bearer <token or JWT>``, ``api-secret: token=<token>``,
and ``api-secret: <SHA-1 hex of the token>``. ``/api/v2/authorization/request/<token>``
exchanges a token for a JWT (``lib/api2/authorization``) signed with a key derived from
the dashboard's secret key; the JWT names the token, not the token itself, so revoking
the token ends its JWTs at once.

Tokens are made and revoked by the patient's uploader secret (Nightscout's API_SECRET is
its admin credential) through ``/api/v2/authorization/subjects``, or in Python by
``NightscoutTokens.issue``. The table: core/appdb/nightscout_tokens.py; only a digest
of each token is kept.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from core.appdb.credentials import NightscoutUploader
from core.appdb.models import Device
from core.appdb.nightscout_tokens import NightscoutToken
from core.provisioning import nightscout_api_secret_header, nightscout_digest_of_header

READABLE = "readable"
# What a follower may do, in Nightscout's permission syntax (the ``readable`` role).
READ_PERMISSIONS = ["*:*:read"]
JWT_LIFETIME = timedelta(hours=8)  # Nightscout's lib/authorization: 8 hours
JWT_ALGORITHM = "HS256"
TOKEN_HEX = 16  # 128 random bits after the name
_NOT_NAME = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: str
    patient_id: str
    holder: str
    role: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class IssuedToken:
    info: TokenInfo
    token: str  # shown once, never stored


def _info(row: NightscoutToken) -> TokenInfo:
    return TokenInfo(row.id, row.patient_id, row.holder, row.role, row.created_at,
                     row.revoked_at)


class NightscoutTokens:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def issue(self, patient_id: str, holder: str, *, created_by: str, now: datetime
              ) -> IssuedToken:
        """A new read-only token for ``holder`` (a person's name or account id)."""
        holder = holder.strip()
        if not holder or len(holder) > 200:
            raise ValueError("name who the token is for (1-200 characters)")
        name = (_NOT_NAME.sub("-", holder.lower()).strip("-") or "follower")[:40]
        token = f"{name}-{secrets.token_hex(TOKEN_HEX)}"
        row = NightscoutToken(
            id=f"{name}-{secrets.token_hex(3)}", patient_id=patient_id, holder=holder,
            role=READABLE, digest=nightscout_digest_of_header(nightscout_api_secret_header(token)),
            created_by=created_by, created_at=now)
        with Session(self._engine) as session:
            session.add(row)
            session.commit()
            return IssuedToken(_info(row), token)

    def revoke(self, patient_id: str, token_id: str, *, now: datetime) -> bool:
        """Revoke one of the patient's tokens; False when there is no such active token."""
        with Session(self._engine) as session:
            row = session.get(NightscoutToken, token_id)
            if row is None or row.patient_id != patient_id or row.revoked_at is not None:
                return False
            row.revoked_at = now
            session.commit()
            return True

    def of_patient(self, patient_id: str) -> list[TokenInfo]:
        with Session(self._engine) as session:
            rows = session.scalars(select(NightscoutToken).where(
                NightscoutToken.patient_id == patient_id).order_by(NightscoutToken.created_at))
            return [_info(r) for r in rows]

    def by_sha1(self, api_secret_sha1: str) -> TokenInfo | None:
        """The active token whose SHA-1 hex this is."""
        digest = nightscout_digest_of_header(api_secret_sha1)
        with Session(self._engine) as session:
            row = session.scalars(select(NightscoutToken).where(
                NightscoutToken.digest == digest, NightscoutToken.revoked_at.is_(None))).first()
            return _info(row) if row else None

    def by_id(self, token_id: str) -> TokenInfo | None:
        """The active token with this id (what a JWT names)."""
        with Session(self._engine) as session:
            row = session.get(NightscoutToken, token_id)
            return _info(row) if row is not None and row.revoked_at is None else None


# --- JWTs ------------------------------------------------------------------------------------

def jwt_key(secret_key: str) -> bytes:
    """A key for Nightscout JWTs only, derived from the dashboard's secret key."""
    return hmac.new(secret_key.encode(), b"hearth nightscout jwt", hashlib.sha256).digest()


UPLOADER_SUBJECT = "uploader:"  # a JWT's subject for an uploader (AndroidAPS NSClient v3)


def make_jwt(info: TokenInfo | str, *, key: bytes, now: datetime) -> tuple[str, int, int]:
    """A JWT naming a follower's token (its id) or an uploader (``uploader:<device id>``)."""
    iat = int(now.timestamp())
    exp = int((now + JWT_LIFETIME).timestamp())
    sub = info if isinstance(info, str) else info.id
    token = jwt.encode({"sub": sub, "iat": iat, "exp": exp, "iss": "hearth"}, key,
                       algorithm=JWT_ALGORITHM)
    return token, iat, exp


def active_uploader(engine: Engine, device_id: str) -> str | None:
    """The patient of an uploader whose secret and device are still active (what a JWT
    naming ``uploader:<device id>`` needs at every use, so revoking ends its JWTs)."""
    with Session(engine) as session:
        row = session.execute(
            select(Device.patient_id)
            .join(NightscoutUploader, NightscoutUploader.device_id == Device.id)
            .where(Device.id == device_id, NightscoutUploader.revoked_at.is_(None),
                   Device.active.is_(True))).first()
    return row[0] if row else None


def looks_like_jwt(text: str) -> bool:
    return text.count(".") == 2 and text.startswith("eyJ")


def read_jwt(token: str, *, key: bytes, now: datetime) -> str | None:
    """The token id a valid, unexpired JWT names; None otherwise."""
    try:
        claims = jwt.decode(token, key, algorithms=[JWT_ALGORITHM], issuer="hearth",
                            options={"require": ["sub", "exp", "iat"], "verify_iat": False},
                            leeway=0)
    except jwt.PyJWTError:
        return None
    if claims["exp"] < now.timestamp():
        return None
    sub = claims.get("sub")
    return sub if isinstance(sub, str) else None
