"""SHA512-CRYPT password hashes exactly as `doveadm pw -s SHA512-CRYPT` makes them.

Made by the C implementation of the system's libcrypt (through the stdlib `crypt` module, 3.11)
when there is one: ~3 ms a hash instead of ~10 ms for libpass's pure-Python backend, which
matters for bulk imports of thousands of mailboxes. libpass stays the fallback and verifies.
Only the standard library here, so a process pool can import this module cheaply.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import secrets
import warnings

try:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt as _crypt  # deprecated in 3.11, still the fastest way to libcrypt
except ImportError:  # pragma: no cover - Python 3.13+
    _crypt = None  # type: ignore[assignment]

_SALT_CHARS = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
DEFAULT_ROUNDS = 5000  # glibc's default: the hash then carries no rounds= field, like doveadm's


def _salt(rounds: int) -> str:
    salt = "".join(secrets.choice(_SALT_CHARS) for _ in range(16))
    return f"$6${salt}" if rounds == DEFAULT_ROUNDS else f"$6$rounds={rounds}${salt}"


def sha512_crypt(password: str, rounds: int = DEFAULT_ROUNDS) -> str:
    if _crypt is not None:
        hashed = _crypt.crypt(password, _salt(rounds))
        if hashed and hashed.startswith("$6$"):
            return hashed
    from passlib.hash import sha512_crypt as passlib_sha512

    return str(passlib_sha512.using(rounds=rounds).hash(password))


def _hash_chunk(args: tuple[list[str], int]) -> list[str]:
    passwords, rounds = args
    return [sha512_crypt(p, rounds) for p in passwords]


def sha512_crypt_many(passwords: list[str], rounds: int = DEFAULT_ROUNDS) -> list[str]:
    """Hash many passwords on every core (for bulk imports); order is kept."""
    workers = min(os.cpu_count() or 1, 8)
    if len(passwords) < 200 or workers < 2:
        return [sha512_crypt(p, rounds) for p in passwords]
    size = -(-len(passwords) // workers)
    chunks = [(passwords[i : i + size], rounds) for i in range(0, len(passwords), size)]
    # spawn: never fork a threaded web worker.
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        return [h for chunk in pool.map(_hash_chunk, chunks) for h in chunk]
