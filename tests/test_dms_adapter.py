"""The Docker adapter against a real engine and the test mail image."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dms_admin.dms import OLD_SUFFIX, ContainerNotFound, DockerUnavailable, MailServer

pytestmark = pytest.mark.docker


@pytest.fixture
def mailserver(mail_container, docker_engine) -> MailServer:  # type: ignore[no-untyped-def]
    return MailServer(name=mail_container.name, base_url=docker_engine.host, timeout=30)


def test_it_reads_status_and_the_dms_version(mailserver: MailServer, mail_container) -> None:  # type: ignore[no-untyped-def]
    status = mailserver.status()
    assert status.name == mail_container.name and status.running and status.healthy
    assert status.version == "v15.1.0"
    mail_container.reload()  # the engine's own StartedAt, to the second (it carries nanoseconds)
    started = datetime.fromisoformat(mail_container.attrs["State"]["StartedAt"][:19]).replace(tzinfo=UTC)
    assert status.started_at is not None and started <= status.started_at < started + timedelta(seconds=1)


def test_it_finds_the_container_by_label(docker_engine, mail_container) -> None:  # type: ignore[no-untyped-def]
    mail_container.reload()
    project = mail_container.labels["com.docker.compose.project"]
    by_label = MailServer(label=f"com.docker.compose.project={project}", base_url=docker_engine.host)
    assert by_label.status().id == mail_container.id


def test_exec_returns_exit_code_and_output_with_a_timeout(mailserver: MailServer) -> None:
    result = mailserver.exec(["postconf", "-h", "myhostname"], timeout=20)
    assert result.ok and result.output.strip() == "mail.example.test"
    failed = mailserver.exec(["sh", "-c", "echo oops >&2; exit 3"], timeout=20)
    assert failed.exit_code == 3 and "oops" in failed.output
    slow = mailserver.exec(["sleep", "30"], timeout=1)
    assert slow.timed_out


def test_logs_and_memory(mailserver: MailServer) -> None:
    assert mailserver.logs(tail=200)
    memory = mailserver.memory()
    assert memory.used > 0 and memory.limit > memory.used


def test_restart_starts_the_same_container_again(mailserver: MailServer) -> None:
    before = mailserver.status()
    mailserver.restart(timeout=10)
    after = mailserver.wait_healthy(timeout=60, interval=0.5)
    assert after.id == before.id and after.started_at and before.started_at and after.started_at > before.started_at


def test_recreate_keeps_the_configuration_and_changes_the_env(
    mailserver: MailServer, docker_engine, mail_container
) -> None:  # type: ignore[no-untyped-def]
    client = docker_engine.client()
    old = client.api.inspect_container(mail_container.id)
    messages: list[str] = []
    status = mailserver.recreate(
        env={"ENABLE_CLAMAV": "1", "SPAM_SUBJECT": "[SPAM] "}, stop_timeout=10, progress=messages.append
    )
    assert messages and status.id != old["Id"] and status.name == mail_container.name
    new = client.api.inspect_container(status.id)
    assert "ENABLE_CLAMAV=1" in new["Config"]["Env"]
    assert "SPAM_SUBJECT=[SPAM] " in new["Config"]["Env"]  # raw value, trailing space kept
    assert all(e in new["Config"]["Env"] for e in old["Config"]["Env"])

    def mounts(info):  # type: ignore[no-untyped-def]
        return sorted((m["Source"], m["Destination"], m["RW"]) for m in info["Mounts"])

    assert mounts(new) == mounts(old)
    assert new["Config"]["Labels"] == old["Config"]["Labels"]
    assert new["Config"]["Hostname"] == old["Config"]["Hostname"] == "mail.example.test"
    assert new["Config"]["Image"] == old["Config"]["Image"]
    for key in ("CapAdd", "RestartPolicy", "NetworkMode", "Binds"):
        assert new["HostConfig"][key] == old["HostConfig"][key], key
    assert not client.containers.list(all=True, filters={"name": mail_container.name + OLD_SUFFIX})
    assert mailserver.wait_healthy(timeout=60, interval=0.5).healthy
    # None removes a variable the container was given.
    again = mailserver.recreate(env={"ENABLE_CLAMAV": None}, stop_timeout=10)
    assert not any(e.startswith("ENABLE_CLAMAV=") for e in client.api.inspect_container(again.id)["Config"]["Env"])


def test_recreate_puts_the_old_container_back_when_the_new_one_cannot_start(
    mailserver: MailServer, docker_engine, mail_container
) -> None:  # type: ignore[no-untyped-def]
    before = mailserver.status()
    with pytest.raises(DockerUnavailable):
        mailserver.recreate(image="dms-admin-test-missing:nope", stop_timeout=10)
    after = mailserver.wait_healthy(timeout=60, interval=0.5)
    assert after.id == before.id and after.name == before.name


def test_an_unreachable_engine_or_missing_container_is_one_clear_exception(docker_engine) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DockerUnavailable, match="cannot be reached"):
        MailServer(base_url="unix:///nonexistent/docker.sock").status()
    with pytest.raises(ContainerNotFound):
        MailServer(name="no-such-mailserver", base_url=docker_engine.host).status()
