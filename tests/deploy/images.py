"""Images for the deployment tests, built locally with the test engine and cached by a hash.

* ``dms-deploy-test-python:<hash>``: Debian bookworm's python3 on ``dms-admin-test-base:bookworm``
  (stands in for ``python:3.11-slim-bookworm``; recipe ``python-base.Dockerfile``).
* ``dms-deploy-test-admin:<hash>``: ``compose/Dockerfile`` built on it. The hash covers the
  Dockerfile, requirements.txt and every file of the build context, so a second run with
  unchanged sources builds nothing; after a code change the classic builder's layer cache keeps
  the pip layer and only the app layers are rebuilt.
* ``dms-deploy-test-socket-proxy:<hash>``: ``compose/socket-proxy/`` (Debian's haproxy with the
  allow-rules of tecnativa/docker-socket-proxy).
* ``dms-deploy-test-redis:<hash>``: Debian's redis-server started like the official
  ``redis:7-alpine`` (recipe ``redis.Dockerfile`` + ``redis-entrypoint.sh``), for the compose stack.

Only images under these ``dms-deploy-test-*`` names are ever removed (stale tags of older hashes).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import sys
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import docker
from docker.utils import build as docker_build

from tests.realenv.mailimage import build_lock, ensure_base_image, image_exists

REPO_ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
COMPOSE_DIR = REPO_ROOT / "compose"
DOCKERFILE = "compose/Dockerfile"
DOCKERIGNORE = COMPOSE_DIR / "Dockerfile.dockerignore"
PYTHON_REPO = "dms-deploy-test-python"
ADMIN_REPO = "dms-deploy-test-admin"
PROXY_REPO = "dms-deploy-test-socket-proxy"
REDIS_REPO = "dms-deploy-test-redis"
LABELS = {"dms-deploy-test": "1"}


def progress(message: str) -> None:
    print(f"[deploy-images] {message}", file=sys.stderr, flush=True)


def _digest(paths: list[tuple[str, Path]], extra: str = "") -> str:
    h = hashlib.sha256(extra.encode())
    for name, path in paths:
        h.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def _build(client: docker.DockerClient, tag: str, **kwargs: object) -> float:
    """Build with the low-level API (streams the log); return the seconds it took."""
    started = time.monotonic()
    progress(f"building {tag}")
    tail: list[str] = []
    for chunk in client.api.build(
        tag=tag, network_mode="host", rm=True, forcerm=True, pull=False, decode=True, labels=LABELS, **kwargs
    ):
        if "stream" in chunk:
            for line in str(chunk["stream"]).splitlines():
                if line.strip():
                    tail = [*tail[-59:], line]
                    print(f"[build {tag}] {line}", file=sys.stderr, flush=True)
        if "error" in chunk:
            raise RuntimeError(f"building {tag} failed: {chunk['error']}\n" + "\n".join(tail))
    if not image_exists(client, tag):
        raise RuntimeError(f"building {tag} produced no image:\n" + "\n".join(tail))
    seconds = time.monotonic() - started
    progress(f"{tag} built in {seconds:.0f} s")
    return seconds


def _drop_stale(client: docker.DockerClient, repo: str, keep: str) -> None:
    for image in client.images.list(name=repo):
        for old in image.tags:
            if old != keep and old.startswith(f"{repo}:"):
                with contextlib.suppress(docker.errors.APIError):
                    client.images.remove(old)
                    progress(f"removed stale {old}")


def _ensure_built(client: docker.DockerClient, tag: str, repo: str, build: Callable[[], object]) -> bool:
    """Run `build` for `tag` unless the image exists (checked again under a lock shared by
    concurrent test sessions), then drop older tags of `repo`. True if it built."""
    if image_exists(client, tag):
        return False
    with build_lock(client, repo):
        if image_exists(client, tag):
            return False
        build()
        _drop_stale(client, repo, keep=tag)
    return True


def _tar_context(files: list[tuple[str, Path]]) -> IO[bytes]:
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, path in files:
            tar.add(path, arcname=name)
    context.seek(0)
    return context


# --------------------------------------------------------------------------- the python base


def host_ca_bundle() -> Path:
    """The CA bundle this machine trusts (pip's PIP_CERT if set, else Debian's)."""
    return Path(os.environ.get("PIP_CERT") or "/etc/ssl/certs/ca-certificates.crt")


def ensure_python_base(client: docker.DockerClient) -> str:
    base = ensure_base_image(client)
    recipe = HERE / "python-base.Dockerfile"
    bundle = host_ca_bundle()
    tag = f"{PYTHON_REPO}:{_digest([('recipe', recipe), ('ca', bundle)], extra=client.images.get(base).id)}"
    context = [("Dockerfile", recipe), ("host-ca.crt", bundle)]
    _ensure_built(
        client,
        tag,
        PYTHON_REPO,
        lambda: _build(client, tag, fileobj=_tar_context(context), custom_context=True, buildargs={"BASE_IMAGE": base}),
    )
    return tag


# --------------------------------------------------------------------------- the admin image


def dockerignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def context_files() -> list[str]:
    """The build context as the builder sees it (relative paths, sorted)."""
    return sorted(docker_build.exclude_paths(str(REPO_ROOT), dockerignore_patterns(), dockerfile=DOCKERFILE))


def context_tar() -> IO[bytes]:
    # The SDK reads only <root>/.dockerignore; the repository keeps the list beside the Dockerfile.
    return docker_build.tar(str(REPO_ROOT), exclude=dockerignore_patterns(), dockerfile=(DOCKERFILE, None))


def admin_image_tag(python_base: str) -> str:
    files = [(rel, REPO_ROOT / rel) for rel in context_files() if (REPO_ROOT / rel).is_file()]
    return f"{ADMIN_REPO}:{_digest(files, extra=python_base)}"


def ensure_admin_image(client: docker.DockerClient) -> tuple[str, float]:
    """Return (tag, seconds spent building: 0 when cached)."""
    python_base = ensure_python_base(client)
    tag = admin_image_tag(python_base)
    seconds = 0.0

    def build() -> None:
        nonlocal seconds
        with contextlib.closing(context_tar()) as context:
            seconds = _build(
                client,
                tag,
                fileobj=context,
                custom_context=True,
                dockerfile=DOCKERFILE,
                buildargs={"BASE_IMAGE": python_base},
            )

    _ensure_built(client, tag, ADMIN_REPO, build)
    return tag, seconds


# --------------------------------------------------------------------------- the socket proxy


def ensure_socket_proxy_image(client: docker.DockerClient) -> str:
    base = ensure_base_image(client)
    recipe_dir = COMPOSE_DIR / "socket-proxy"
    files = [(p.name, p) for p in sorted(recipe_dir.iterdir()) if p.is_file()]
    tag = f"{PROXY_REPO}:{_digest(files, extra=client.images.get(base).id)}"
    _ensure_built(
        client, tag, PROXY_REPO, lambda: _build(client, tag, path=str(recipe_dir), buildargs={"BASE_IMAGE": base})
    )
    return tag


# --------------------------------------------------------------------------- redis


def ensure_redis_image(client: docker.DockerClient) -> str:
    base = ensure_base_image(client)
    recipe = [("Dockerfile", HERE / "redis.Dockerfile"), ("redis-entrypoint.sh", HERE / "redis-entrypoint.sh")]
    tag = f"{REDIS_REPO}:{_digest(recipe, extra=client.images.get(base).id)}"
    _ensure_built(
        client,
        tag,
        REDIS_REPO,
        lambda: _build(client, tag, fileobj=_tar_context(recipe), custom_context=True, buildargs={"BASE_IMAGE": base}),
    )
    return tag
