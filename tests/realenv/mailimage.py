"""Build (once) the test mail image: real Postfix, Dovecot and SpamAssassin laid out like DMS v15.

No registry is reachable from the test machines, so the base image is made
with ``debootstrap`` from the machine's Debian mirror and imported; the mail
image is then built from ``tests/realenv/mailimage/`` with host networking
(the test engine runs with ``--bridge=none``).  The image tag carries a hash
of the whole recipe, so an unchanged recipe is never rebuilt.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker

RECIPE_DIR = Path(__file__).resolve().parent / "mailimage"
BASE_TAG = "dms-admin-test-base:bookworm"
IMAGE_REPO = "dms-admin-test-mail"
SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_SECURITY_MIRROR = "http://deb.debian.org/debian-security"
APT_SOURCE_FILES = [Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d")]

# Kept out of the base image: nothing in the tests reads them.
DPKG_EXCLUDES = """\
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
"""


def progress(message: str) -> None:
    print(f"[mailimage] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- recipe hash


def recipe_files() -> list[Path]:
    """Every file of the recipe: the build context and this module."""
    files = sorted(
        p for p in RECIPE_DIR.rglob("*") if p.is_file() and "__pycache__" not in p.parts and not p.name.endswith(".pyc")
    )
    return [*files, Path(__file__).resolve()]


def recipe_hash() -> str:
    """12 hex digits over the relative paths and contents of the recipe files.

    File modes are left out on purpose (a checkout may not keep exec bits;
    the Dockerfile sets them), and so is the base image, which is only made
    when missing: after changing ``ensure_base_image``, remove ``BASE_TAG``.
    """
    digest = hashlib.sha256()
    base = RECIPE_DIR.parent
    for path in recipe_files():
        digest.update(str(path.relative_to(base)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def mail_image_tag() -> str:
    return f"{IMAGE_REPO}:{recipe_hash()}"


# --------------------------------------------------------------------------- apt sources


@dataclass(frozen=True)
class DebianMirrors:
    """Where the host gets bookworm, bookworm-updates and bookworm-security from."""

    main: str
    security: str | None
    updates: bool

    def sources_list(self) -> str:
        lines = [f"deb {self.main} {SUITE} main"]
        if self.updates:
            lines.append(f"deb {self.main} {SUITE}-updates main")
        if self.security:
            lines.append(f"deb {self.security} {SUITE}-security main")
        return "\n".join(lines) + "\n"


def _apt_entries() -> Iterator[tuple[str, list[str]]]:
    """(uri, suites) of every enabled ``deb`` entry, one-line and deb822 format."""
    paths: list[Path] = []
    for item in APT_SOURCE_FILES:
        if item.is_dir():
            paths.extend(sorted(p for p in item.iterdir() if p.suffix in (".list", ".sources")))
        elif item.is_file():
            paths.append(item)
    for path in paths:
        try:
            text = path.read_text()
        except OSError:
            continue
        if path.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                fields: dict[str, str] = {}
                for line in stanza.splitlines():
                    if line.startswith("#") or ":" not in line or line[:1].isspace():
                        continue
                    key, value = line.split(":", 1)
                    fields[key.strip().lower()] = value.strip()
                if fields.get("enabled", "yes").lower() == "no" or "deb" not in fields.get("types", "").split():
                    continue
                for uri in fields.get("uris", "").split():
                    yield uri, fields.get("suites", "").split()
        else:
            for raw in text.splitlines():
                # `deb [options] uri suite components...`
                words = re.sub(r"\[[^]]*\]", "", raw.split("#", 1)[0]).split()
                if len(words) >= 3 and words[0] == "deb":
                    yield words[1], [words[2]]


def host_debian_mirrors() -> DebianMirrors:
    """The machine's Debian mirrors, read from its apt sources (deb.debian.org if none)."""
    main = security = None
    updates = False
    for uri, suites in _apt_entries():
        uri = uri.rstrip("/")
        if SUITE in suites and main is None:
            main = uri
        if f"{SUITE}-updates" in suites:
            updates = True
        if f"{SUITE}-security" in suites and security is None:
            security = uri
    if main is None:
        return DebianMirrors(DEFAULT_MIRROR, DEFAULT_SECURITY_MIRROR, True)
    return DebianMirrors(main, security, updates)


# --------------------------------------------------------------------------- images


def image_exists(client: docker.DockerClient, tag: str) -> bool:
    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


@contextlib.contextmanager
def build_lock(client: docker.DockerClient, what: str = "mailimage") -> Iterator[None]:
    """Serialise builds of `what` against the same engine across processes."""
    key = hashlib.sha256(str(client.api.base_url).encode()).hexdigest()[:10]
    path = Path(tempfile.gettempdir()) / f"dms-admin-test-{what}-{key}.lock"
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress("another process is building the image; waiting for it")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run_streaming(cmd: list[str], prefix: str) -> None:
    """Run ``cmd`` and forward its output line by line to stderr; raise on failure."""
    progress(f"$ {' '.join(cmd)}")
    tail: list[str] = []
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip()
            tail = [*tail[-29:], line]
            print(f"[{prefix}] {line}", file=sys.stderr, flush=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed with exit code {proc.returncode}:\n" + "\n".join(tail))


def ensure_base_image(client: docker.DockerClient) -> str:
    """Make ``dms-admin-test-base:bookworm`` unless the engine has it already."""
    if image_exists(client, BASE_TAG):
        return BASE_TAG
    if os.geteuid() != 0 or shutil.which("debootstrap") is None:
        # Developer machine talking to its own engine: Docker Hub is the only way.
        progress(f"no root/debootstrap: pulling debian:{SUITE} as {BASE_TAG}")
        image = client.images.pull("debian", tag=SUITE)
        repo, tag = BASE_TAG.split(":")
        image.tag(repo, tag)
        return BASE_TAG

    mirrors = host_debian_mirrors()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="dms-admin-test-base-", dir="/var/tmp") as tmp:
        rootfs = Path(tmp) / "rootfs"
        _run_streaming(
            ["debootstrap", "--variant=minbase", "--components=main", SUITE, str(rootfs), mirrors.main],
            "debootstrap",
        )
        # Same suites as the host (security and updates), for the image's apt.
        (rootfs / "etc/apt/sources.list").write_text(mirrors.sources_list())
        (rootfs / "etc/dpkg/dpkg.cfg.d/01-dms-admin-test-nodoc").write_text(DPKG_EXCLUDES)
        (rootfs / "etc/apt/apt.conf.d/01-dms-admin-test").write_text(
            'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n'
        )
        for leftover in (rootfs / "var/cache/apt/archives").glob("*.deb"):
            leftover.unlink()
        shutil.rmtree(rootfs / "var/lib/apt/lists", ignore_errors=True)
        (rootfs / "var/lib/apt/lists/partial").mkdir(parents=True, exist_ok=True)

        tarball = Path(tmp) / "rootfs.tar"
        progress(f"importing {rootfs} as {BASE_TAG}")
        subprocess.run(["tar", "-C", str(rootfs), "--numeric-owner", "--xattrs", "-cf", str(tarball), "."], check=True)
        repo, tag = BASE_TAG.split(":")
        client.api.import_image_from_file(
            str(tarball),
            repository=repo,
            tag=tag,
            changes=[
                "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                'CMD ["/bin/bash"]',
            ],
        )
    if not image_exists(client, BASE_TAG):
        raise RuntimeError(f"import of {BASE_TAG} did not produce the image")
    progress(f"base image {BASE_TAG} ready in {time.monotonic() - started:.0f} s")
    return BASE_TAG


def _build_mail_image(client: docker.DockerClient, tag: str) -> None:
    started = time.monotonic()
    progress(f"building {tag} from {RECIPE_DIR}")
    tail: list[str] = []
    # The low-level API streams the build log (images.build only returns it at
    # the end); the arguments are those of client.images.build.
    for chunk in client.api.build(
        path=str(RECIPE_DIR),
        tag=tag,
        network_mode="host",  # no bridge in the test engine; apt needs the network
        rm=True,
        forcerm=True,
        pull=False,
        decode=True,
    ):
        if "stream" in chunk:
            for line in str(chunk["stream"]).splitlines():
                if line.strip():
                    tail = [*tail[-39:], line]
                    print(f"[build] {line}", file=sys.stderr, flush=True)
        if "error" in chunk:
            raise RuntimeError(f"building {tag} failed: {chunk['error']}\n" + "\n".join(tail))
    if not image_exists(client, tag):
        raise RuntimeError(f"building {tag} finished without producing the image:\n" + "\n".join(tail))
    progress(f"mail image {tag} built in {time.monotonic() - started:.0f} s")


def _remove_stale_mail_images(client: docker.DockerClient, keep: str) -> None:
    """Drop images of older recipes; ones still used by a container stay."""
    for image in client.images.list(name=IMAGE_REPO):
        if keep in image.tags:
            continue
        for old in image.tags:
            try:
                client.images.remove(old)
                progress(f"removed stale image {old}")
            except docker.errors.APIError:
                pass


def ensure_mail_image(client: docker.DockerClient) -> str:
    """Return ``dms-admin-test-mail:<hash12>``, building it (and the base) if missing."""
    tag = mail_image_tag()
    if image_exists(client, tag):
        # Another recipe's image left on the engine (built while a container still used the old
        # one) would look like a newer image of the same repository to the update tests.
        _remove_stale_mail_images(client, keep=tag)
        return tag
    with build_lock(client):
        if image_exists(client, tag):  # built by whoever held the lock
            return tag
        ensure_base_image(client)
        _build_mail_image(client, tag)
        _remove_stale_mail_images(client, keep=tag)
    return tag
