"""The SQL of users (behind `~relphot_core.store.api.Store`): accounts
(name, role, argon2 password hash) and API tokens (stored as digests) of
the ``accounts`` authentication mode (`relphot_core.identity`).

Hashes and digests are made by `relphot_core.identity`; this module stores
and finds them. No password, hash or token is ever put in an error
message. Functions of an open connection.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection

from ..identity import Role
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


def add_user(conn: Connection, name: str, role: Role, password_hash: str | None = None) -> None:
    """`Store.add_user` (ValueError: a user of that name exists)."""
    if conn.execute(select(U.c.id).where(U.c.name == name)).first() is not None:
        raise ValueError(f"user {name} exists already (relphot users role changes the role)")
    conn.execute(insert(U), [{"name": name, "role": role.value, "password_hash": password_hash,
                              "created": utcnow()}])


def remove_user(conn: Connection, name: str) -> None:
    """`Store.remove_user` (KeyError: no such user)."""
    user_id = _user_id(conn, name)
    conn.execute(delete(T).where(T.c.user_id == user_id))
    conn.execute(delete(U).where(U.c.id == user_id))


def set_user_role(conn: Connection, name: str, role: Role) -> None:
    """`Store.set_user_role`."""
    conn.execute(update(U).where(U.c.id == _user_id(conn, name)).values(role=role.value))


def set_user_password(conn: Connection, name: str, password_hash: str) -> None:
    """`Store.set_user_password`."""
    conn.execute(update(U).where(U.c.id == _user_id(conn, name)).values(password_hash=password_hash))


def user(conn: Connection, name: str) -> UserRecord | None:
    """`Store.user`."""
    return _record(conn.execute(select(U.c.id, U.c.name, U.c.role, U.c.password_hash, U.c.created)
                                .where(U.c.name == " ".join(str(name or "").split()))).first())


def users(conn: Connection) -> pd.DataFrame:
    """`Store.users`."""
    active = (select(func.count(T.c.id)).where(T.c.user_id == U.c.id, T.c.revoked_at.is_(None))
              .scalar_subquery())
    rows = conn.execute(select(U.c.name, U.c.role, U.c.created, U.c.password_hash.is_not(None), active)
                        .order_by(U.c.name)).all()
    return queries.frame(rows, USER_COLUMNS)


def add_token(conn: Connection, name: str, digest: str, label: str = "") -> int:
    """`Store.add_token`."""
    return conn.execute(insert(T).returning(T.c.id), [{
        "user_id": _user_id(conn, name), "digest": str(digest), "label": str(label or "")[:128],
        "created": utcnow()}]).scalar_one()


def revoke_token(conn: Connection, token_id: int) -> None:
    """`Store.revoke_token` (KeyError: no such token; ValueError: revoked already)."""
    row = conn.execute(select(T.c.revoked_at).where(T.c.id == int(token_id))).first()
    if row is None:
        raise KeyError(f"no token {token_id}")
    if row.revoked_at is not None:
        raise ValueError(f"token {token_id} was revoked already")
    conn.execute(update(T).where(T.c.id == int(token_id)).values(revoked_at=utcnow()))


def tokens(conn: Connection, name: str | None = None) -> pd.DataFrame:
    """`Store.tokens`."""
    stmt = (select(T.c.id, U.c.name, T.c.label, T.c.created, T.c.revoked_at)
            .join(U, U.c.id == T.c.user_id).order_by(T.c.id))
    if name is not None:
        stmt = stmt.where(U.c.name == " ".join(str(name).split()))
    return queries.frame(conn.execute(stmt).all(), TOKEN_COLUMNS)


def token_user(conn: Connection, digest: str) -> UserRecord | None:
    """`Store.token_user`."""
    return _record(conn.execute(select(U.c.id, U.c.name, U.c.role, U.c.password_hash, U.c.created)
                                .join(T, T.c.user_id == U.c.id)
                                .where(T.c.digest == str(digest), T.c.revoked_at.is_(None))).first())


def user_by_id(conn: Connection, user_id: int) -> UserRecord | None:
    """`Store.user_by_id`."""
    return _record(conn.execute(select(U.c.id, U.c.name, U.c.role, U.c.password_hash, U.c.created)
                                .where(U.c.id == int(user_id))).first())


def _user_id(conn: Connection, name: str) -> int:
    user_id = conn.execute(select(U.c.id).where(U.c.name == " ".join(str(name or "").split()))).scalar()
    if user_id is None:
        raise KeyError(f"no user {name}")
    return int(user_id)
