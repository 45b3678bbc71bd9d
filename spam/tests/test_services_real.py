"""Spam services against the real test mail container (SpamAssassin 4), Redis and RQ."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import django_rq
import pytest
from django.utils import timezone
from django_rq import get_worker

from dms_admin.audit import Actor
from dms_admin.configstore import ConfigStore
from dms_admin.dms import MailServer, get_mailserver
from dms_admin.models import JobRun, PendingChange
from spam import files, jobs, services
from spam.models import TrainingRun, TrainingSchedule

pytestmark = [pytest.mark.docker, pytest.mark.django_db(transaction=True)]

ADMIN = Actor(name="admin")
GOOD = "header LOCAL_VIAGRA Subject =~ /viagra/i\nscore LOCAL_VIAGRA 5.0\n"
BAD = "header LOCAL_VIAGRA Subject =~ /viagra/i\nscore LOCAL_VIAGRA 5.0\nheadr BROKEN Subject =~ /x/\n"


@pytest.fixture(autouse=True)
def _real_services(settings, docker_engine, mail_container, redis_url):  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = docker_engine.host
    settings.DMS_CONTAINER_NAME = mail_container.name
    settings.DMS_CONTAINER_LABEL = ""
    settings.RQ_QUEUES = {name: {"URL": redis_url, "DEFAULT_TIMEOUT": 600} for name in ("default", "backups")}
    django_rq.get_queue("default").empty()


def run_jobs() -> None:
    get_worker("default", worker_class="rq.worker.SimpleWorker").work(burst=True)


def message(kind: str, number: int) -> bytes:
    if kind == "spam":
        subject, body = f"WIN a FREE prize {number}", "Claim your lottery winnings casino viagra cheap pills now click"
    else:
        subject, body = f"Minutes of meeting {number}", "Attached the quarterly budget review and the project plan"
    return (
        f"From: {kind}{number}@sender.test\nTo: user@example.test\nSubject: {subject}\n"
        f"Message-ID: <{kind}-{number}@sender.test>\nDate: Mon, 1 Jan 2024 10:00:00 +0000\n\n"
        f"{body} {number} {kind}word{number}\n"
    ).encode()


def fill(mail: Path, folder: str, kind: str, count: int, make: Callable[[str, int], bytes] | None = None) -> None:
    """`count` messages of `kind` in user@example.test's `folder` (made by `make`, else `message`)."""
    cur = mail / "example.test" / "user" / folder / "cur"
    cur.mkdir(parents=True, exist_ok=True)
    for number in range(count):
        (cur / f"17000000{number:02d}.M{number}P1.mail:2,S").write_bytes((make or message)(kind, number))


def test_it_lints_good_rules_clean_and_names_the_line_of_a_bad_one() -> None:
    assert services.rules_lint(text=GOOD) == []
    problems = services.rules_lint(text=BAD)
    assert [p.line for p in problems] == [3]
    assert "headr BROKEN" in problems[0].message


# Passes dms-admin's own check (eval tests SpamAssassin ships, ifplugin/if blocks, shortcircuit, URI
# blocklists) and SpamAssassin 4's lint.
ALLOWED = """\
# loadplugin Mail::SpamAssassin::Plugin::Foo   (commented out: not read)
header LOCAL_VIAGRA Subject =~ /viagra/i   # include /etc/passwd (a comment)
score LOCAL_VIAGRA 5.0
describe LOCAL_VIAGRA Mentions viagra \\# in the subject
ifplugin Mail::SpamAssassin::Plugin::Shortcircuit
  shortcircuit LOCAL_VIAGRA spam
endif
if (version >= 4.000000)
  header LOCAL_NO_TO eval:check_for_missing_to_header()
  score LOCAL_NO_TO 0.5
  body LOCAL_STOCK eval:check_stock_info('3')
  score LOCAL_STOCK 0.1
endif
ifplugin Mail::SpamAssassin::Plugin::URIDNSBL
  urirhssub LOCAL_URIBL multi.uribl.example.test. A 2
  body LOCAL_URIBL eval:check_uridnsbl('LOCAL_URIBL')
  tflags LOCAL_URIBL net
endif
meta LOCAL_BOTH (LOCAL_VIAGRA && LOCAL_NO_TO)
score LOCAL_BOTH 1.0
"""


class CountingMailServer:
    """The real mail container, counting what runs in it (to see that lint did not run)."""

    def __init__(self) -> None:
        self.real = get_mailserver()
        self.commands: list[list[str]] = []

    def exec(self, cmd: list[str], **kwargs: Any) -> Any:
        self.commands.append(cmd)
        return self.real.exec(cmd, **kwargs)

    def put_file(self, path: str, data: bytes) -> None:
        self.commands.append(["put_file", path])
        self.real.put_file(path, data)

    scratch_folder = MailServer.scratch_folder  # through our exec, so its commands are counted too


def test_rules_that_pass_our_check_pass_spamassassins_lint_too() -> None:
    assert files.rules_refusals(ALLOWED) == []
    counting = CountingMailServer()
    assert services.rules_lint(text=ALLOWED, mailserver=counting) == []  # type: ignore[arg-type]
    assert any(cmd[:2] == ["spamassassin", "--lint"] for cmd in counting.commands)


def test_a_denied_directive_never_reaches_lint(config_dir: Path) -> None:
    # A lint error on line 1 as well: only our refusal comes back, SpamAssassin is never asked.
    denied = "if (0)\n  loadplugin Mail::SpamAssassin::Plugin::Evil /tmp/e.pm\nendif\n"
    text = "headr BROKEN Subject =~ /x/\n" + GOOD + denied
    counting = CountingMailServer()
    problems = services.rules_lint(text=text, mailserver=counting)  # type: ignore[arg-type]
    assert [(p.line, p.denied) for p in problems] == [(5, True)] and "loadplugin" in problems[0].message
    assert counting.commands == []
    with pytest.raises(services.RulesInvalid) as refused:
        services.rules_save(text=text, actor=ADMIN)
    assert [p.line for p in refused.value.problems] == [5]
    assert not (config_dir / files.RULES_FILE).exists()
    # What lint would have said of the file without the denied line: the broken line 1.
    assert [p.line for p in services.rules_lint(text=text.replace("loadplugin", "# loadplugin"))] == [1]


def test_saving_rules_commits_and_needs_a_recreate(store: ConfigStore, config_dir: Path) -> None:
    result, outcome = services.rules_save(text=GOOD, actor=ADMIN)
    assert outcome is not None and (outcome.apply, outcome.pending) == ("recreate", True)
    assert (config_dir / files.RULES_FILE).read_text() == GOOD
    assert store.history(limit=1)[0].sha == result.sha
    assert PendingChange.objects.get().path == files.RULES_FILE
    with pytest.raises(services.RulesInvalid) as refused:
        services.rules_save(text=BAD, actor=ADMIN)
    assert refused.value.problems[0].line == 3
    assert (config_dir / files.RULES_FILE).read_text() == GOOD


def test_the_subdomain_switch_keeps_the_rest_of_amavis_cf(config_dir: Path) -> None:
    (config_dir / "amavis.cf").write_text('use strict;\n$spam_quarantine_to = "q\\@example.test";\n\n1;\n')
    services.subdomains_set(enabled=True, actor=ADMIN)
    text = (config_dir / "amavis.cf").read_text()
    assert '@local_domains_maps = (".");' in text and '$spam_quarantine_to = "q\\@example.test";' in text
    assert text.rstrip().endswith("1;") and services.subdomains_get()
    services.subdomains_set(enabled=False, actor=ADMIN)
    assert (config_dir / "amavis.cf").read_text() == 'use strict;\n$spam_quarantine_to = "q\\@example.test";\n\n1;\n'


def test_a_scheduled_run_learns_ten_and_ten_then_nothing_new(tmp_path: Path) -> None:
    mail = tmp_path / "mail"
    fill(mail, ".Junk", "spam", 10)
    fill(mail, ".Archives", "ham", 10)
    schedule = services.schedule_create(
        actor=ADMIN, scope="mailbox", target="user@example.test", cron="30 2 * * *", timezone="Europe/Paris"
    )
    tick = datetime(2025, 7, 1, 0, 30, 20, tzinfo=UTC)  # 02:30 in Paris (summer time)
    first = jobs.dispatch_due_trainings(tick)
    assert len(first) == 1
    assert jobs.dispatch_due_trainings(tick.replace(second=50)) == []  # the same minute again: not twice
    assert django_rq.get_queue("default").count == 1
    run_jobs()
    job = JobRun.objects.get(pk=first[0])
    assert job.status == "succeeded", job.error
    run = TrainingRun.objects.get()
    assert run.job_id == job.pk and run.ok and run.engine == "spamassassin"
    assert (run.learned_spam, run.learned_ham) == (10, 10)
    assert run.nspam_after - run.nspam_before == 10  # type: ignore[operator]
    assert run.nham_after - run.nham_before == 10  # type: ignore[operator]
    assert services.bayes_stats() == files.BayesStats(run.nspam_after, run.nham_after, run.ntokens_after or 0)
    # Our quick read of the DB's counters says what SpamAssassin's own dump says, and a configured
    # store module (maybe SQL or Redis) makes us ask the dump itself.
    mailserver = services.get_mailserver()
    dump = mailserver.exec(["sa-learn", "--dump", "magic", "--dbpath", files.BAYES_DIR])
    assert files.parse_dump_magic(dump.output) == services.bayes_stats()
    mailserver.exec(
        ["bash", "-c", "echo 'bayes_store_module Mail::SpamAssassin::BayesStore::DBM' >/etc/spamassassin/x.cf"]
    )
    assert services.bayes_stats() == files.parse_dump_magic(dump.output)
    mailserver.exec(["rm", "/etc/spamassassin/x.cf"])
    owner = services.get_mailserver().exec(["stat", "-c", "%U", f"{files.BAYES_DIR}/bayes_toks"])
    assert owner.output.strip() == "amavis"

    again = services.training_start(schedule=schedule, actor=ADMIN)
    run_jobs()
    again.refresh_from_db()
    assert again.status == "succeeded", again.error
    assert again.message.startswith("Nothing new to learn")
    second = TrainingRun.objects.get(job=again)
    assert (second.learned_spam, second.learned_ham) == (0, 0)
    assert (second.nspam_after, second.nham_after) == (run.nspam_after, run.nham_after)


def test_a_missing_folder_fails_with_the_reason_and_the_next_run_works(tmp_path: Path) -> None:
    mail = tmp_path / "mail"
    fill(mail, ".Archives", "ham", 3)
    schedule = TrainingSchedule.objects.create(scope="domain", target="example.test")
    run = services.training_start(schedule=schedule, actor=ADMIN)
    run_jobs()
    run.refresh_from_db()
    assert run.status == "failed" and "No spam folder (.Junk) exists" in run.error
    failed = TrainingRun.objects.get(job=run)
    assert not failed.ok and "No spam folder" in failed.errors and failed.ended_at
    assert (failed.learned_spam, failed.learned_ham) == (0, 0)  # nothing learned before the check
    fill(mail, ".Junk", "spam", 2)
    ok = services.training_start(schedule=schedule, actor=ADMIN)
    run_jobs()
    ok.refresh_from_db()
    assert ok.status == "succeeded", ok.error
    assert TrainingRun.objects.get(job=ok).learned_spam == 2
    assert timezone.now() >= failed.ended_at


def test_the_api_lints_rules_and_reads_bayes(admin_client, config_dir: Path) -> None:  # type: ignore[no-untyped-def]
    refused = admin_client.put("/api/v1/spam/rules/", {"text": BAD}, content_type="application/json")
    assert refused.status_code == 400
    assert refused.json()["fields"]["text"][0].startswith("line 3: failed to parse line")
    assert not (config_dir / files.RULES_FILE).exists()
    checked = admin_client.post("/api/v1/spam/rules/validate/", {"text": GOOD}, content_type="application/json")
    assert checked.json() == {"ok": True, "problems": [], "fields": {}}
    saved = admin_client.put("/api/v1/spam/rules/", {"text": GOOD}, content_type="application/json")
    assert saved.status_code == 200 and saved.json()["change"]["apply"] == "recreate"
    assert admin_client.get("/api/v1/spam/rules/").json()["text"] == GOOD
    bayes = admin_client.get("/api/v1/spam/bayes/").json()
    assert bayes["engine"] == "spamassassin" and bayes["min_spam"] == 200 and bayes["min_ham"] == 200
    assert {"nspam", "nham", "ntokens"} <= set(bayes)
    assert "needs" in bayes["message"]
