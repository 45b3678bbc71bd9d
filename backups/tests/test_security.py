"""Issue 14, findings 1 and 5: who can read an archive, where one may be written, age encryption."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from backups import archive as arc
from backups import services
from backups.archive import restore as restoring
from backups.models import BackupArchive, BackupPolicy
from backups.tests.conftest import put, snapshot, whole_second_dir_mtimes
from dms_admin.audit import Actor
from dms_admin.errors import FieldError

pytestmark = pytest.mark.django_db

ADMIN = Actor(name="admin")
SECRET = b"[smtp.relay.example]:587 relayuser:hunter2-relay-password\n"


@pytest.fixture
def secrets(config_dir: Path) -> Path:
    """What finding 1 is about: cleartext secrets in the config folder that a backup takes."""
    put(config_dir / "postfix-sasl-password.cf", SECRET, owner=0)
    put(
        config_dir / "opendkim" / "keys" / "example.test" / "mail.private",
        b"-----BEGIN PRIVATE KEY-----\nMIIx\n",
        owner=0,
    )
    (config_dir / "mailserver.env").write_text("RELAY_PASSWORD=hunter2-env\nLDAP_BIND_PW=ldap-secret\n")
    return config_dir


@pytest.fixture
def age_key(tmp_path: Path) -> tuple[Path, str, str]:
    """A key pair made by the real `age-keygen`: (key file, public key, secret key)."""
    if not shutil.which("age-keygen"):
        pytest.skip("the age CLI is not installed (scripts/provision.sh test installs it)")
    key_file = tmp_path / "backup-key.txt"
    subprocess.run(["age-keygen", "-o", str(key_file)], check=True, capture_output=True)
    text = key_file.read_text()
    public = next(line.split(": ")[1] for line in text.splitlines() if line.startswith("# public key: "))
    secret = next(line for line in text.splitlines() if line.startswith("AGE-SECRET-KEY-1"))
    return key_file, public, secret


def other_age_secret() -> str:
    from pyrage import x25519

    return str(x25519.Identity.generate())


# ---- finding 1: archives readable by their owner only ----------------------------------------------


@pytest.fixture
def open_volume(settings) -> Iterator[Path]:  # type: ignore[no-untyped-def]
    """A backup volume any user may enter (0755 up to /), as a host folder often is."""
    folder = Path(tempfile.mkdtemp(prefix="dms-admin-open-volume-", dir="/tmp"))
    os.chmod(folder, 0o755)  # noqa: S103  # open on purpose: the archive's own mode must keep others out
    settings.BACKUP_ROOTS = [*getattr(settings, "BACKUP_ROOTS", []), folder]
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_archives_and_manifests_are_0600_whatever_the_umask(policy: BackupPolicy, secrets: Path) -> None:
    old = os.umask(0o022)  # the usual umask: files would come out 0644
    try:
        archive = services.backup_run(policy_id=policy.pk)
    finally:
        os.umask(old)
    for path in (Path(archive.path), Path(archive.manifest_path)):
        st = os.stat(path)
        assert stat.S_IMODE(st.st_mode) == 0o600, (path, oct(st.st_mode))
        assert st.st_uid == os.geteuid()


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("runuser"), reason="needs root and runuser")
def test_another_unix_user_cannot_read_an_archive(
    policy: BackupPolicy, secrets: Path, open_volume: Path, tmp_path: Path
) -> None:
    policy.destination = str(open_volume)
    policy.save()
    archive = services.backup_run(policy_id=policy.pk)
    out = tmp_path / "as-owner"
    out.mkdir()
    subprocess.run(["tar", "-xzf", archive.path, "-C", str(out)], check=True)  # the owner reads it: the secret is in it
    assert (out / "config" / "postfix-sasl-password.cf").read_bytes() == SECRET
    for command in (["cat", archive.path], ["tar", "-tzf", archive.path], ["cat", archive.manifest_path]):
        as_nobody = subprocess.run(["runuser", "-u", "nobody", "--", *command], capture_output=True)
        assert as_nobody.returncode != 0 and b"Permission denied" in as_nobody.stderr, (command, as_nobody)
        assert b"hunter2" not in as_nobody.stdout


def test_a_missing_destination_is_created_0700_and_owned_by_the_app(db, tmp_path: Path, mail_dir: Path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "volume" / "nightly" / "mail"
    (tmp_path / "volume").mkdir()
    old = os.umask(0o022)
    try:
        services.policy_create(
            actor=ADMIN, name="nightly", include_mail=True, destination=str(folder), cron="0 3 * * *"
        )
    finally:
        os.umask(old)
    for created in (folder.parent, folder):
        st = os.stat(created)
        assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == os.geteuid(), (created, oct(st.st_mode))


@pytest.mark.parametrize("gnu_tar", [True, False], ids=["gnu-tar", "tarfile"])
def test_a_restore_gives_files_and_folders_their_modes_back_whatever_the_umask(
    policy: BackupPolicy, mail_dir: Path, monkeypatch: pytest.MonkeyPatch, gnu_tar: bool
) -> None:
    box = mail_dir / "example.test" / "user"
    put(box / "subscriptions", b"INBOX\n", mode=0o644)
    put(box / "sieve" / "vacation.sieve", b"keep;\n", mode=0o640)
    os.chmod(box / "sieve", 0o751)  # noqa: S103  # a mode the restore must give back
    whole_second_dir_mtimes(mail_dir)
    before = snapshot(mail_dir)
    archive = services.backup_run(policy_id=policy.pk)
    shutil.rmtree(mail_dir / "example.test")
    if not gnu_tar:
        monkeypatch.setattr(restoring, "gnu_tar", lambda: False)
    old = os.umask(0o077)  # would strip group and other bits from anything made without an explicit mode
    try:
        services.archive_restore(archive_id=archive.pk, scope="all", dry_run=False, actor=ADMIN)
    finally:
        os.umask(old)
    assert snapshot(mail_dir) == before
    assert stat.S_IMODE(os.stat(box / "subscriptions").st_mode) == 0o644
    assert stat.S_IMODE(os.stat(box / "sieve").st_mode) == 0o751


# ---- finding 5: destinations only inside BACKUP_ROOTS ----------------------------------------------


def _destinations(tmp_path: Path, settings) -> dict[str, str]:  # type: ignore[no-untyped-def]
    root = tmp_path / "volume"
    root.mkdir(exist_ok=True)
    settings.BACKUP_ROOTS = [root]
    Path(settings.DATA_DIR).mkdir(parents=True, exist_ok=True)
    (root / "to-etc").symlink_to("/etc/cron.d")
    (root / "to-data").symlink_to(settings.DATA_DIR)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    return {
        "cron": "/etc/cron.d",
        "data": str(settings.DATA_DIR),
        "config": str(settings.DMS_CONFIG_DIR),
        "mail": str(settings.DMS_MAIL_DIR),
        "symlink-to-etc": str(root / "to-etc"),
        "symlink-to-data": str(root / "to-data" / "."),
        "dotdot": f"{root}/../elsewhere",
        "outside-roots": str(outside),
        "root-folder": "/",
    }


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("cron", "system folder /etc"),
        ("data", "data folder"),
        ("config", "DMS config folder"),
        ("mail", "mail folder"),
        ("symlink-to-etc", "resolves to /etc/cron.d"),
        ("symlink-to-data", "data folder"),
        ("dotdot", "outside the backup folders"),
        ("outside-roots", "outside the backup folders"),
        ("root-folder", "root folder"),
    ],
)
def test_a_destination_outside_the_roots_or_in_a_protected_folder_is_refused(
    admin_client,
    tmp_path: Path,
    settings,
    mail_dir: Path,
    case: str,
    reason: str,  # type: ignore[no-untyped-def]
) -> None:
    destination = _destinations(tmp_path, settings)[case]
    cron_before = sorted(os.listdir("/etc/cron.d"))
    with pytest.raises(FieldError) as error:
        services.policy_create(actor=ADMIN, name="x", include_mail=True, destination=destination, cron="0 3 * * *")
    assert error.value.field == "destination" and reason in error.value.message, error.value.message

    body = {"name": "x", "include": ["mail"], "destination": destination}
    answer = admin_client.post("/api/v1/backups/policies/", body, content_type="application/json")
    assert answer.status_code == 400 and reason in answer.json()["fields"]["destination"][0], answer.json()

    form = {
        "name": "x",
        "include_mail": "on",
        "destination": destination,
        "cron": "0 3 * * *",
        "timezone": "UTC",
        "compression": "gzip",
        "keep_last": 7,
        "keep_daily": 7,
        "keep_weekly": 4,
        "keep_monthly": 3,
        "max_age_days": 30,
        "enabled": "on",
    }
    page = admin_client.post("/backups/policies/new/", form)
    assert page.status_code == 200 and reason in page.content.decode()
    assert not BackupPolicy.objects.exists()
    assert sorted(os.listdir("/etc/cron.d")) == cron_before


@pytest.mark.parametrize(
    "destination", ["relative/folder", "/backups/a\nb", "/backups/a\0b", "/" + "a" * 600, "", "   "]
)
def test_odd_destinations_get_a_clear_400(admin_client, mail_dir: Path, destination: str) -> None:  # type: ignore[no-untyped-def]
    body = {"name": "x", "include": ["mail"], "destination": destination}
    answer = admin_client.post("/api/v1/backups/policies/", body, content_type="application/json")
    assert answer.status_code == 400 and "destination" in answer.json()["fields"], answer.json()
    assert not BackupPolicy.objects.exists()


def test_a_policy_saved_before_the_rule_fails_its_run_without_writing(
    admin_client,
    mail_dir: Path,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    legacy = BackupPolicy.objects.create(name="legacy", destination="/etc/cron.d")  # as 0001 accepted it
    before = sorted(os.listdir("/etc/cron.d"))
    with pytest.raises(FieldError, match=r"Nothing was written: the destination of legacy is refused\. .*/etc"):
        services.backup_run(policy_id=legacy.pk)
    refused = admin_client.post(f"/api/v1/backups/policies/{legacy.pk}/run/")
    assert refused.status_code == 400 and "refused" in refused.json()["fields"]["destination"][0]
    page = admin_client.get("/backups/").content.decode()
    assert "Policy legacy: its destination is refused" in page
    assert sorted(os.listdir("/etc/cron.d")) == before
    assert not BackupArchive.objects.exists()


def test_a_symlink_pointed_elsewhere_after_saving_fails_the_next_run(
    policy: BackupPolicy, tmp_path: Path, config_dir: Path, mail_dir: Path
) -> None:
    real = tmp_path / "volume-real"
    real.mkdir()
    link = tmp_path / "volume-link"
    link.symlink_to(real)
    services.policy_update(policy=policy, actor=ADMIN, destination=str(link))
    first = services.backup_run(policy_id=policy.pk)
    assert Path(first.path).parent == link and (real / Path(first.path).name).exists()

    link.unlink()
    link.symlink_to(config_dir)  # someone re-points the volume at the config folder
    config_before = snapshot(config_dir)
    with pytest.raises(FieldError, match=r"resolves to .*config.* DMS config folder"):
        services.backup_run(policy_id=policy.pk)
    name = Path(first.path).name
    BackupArchive.objects.filter(pk=first.pk).update(
        path=str(real / name), manifest_path=str(real / arc.manifest_name(name))
    )  # moved by hand: a restore reads it, but would write its lock and safety copy into the refused folder
    first.refresh_from_db()
    with pytest.raises(FieldError, match="refused"):
        services.restore_start(archive=first, scope="all", dry_run=False, actor=ADMIN)
    assert snapshot(config_dir) == config_before
    assert BackupArchive.objects.count() == 1


# ---- encryption ----------------------------------------------------------------------------------


@pytest.fixture
def encrypted_policy(policy: BackupPolicy, age_key: tuple[Path, str, str], secrets: Path) -> BackupPolicy:
    return services.policy_update(policy=policy, actor=ADMIN, age_recipient=age_key[1])


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_an_encrypted_backup_opens_with_the_age_cli_and_its_tar_restores_byte_for_byte(
    encrypted_policy: BackupPolicy,
    age_key: tuple[Path, str, str],
    mail_dir: Path,
    tmp_path: Path,
    compression: str,
) -> None:
    services.policy_update(policy=encrypted_policy, actor=ADMIN, compression=compression)
    archive = services.backup_run(policy_id=encrypted_policy.pk)
    suffix = ".tar.gz.age" if compression == "gzip" else ".tar.zst.age"
    assert archive.path.endswith(suffix) and archive.encrypted and archive.age_recipient == age_key[1]
    data = Path(archive.path).read_bytes()
    assert data.startswith(b"age-encryption.org/v1\n") and b"hunter2" not in data
    out = tmp_path / "untarred"
    out.mkdir()
    flag = "-z" if compression == "gzip" else "--zstd"
    decrypt = subprocess.Popen(["age", "-d", "-i", str(age_key[0]), archive.path], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", flag, "-f", "-", "-C", str(out)], stdin=decrypt.stdout, check=True)
    assert decrypt.wait() == 0
    assert snapshot(out / "mail") == snapshot(mail_dir)
    assert (out / "config" / "postfix-sasl-password.cf").read_bytes() == SECRET

    # The manifest names files (not secret) but holds no content checksum of any (guessable offline).
    manifest_text = Path(archive.manifest_path).read_bytes()
    manifest = arc.Manifest.load(Path(archive.manifest_path))
    assert manifest.age_recipient == age_key[1]
    assert "config/postfix-sasl-password.cf" in manifest.by_path()
    assert all(e.sha256 == "" for e in manifest.entries)
    assert b"hunter2" not in manifest_text and b"ldap-secret" not in manifest_text
    assert stat.S_IMODE(os.stat(archive.path).st_mode) == 0o600


def test_verify_and_restore_through_the_service_with_the_key(
    encrypted_policy: BackupPolicy,
    age_key: tuple[Path, str, str],
    mail_dir: Path,
    state_dir: Path,
    config_dir: Path,
) -> None:
    before_mail, before_state = snapshot(mail_dir), snapshot(state_dir)
    archive = services.backup_run(policy_id=encrypted_policy.pk)
    key_file_text = age_key[0].read_text()  # the whole key file, comments and all, is accepted
    assert services.archive_verify(archive_id=archive.pk, identity=key_file_text) == []
    archive.refresh_from_db()
    assert archive.verified_at is not None

    shutil.rmtree(mail_dir)
    shutil.rmtree(state_dir)
    (config_dir / "postfix-sasl-password.cf").write_bytes(b"changed\n")
    result = services.archive_restore(
        archive_id=archive.pk, scope="all", dry_run=False, actor=ADMIN, identity=age_key[2]
    )
    assert snapshot(mail_dir) == before_mail and snapshot(state_dir) == before_state
    assert (config_dir / "postfix-sasl-password.cf").read_bytes() == SECRET
    safety = BackupArchive.objects.get(pk=BackupArchive.objects.get(path=result["safety_archive"]).pk)
    assert safety.encrypted and safety.path.endswith(".tar.gz.age")  # the safety copy holds secrets too


def test_an_encrypted_incremental_chain_restores_and_a_new_key_starts_a_new_full(
    encrypted_policy: BackupPolicy, age_key: tuple[Path, str, str], mail_dir: Path
) -> None:
    services.policy_update(policy=encrypted_policy, actor=ADMIN, incremental=True)
    services.backup_run(policy_id=encrypted_policy.pk)
    put(mail_dir / "example.test" / "user" / "cur" / "1800000000.M5P5.mail,S=4:2,S", b"new!")
    whole_second_dir_mtimes(mail_dir)
    incr = services.backup_run(policy_id=encrypted_policy.pk)
    assert incr.kind == "incremental" and incr.encrypted
    before = snapshot(mail_dir)
    shutil.rmtree(mail_dir / "example.test")
    services.archive_restore(archive_id=incr.pk, scope="all", dry_run=False, actor=ADMIN, identity=age_key[2])
    assert snapshot(mail_dir) == before

    from pyrage import x25519

    services.policy_update(
        policy=encrypted_policy, actor=ADMIN, age_recipient=str(x25519.Identity.generate().to_public())
    )
    assert services.backup_run(policy_id=encrypted_policy.pk).kind == "full"  # one key opens a whole chain


def test_a_wrong_missing_or_malformed_key_fails_cleanly_and_changes_nothing(
    encrypted_policy: BackupPolicy, age_key: tuple[Path, str, str], mail_dir: Path
) -> None:
    archive = services.backup_run(policy_id=encrypted_policy.pk)
    assert services.archive_verify(archive_id=archive.pk, identity=age_key[2]) == []
    for given, message in [
        (other_age_secret(), "This secret key does not open the archive: its public key is age1"),
        ("", "This archive is encrypted: give its age secret key"),
        ("AGE-SECRET-KEY-1NOTAKEY", "Not a valid age secret key"),
        ("hunter2", "Paste the age secret key"),
        (age_key[1], "Paste the age secret key"),
    ]:
        for start in (
            lambda key: services.verify_start(archive=archive, actor=ADMIN, identity=key),
            lambda key: services.restore_start(archive=archive, scope="all", dry_run=False, actor=ADMIN, identity=key),
        ):
            with pytest.raises(FieldError) as error:
                start(given)
            assert error.value.field == "identity" and message in error.value.message, error.value.message
    # A preview needs no key: it reads the manifest only.
    services.restore_start(archive=archive, scope="all", dry_run=True, actor=ADMIN)

    # Past the services' check (a job given a wrong key): a plain message, verified_at kept, no file touched.
    message = mail_dir / "example.test" / "user" / "cur" / "1700000000.M1P1.mail,S=20:2,S"
    message.write_bytes(b"damaged")
    with pytest.raises(arc.WrongKey, match="does not open"):
        services.archive_verify(archive_id=archive.pk, identity=other_age_secret())
    with pytest.raises(arc.WrongKey, match="does not open"):
        services.archive_restore(
            archive_id=archive.pk, scope="all", dry_run=False, actor=ADMIN, identity=other_age_secret()
        )
    with pytest.raises(arc.WrongKey, match="does not open"):
        arc.extract(
            archive=Path(archive.path),
            compression="gzip",
            roots={"mail": mail_dir},
            wanted={"mail/example.test/user/cur/1700000000.M1P1.mail,S=20:2,S"},
            identity=other_age_secret(),
        )
    assert message.read_bytes() == b"damaged"
    archive.refresh_from_db()
    assert archive.verified_at is not None
    assert not BackupArchive.objects.filter(safety=True).exists()


def test_a_damaged_encrypted_archive_fails_verify_with_a_plain_message(
    encrypted_policy: BackupPolicy, age_key: tuple[Path, str, str], mail_dir: Path
) -> None:
    put(mail_dir / "example.test" / "user" / "cur" / "big.mail", os.urandom(300_000))
    archive = services.backup_run(policy_id=encrypted_policy.pk)
    data = bytearray(Path(archive.path).read_bytes())
    data[len(data) // 2] ^= 0x01
    Path(archive.path).write_bytes(bytes(data))
    with pytest.raises(arc.ArchiveError, match="damaged or was changed: age's check of its content failed"):
        services.archive_verify(archive_id=archive.pk, identity=age_key[2])
    archive.refresh_from_db()
    assert archive.verified_at is None


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("age1xyz", "Not a valid age public key"),
        ("AGE-SECRET-KEY-1ABC", "That is a secret key"),
        ("ssh-ed25519 AAAA", "Give an age public key"),
        ("age1" + "q" * 200, "no more than 100 characters"),
        ("age1abc\nRELAY=x", "Give an age public key"),
    ],
)
def test_a_bad_recipient_gets_a_field_error(admin_client, dest: Path, mail_dir: Path, given: str, message: str) -> None:  # type: ignore[no-untyped-def]
    body = {"name": "x", "include": ["mail"], "destination": str(dest), "age_recipient": given}
    answer = admin_client.post("/api/v1/backups/policies/", body, content_type="application/json")
    assert answer.status_code == 400, answer.json()
    assert message in answer.json()["fields"]["age_recipient"][0]
    assert not BackupPolicy.objects.exists()


def test_the_recipient_is_stored_in_its_canonical_form(admin_client, dest: Path, mail_dir: Path, age_key) -> None:  # type: ignore[no-untyped-def]
    body = {"name": "x", "include": ["mail"], "destination": str(dest), "age_recipient": f"  {age_key[1].upper()} "}
    created = admin_client.post("/api/v1/backups/policies/", body, content_type="application/json")
    assert created.status_code == 201 and created.json()["age_recipient"] == age_key[1]
    assert admin_client.get(f"/api/v1/backups/policies/{created.json()['id']}/").json()["age_recipient"] == age_key[1]


# ---- the key's way to the worker (real Redis, real RQ worker) ---------------------------------------


@pytest.fixture
def queues(settings, redis_url):  # type: ignore[no-untyped-def]
    import django_rq

    settings.RQ_QUEUES = {name: {"URL": redis_url, "DEFAULT_TIMEOUT": 600} for name in ("default", "backups")}
    for name in ("default", "backups"):
        django_rq.get_queue(name).empty()
    return django_rq.get_connection("backups")


def run_jobs() -> None:
    from django_rq import get_worker

    get_worker("backups", "default", worker_class="rq.worker.SimpleWorker").work(burst=True)


@pytest.mark.django_db(transaction=True)
def test_the_key_reaches_the_worker_sealed_is_read_once_and_is_stored_nowhere(
    admin_client,
    queues,
    encrypted_policy: BackupPolicy,
    age_key: tuple[Path, str, str],
    mail_dir: Path,  # type: ignore[no-untyped-def]
) -> None:
    from rq.job import Job

    from dms_admin.models import AuditEntry, JobRun

    archive = services.backup_run(policy_id=encrypted_policy.pk)
    secret = age_key[2]
    listed = admin_client.get("/api/v1/backups/archives/").json()["results"][0]
    assert listed["encrypted"] is True and listed["age_recipient"] == age_key[1] and "identity" not in listed

    answer = admin_client.post(
        f"/api/v1/backups/archives/{archive.pk}/verify/", {"identity": secret}, content_type="application/json"
    )
    assert answer.status_code == 202, answer.json()
    run_id = answer.json()["id"]
    waiting = queues.get(services._identity_redis_key(run_id))
    assert waiting and secret.encode() not in waiting and b"AGE-SECRET" not in waiting  # sealed in Redis
    assert 0 < queues.ttl(services._identity_redis_key(run_id)) <= services.IDENTITY_TTL
    job = Job.fetch(run_id, connection=queues)
    assert secret not in repr((job.args, job.kwargs, job.description))
    assert secret not in repr(JobRun.objects.get(pk=run_id).args) and secret not in answer.content.decode()
    run_jobs()
    run = JobRun.objects.get(pk=run_id)
    assert run.status == "succeeded", run.error
    assert queues.get(services._identity_redis_key(run_id)) is None  # read once, then gone
    archive.refresh_from_db()
    assert archive.verified_at is not None

    # A restore through the API with the key: byte for byte.
    before = snapshot(mail_dir)
    shutil.rmtree(mail_dir / "second.test")
    restore = admin_client.post(
        f"/api/v1/backups/archives/{archive.pk}/restore/",
        {"scope": "all", "identity": secret},
        content_type="application/json",
    )
    assert restore.status_code == 202, restore.json()
    run_jobs()
    done = JobRun.objects.get(pk=restore.json()["id"])
    assert done.status == "succeeded", done.error
    assert snapshot(mail_dir) == before
    stored = [repr(r.__dict__) for r in JobRun.objects.all()] + [repr(a.__dict__) for a in AuditEntry.objects.all()]
    assert not any(secret in text for text in stored)
    assert not [k for k in queues.keys("dms-admin:backups:age-identity:*")]


@pytest.mark.django_db(transaction=True)
def test_a_job_whose_key_expired_or_a_retry_fails_saying_why(
    admin_client,
    queues,
    encrypted_policy: BackupPolicy,
    age_key: tuple[Path, str, str],  # type: ignore[no-untyped-def]
) -> None:
    from dms_admin.jobqueue import job_retry
    from dms_admin.models import JobRun

    archive = services.backup_run(policy_id=encrypted_policy.pk)
    run = services.verify_start(archive=archive, actor=ADMIN, identity=age_key[2])
    queues.delete(services._identity_redis_key(run.pk))  # as if it waited past IDENTITY_TTL
    run_jobs()
    run.refresh_from_db()
    assert run.status == "failed" and "this job has no age secret key" in run.error, run.error
    again = job_retry(run=run, actor=ADMIN)  # the retry has the same arguments, and so no key either
    run_jobs()
    again.refresh_from_db()
    assert again.status == "failed" and "Start it again and give the key" in again.error
    assert JobRun.objects.filter(status="succeeded", kind="verify").count() == 0


def test_the_api_refuses_a_missing_or_wrong_key_with_a_field_error(
    admin_client,
    encrypted_policy: BackupPolicy,
    age_key: tuple[Path, str, str],  # type: ignore[no-untyped-def]
) -> None:
    archive = services.backup_run(policy_id=encrypted_policy.pk)
    for url, body in [
        (f"/api/v1/backups/archives/{archive.pk}/verify/", {}),
        (f"/api/v1/backups/archives/{archive.pk}/restore/", {"scope": "all"}),
    ]:
        missing = admin_client.post(url, body, content_type="application/json")
        assert missing.status_code == 400 and "is encrypted" in missing.json()["fields"]["identity"][0]
        wrong = admin_client.post(url, {**body, "identity": other_age_secret()}, content_type="application/json")
        assert wrong.status_code == 400 and "does not open" in wrong.json()["fields"]["identity"][0]
        deep = admin_client.post(url, {**body, "identity": {"a": [[[]]]}}, content_type="application/json")
        assert deep.status_code == 400 and "identity" in deep.json()["fields"]
    preview = admin_client.post(
        f"/api/v1/backups/archives/{archive.pk}/restore/",
        {"scope": "all", "dry_run": True},
        content_type="application/json",
    )
    assert preview.status_code == 202  # a preview needs no key


def test_the_panel_asks_for_the_key_only_for_an_encrypted_archive(
    admin_client,
    encrypted_policy: BackupPolicy,
    age_key: tuple[Path, str, str],
    mail_dir: Path,  # type: ignore[no-untyped-def]
) -> None:
    sealed = services.backup_run(policy_id=encrypted_policy.pk)
    services.policy_update(policy=encrypted_policy, actor=ADMIN, age_recipient="")
    plain = services.backup_run(policy_id=encrypted_policy.pk)
    edit = admin_client.get(f"/backups/policies/{encrypted_policy.pk}/").content.decode()
    assert "Not encrypted:" in edit and "age-keygen" in edit and services.archive_readers() in edit
    field = '<input type="password" name="identity" autocomplete="off"'
    url = "/backups/archives/{}/restore/?scope=mailbox&mailbox=user@example.test"
    assert field in admin_client.get(url.format(sealed.pk)).content.decode()
    assert field not in admin_client.get(url.format(plain.pk)).content.decode()
    assert field in admin_client.get(f"/backups/archives/{sealed.pk}/verify/").content.decode()
    archives = admin_client.get("/backups/archives/").content.decode()
    assert f'href="/backups/archives/{sealed.pk}/verify/">Verify…' in archives
    given = other_age_secret()
    wrong = admin_client.post(f"/backups/archives/{sealed.pk}/verify/", {"identity": given})
    assert wrong.status_code == 200 and "does not open the archive" in wrong.content.decode()
    assert given not in wrong.content.decode()  # never rendered back into the page
    refused = admin_client.post(
        f"/backups/archives/{sealed.pk}/restore/", {"scope": "mailbox", "mailbox": "user@example.test", "identity": ""}
    )
    page = refused.content.decode()
    assert refused.status_code == 200 and "This archive is encrypted: give its age secret key" in page
    assert "What would change" in page  # the preview stays on the page


def test_archives_written_before_the_fix_are_closed_by_the_next_run(policy: BackupPolicy, secrets: Path) -> None:
    old = services.backup_run(policy_id=policy.pk)
    for path in (old.path, old.manifest_path):
        os.chmod(path, 0o644)  # as the archives of earlier versions were written
    services.backup_run(policy_id=policy.pk)
    for path in (old.path, old.manifest_path):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
