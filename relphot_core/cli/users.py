"""``relphot users``: the accounts and API tokens of auth mode ``accounts``.

``relphot users add NAME --role reviewer`` asks for a password twice (not
echoed; ``--password-stdin`` reads one line from standard input for
scripts); ``remove``, ``role NAME ROLE``, ``password NAME``, ``list``;
``token NAME`` prints a new API token once (only its digest is stored),
``tokens`` lists them, ``revoke-token ID`` revokes one. No password, hash or
stored digest is ever printed. Whoever runs these commands holds the store
itself: they are the administrators.
"""
from __future__ import annotations

import argparse
import getpass
import sys

from ..errors import ConfigError
from ..identity import ROLES

ROLE_NAMES = [role.value for role in ROLES]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``relphot users {add,remove,role,password,list,token,tokens,revoke-token}``."""
    parser = subparsers.add_parser(
        "users", help="accounts and API tokens of the dashboard (auth mode accounts)",
        description="Users (viewer < reviewer < lead < admin) and API tokens of the dashboard's accounts mode, "
                    "in the store. Passwords are read without echo and stored as argon2 hashes.")
    sub = parser.add_subparsers(dest="users_command", metavar="ACTION", required=True)

    def add(name: str, text: str, func) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("--db", metavar="URL", help="database URL or SQLite file (default $RELPHOT_DB or relphot.db)")
        p.set_defaults(func=func)
        return p

    p = add("add", "add a user (asks for the password)", _add)
    p.add_argument("name", metavar="NAME")
    p.add_argument("--role", required=True, choices=ROLE_NAMES)
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.add_argument("--no-password", action="store_true", help="no password: the user only gets API tokens")
    p = add("remove", "remove a user and their tokens (their reviews keep their name)", _remove)
    p.add_argument("name", metavar="NAME")
    p = add("role", "change a user's role", _role)
    p.add_argument("name", metavar="NAME")
    p.add_argument("role", metavar="ROLE", choices=ROLE_NAMES, help=" | ".join(ROLE_NAMES))
    p = add("password", "set a user's password (asks for it)", _password)
    p.add_argument("name", metavar="NAME")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add("list", "list users (name, role, password set, active tokens)", _list)
    p = add("token", "issue an API token for a user: printed once, stored hashed", _token)
    p.add_argument("name", metavar="NAME")
    p.add_argument("--label", default="", help="what the token is for (e.g. nightly export)")
    p = add("tokens", "list API tokens (never the tokens themselves)", _tokens)
    p.add_argument("name", metavar="NAME", nargs="?")
    p = add("revoke-token", "revoke an API token by id (see relphot users tokens)", _revoke_token)
    p.add_argument("token_id", metavar="ID", type=int)


def _store(args: argparse.Namespace):
    from ..store import Store

    return Store.open(args.db, create=False)


def _read_password(args: argparse.Namespace) -> str:
    from ..identity import MIN_PASSWORD

    if getattr(args, "password_stdin", False):
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(f"password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            raise ConfigError(args.name, "the two passwords differ: nothing changed")
    if len(password) < MIN_PASSWORD:
        raise ConfigError(args.name, f"a password needs at least {MIN_PASSWORD} characters: nothing changed")
    return password


def _user_error(name: str, exc: Exception) -> ConfigError:
    return ConfigError(name, str(exc).strip("'\""))


def _add(args: argparse.Namespace) -> int:
    from ..identity import hash_password

    password_hash = None if args.no_password else hash_password(_read_password(args))
    with _store(args) as store:
        try:
            store.add_user(args.name, args.role, password_hash)
        except ValueError as exc:
            raise _user_error(args.name, exc) from None
    print(f"relphot users: added {' '.join(args.name.split())} ({args.role})", file=sys.stderr)
    return 0


def _remove(args: argparse.Namespace) -> int:
    with _store(args) as store:
        try:
            store.remove_user(args.name)
        except KeyError as exc:
            raise _user_error(args.name, exc) from None
    print(f"relphot users: removed {args.name}", file=sys.stderr)
    return 0


def _role(args: argparse.Namespace) -> int:
    with _store(args) as store:
        try:
            store.set_user_role(args.name, args.role)
        except KeyError as exc:
            raise _user_error(args.name, exc) from None
    print(f"relphot users: {args.name} is now {args.role}", file=sys.stderr)
    return 0


def _password(args: argparse.Namespace) -> int:
    from ..identity import hash_password

    with _store(args) as store:
        if store.user(args.name) is None:
            raise ConfigError(args.name, f"no user {args.name}")
        store.set_user_password(args.name, hash_password(_read_password(args)))
    print(f"relphot users: password of {args.name} changed", file=sys.stderr)
    return 0


def _list(args: argparse.Namespace) -> int:
    with _store(args) as store:
        users = store.users()
    print(f"{'name':<24} {'role':<9} {'password':<8} tokens")
    for row in users.itertuples(index=False):
        print(f"{row.name:<24} {row.role:<9} {'yes' if row.has_password else 'no':<8} {row.active_tokens}")
    return 0


def _token(args: argparse.Namespace) -> int:
    from ..identity import new_token, token_digest

    token = new_token()
    with _store(args) as store:
        try:
            token_id = store.add_token(args.name, token_digest(token), args.label)
        except KeyError as exc:
            raise _user_error(args.name, exc) from None
    print(token)
    print(f"relphot users: token {token_id} for {args.name}: shown once, keep it secret; send it as "
          "'Authorization: Bearer TOKEN'; revoke it with relphot users revoke-token "
          f"{token_id}", file=sys.stderr)
    return 0


def _tokens(args: argparse.Namespace) -> int:
    with _store(args) as store:
        tokens = store.tokens(args.name)
    print(f"{'id':>4} {'user':<24} {'created (UTC)':<16} {'state':<8} label")
    for row in tokens.itertuples(index=False):
        state = "revoked" if row.revoked_at is not None and str(row.revoked_at) != "NaT" else "active"
        print(f"{row.id:>4} {row.user:<24} {row.created:%Y-%m-%d %H:%M} {state:<8} {row.label}")
    return 0


def _revoke_token(args: argparse.Namespace) -> int:
    with _store(args) as store:
        try:
            store.revoke_token(args.token_id)
        except (KeyError, ValueError) as exc:
            raise _user_error(f"token {args.token_id}", exc) from None
    print(f"relphot users: token {args.token_id} revoked", file=sys.stderr)
    return 0
