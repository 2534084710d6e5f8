"""The users part of the `~relphot_core.store.api.Store` facade: accounts
(name, role, argon2 password hash) and API tokens (stored as digests) of
the ``accounts`` authentication mode (`relphot_core.identity`).

Hashes and digests are made by `relphot_core.identity`; this part stores
and finds them. No password, hash or token is ever put in an error
message. The part assumes the facade's ``_read()`` / ``_write(what)``
connection context managers.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import delete, func, insert, select, update

from ..identity import Role, parse_role
from . import queries
from .models import ApiToken, AppUser, utcnow

U = AppUser.__table__
T = ApiToken.__table__

MAX_NAME = 128

USER_COLUMNS = {"name": "object", "role": "object", "created": "datetime", "has_password": "bool",
                "active_tokens": "int64"}
TOKEN_COLUMNS = {"id": "int64", "user": "object", "label": "object", "created": "datetime",
                 "revoked_at": "datetime"}


@dataclass(frozen=True)
class UserRecord:
    """A stored user: what signing in needs."""

    id: int
    name: str
    role: Role
    password_hash: str | None
    created: datetime | None = None


def clean_name(name: object) -> str:
    """A user name with blanks collapsed.

    Raises
    ------
    ValueError
        Empty, or longer than 128 characters.
    """
    text = " ".join(str(name or "").split())
    if not text:
        raise ValueError("a user needs a name")
    if len(text) > MAX_NAME:
        raise ValueError(f"a user name has at most {MAX_NAME} characters")
    return text


def _record(row) -> UserRecord | None:
    if row is None:
        return None
    return UserRecord(int(row.id), str(row.name), Role(row.role), row.password_hash, row.created)


class UsersPart:
    """Users and API tokens (part of `Store`)."""

    def add_user(self, name: str, role: Role | str, password_hash: str | None = None) -> None:
        """Add a user.

        Raises
        ------
        ValueError
            A bad name or role, or a user of that name exists.
        """
        name, role = clean_name(name), parse_role(role)
        with self._write(f"cannot add user {name}") as conn:
            if conn.execute(select(U.c.id).where(U.c.name == name)).first() is not None:
                raise ValueError(f"user {name} exists already (relphot users role changes the role)")
            conn.execute(insert(U), [{"name": name, "role": role.value, "password_hash": password_hash,
                                      "created": utcnow()}])

    def remove_user(self, name: str) -> None:
        """Remove a user and their tokens (their reviews keep their name).

        Raises
        ------
        KeyError
            No such user.
        """
        with self._write(f"cannot remove user {name}") as conn:
            user_id = self._user_id(conn, name)
            conn.execute(delete(T).where(T.c.user_id == user_id))
            conn.execute(delete(U).where(U.c.id == user_id))

    def set_user_role(self, name: str, role: Role | str) -> None:
        """Change a user's role (their next request has it)."""
        role = parse_role(role)
        with self._write(f"cannot change the role of {name}") as conn:
            conn.execute(update(U).where(U.c.id == self._user_id(conn, name)).values(role=role.value))

    def set_user_password(self, name: str, password_hash: str) -> None:
        """Replace a user's password hash."""
        with self._write(f"cannot change the password of {name}") as conn:
            conn.execute(update(U).where(U.c.id == self._user_id(conn, name)).values(password_hash=password_hash))

    def user(self, name: str) -> UserRecord | None:
        """A user by name (None if there is none)."""
        with self._read() as conn:
            row = conn.execute(select(U.c.id, U.c.name, U.c.role, U.c.password_hash, U.c.created)
                               .where(U.c.name == " ".join(str(name or "").split()))).first()
        return _record(row)

    def users(self) -> pd.DataFrame:
        """Every user: name, role, created, has_password, active_tokens (no hash)."""
        active = (select(func.count(T.c.id)).where(T.c.user_id == U.c.id, T.c.revoked_at.is_(None))
                  .scalar_subquery())
        with self._read() as conn:
            rows = conn.execute(select(U.c.name, U.c.role, U.c.created, U.c.password_hash.is_not(None), active)
                                .order_by(U.c.name)).all()
        return queries.frame(rows, USER_COLUMNS)

    def add_token(self, name: str, digest: str, label: str = "") -> int:
        """Store an API token's digest for a user; returns the token id."""
        with self._write(f"cannot add a token for {name}") as conn:
            return conn.execute(insert(T).returning(T.c.id), [{
                "user_id": self._user_id(conn, name), "digest": str(digest), "label": str(label or "")[:128],
                "created": utcnow()}]).scalar_one()

    def revoke_token(self, token_id: int) -> None:
        """Revoke an API token (kept, no longer accepted).

        Raises
        ------
        KeyError
            No such token. ValueError: revoked already.
        """
        with self._write(f"cannot revoke token {token_id}") as conn:
            row = conn.execute(select(T.c.revoked_at).where(T.c.id == int(token_id))).first()
            if row is None:
                raise KeyError(f"no token {token_id}")
            if row.revoked_at is not None:
                raise ValueError(f"token {token_id} was revoked already")
            conn.execute(update(T).where(T.c.id == int(token_id)).values(revoked_at=utcnow()))

    def tokens(self, name: str | None = None) -> pd.DataFrame:
        """API tokens (id, user, label, created, revoked_at; never the digest)."""
        stmt = (select(T.c.id, U.c.name, T.c.label, T.c.created, T.c.revoked_at)
                .join(U, U.c.id == T.c.user_id).order_by(T.c.id))
        if name is not None:
            stmt = stmt.where(U.c.name == " ".join(str(name).split()))
        with self._read() as conn:
            return queries.frame(conn.execute(stmt).all(), TOKEN_COLUMNS)

    def token_user(self, digest: str) -> UserRecord | None:
        """The user of a valid (not revoked) token digest, or None."""
        with self._read() as conn:
            row = conn.execute(select(U.c.id, U.c.name, U.c.role, U.c.password_hash, U.c.created)
                               .join(T, T.c.user_id == U.c.id)
                               .where(T.c.digest == str(digest), T.c.revoked_at.is_(None))).first()
        return _record(row)

    def user_by_id(self, user_id: int) -> UserRecord | None:
        """A user by id (the session's), or None."""
        with self._read() as conn:
            row = conn.execute(select(U.c.id, U.c.name, U.c.role, U.c.password_hash, U.c.created)
                               .where(U.c.id == int(user_id))).first()
        return _record(row)

    @staticmethod
    def _user_id(conn, name: str) -> int:
        user_id = conn.execute(select(U.c.id).where(U.c.name == " ".join(str(name or "").split()))).scalar()
        if user_id is None:
            raise KeyError(f"no user {name}")
        return int(user_id)
