"""Fixtures of the mail-rules tests: a mail folder, and a stand-in for the container's sievec."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from dms_admin.dms import ExecResult
from mailrules import services


def active(mail_dir: Path, address: str = "user@example.test") -> Path:
    local, _, domain = address.partition("@")
    return mail_dir / domain / local / "home" / ".dovecot.sieve"


class FakeSievec:
    """Compiles anything but a script with the word BROKEN on a line (reported with its number)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.compiled: list[str] = []

    @contextlib.contextmanager
    def scratch_folder(self, *, copy_of: str = ""):  # type: ignore[no-untyped-def]
        yield "/tmp/scratch"

    def put_file(self, path: str, data: bytes, *, mode: int = 0o644) -> None:
        self.files[path] = data

    def exec(self, cmd: list[str], *, timeout: int = 60, user: str = "root") -> ExecResult:
        assert cmd[0] == "sievec"
        text = self.files[cmd[1]].decode()
        self.compiled.append(text)
        for number, line in enumerate(text.splitlines(), 1):
            if "BROKEN" in line:
                return ExecResult(
                    1, f"script: line {number}: error: unknown command 'BROKEN'.\nsievec: Error: failed\n"
                )
        return ExecResult(0, "")


@pytest.fixture
def sievec(monkeypatch) -> FakeSievec:  # type: ignore[no-untyped-def]
    fake = FakeSievec()
    monkeypatch.setattr(services, "get_mailserver", lambda: fake)
    return fake


@pytest.fixture
def mail_dir(settings, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    settings.DMS_MAIL_DIR = tmp_path / "mail"
    settings.DMS_MAIL_DIR.mkdir()
    return settings.DMS_MAIL_DIR
