"""DKIM keys for Rspamd in the real test mail image: a new key is readable by Rspamd's user at once, and
after a delete Rspamd's own parser reads dkim_signing.conf with only the other domain."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from docker.models.containers import Container

from accounts import dkim, domains
from dms_admin.audit import Actor

pytestmark = [pytest.mark.docker, pytest.mark.django_db]


def readable_by_rspamd(container: Container, path: str) -> bool:
    result = container.exec_run(["cat", path], user="_rspamd")
    return result.exit_code == 0 and b"PRIVATE KEY" in result.output


def test_a_new_rspamd_key_is_handed_to_rspamd_without_a_restart(  # type: ignore[no-untyped-def]
    settings, docker_engine, mail_container: Container, config_dir: Path
) -> None:
    settings.DOCKER_HOST = docker_engine.host
    settings.DMS_CONTAINER_NAME = mail_container.name
    settings.DMS_CONTAINER_LABEL = ""
    with (config_dir / "mailserver.env").open("a") as env:
        env.write("ENABLE_RSPAMD=1\nENABLE_OPENDKIM=0\n")
    started_at = mail_container.attrs["State"]["StartedAt"]

    saved = domains.dkim_generate(domain="example.test", bits=1024, actor=Actor("admin"))

    private = dkim.rspamd_files("example.test", dkim.DEFAULT_SELECTOR, 1024).container_private
    assert saved.outcome is not None and "next start" not in saved.outcome.message
    assert readable_by_rspamd(mail_container, private)
    # The key stays private to Rspamd, and the container was not restarted for it.
    mode = mail_container.exec_run(["stat", "-c", "%a %U", private]).output.decode().split()
    assert mode == ["600", "_rspamd"]
    mail_container.reload()
    assert mail_container.attrs["State"]["StartedAt"] == started_at


def test_without_the_handover_rspamd_could_not_read_it(mail_container: Container, config_dir: Path) -> None:
    """What the handover fixes: a key written by another uid with mode 0600, as the store writes it."""
    key = config_dir / "rspamd" / "dkim" / "rsa-1024-mail-other.test.private.txt"
    key.parent.mkdir(parents=True)
    key.write_text(dkim.generate_private_key(1024))
    key.chmod(0o600)
    assert not readable_by_rspamd(mail_container, "/tmp/docker-mailserver/rspamd/dkim/" + key.name)


def test_after_a_delete_rspamd_reads_the_conf_with_only_the_other_domain(  # type: ignore[no-untyped-def]
    settings, docker_engine, mail_container: Container, config_dir: Path
) -> None:
    settings.DOCKER_HOST = docker_engine.host
    settings.DMS_CONTAINER_NAME = mail_container.name
    settings.DMS_CONTAINER_LABEL = ""
    with (config_dir / "mailserver.env").open("a") as env:
        env.write("ENABLE_RSPAMD=1\nENABLE_OPENDKIM=0\n")
    for domain in ("example.test", "other.test"):
        domains.dkim_generate(domain=domain, bits=1024, actor=Actor("admin"))
    domains.dkim_delete(domain="example.test", actor=Actor("admin"))
    # What DMS's change detector does with override.d/, then Rspamd's own reading of the result.
    copied = mail_container.exec_run(
        ["bash", "-c", "cp /tmp/docker-mailserver/rspamd/override.d/* /etc/rspamd/override.d/ && rspamadm configtest"]
    )
    assert copied.exit_code == 0, copied.output.decode()
    dump = mail_container.exec_run(["bash", "-c", "rspamadm configdump -j dkim_signing 2>/dev/null"])
    assert dump.exit_code == 0, dump.output.decode()
    signing = json.loads(dump.output)
    assert set(signing["domain"]) == {"other.test"}
    assert signing["domain"]["other.test"]["path"] == dkim.rspamd_files("other.test", "mail", 1024).container_private
    assert not (config_dir / "rspamd" / "dkim" / "rsa-1024-mail-example.test.private.txt").exists()
