"""Running compose in the deployment tests: which implementations exist, and a clean environment."""

from __future__ import annotations

import os
import shutil
import subprocess


def compose_implementations() -> list[list[str]]:
    """Debian's docker-compose (scripts/provision.sh installs it) and the CLI plugin, where present."""
    found = [["docker-compose"]] if shutil.which("docker-compose") else []
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        found.append(["docker", "compose"])
    return found


def compose_env(home: str, **extra: str) -> dict[str, str]:
    """Only what compose needs: variables of the caller's shell would win over the project's `.env`."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home, "LANG": "C.UTF-8", **extra}
