from __future__ import annotations

import ctypes

from passlib.hash import sha512_crypt as passlib_sha512

from accounts.hashing import sha512_crypt, sha512_crypt_many


def test_hashes_verify_with_libpass_and_carry_no_rounds_field_at_5000() -> None:
    hashed = sha512_crypt("pässword with spaces")
    assert hashed.startswith("$6$") and "rounds=" not in hashed and len(hashed.rsplit("$", 1)[1]) == 86
    assert passlib_sha512.verify("pässword with spaces", hashed)
    assert not passlib_sha512.verify("other", hashed)


def test_other_rounds_are_written_out() -> None:
    hashed = sha512_crypt("pw", rounds=10000)
    assert hashed.startswith("$6$rounds=10000$") and passlib_sha512.verify("pw", hashed)


def test_many_keeps_order_across_threads() -> None:
    passwords = [f"pw-{i}" for i in range(250)]
    hashes = sha512_crypt_many(passwords)
    assert len(set(hashes)) == 250
    assert all(passlib_sha512.verify(p, h) for p, h in list(zip(passwords, hashes, strict=True))[::50])


def test_the_c_library_makes_the_hashes_here_and_matches_libpass_for_the_same_salt() -> None:
    from accounts import hashing

    assert hashing._crypt_rn is not None, "libcrypt (libxcrypt) is on every machine we support"
    salt = "abcdefghABCDEFGH"
    ours = hashing._crypt_rn(b"p\xc3\xa4ss word", f"$6${salt}".encode(), ctypes.create_string_buffer(32768), 32768)
    assert ours is not None
    assert ours.decode() == passlib_sha512.using(salt=salt, rounds=5000).hash("päss word")
