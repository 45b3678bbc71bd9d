"""Spam filtering: the custom rules, the amavis subdomain switch, Bayes training and its numbers."""

from __future__ import annotations

import shlex
import time
from typing import Any

from croniter import croniter
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from dms_admin.audit import Actor, audit_record
from dms_admin.changes import ChangeOutcome, change_recorded
from dms_admin.configstore import ChangeResult, get_store
from dms_admin.dms import DockerUnavailable, MailServer, get_mailserver
from dms_admin.errors import FieldError
from dms_admin.jobqueue import JobReport, job_enqueue
from dms_admin.mailnames import address_key, domain_key
from dms_admin.mailserver_env import catalogue as dmsenv
from dms_admin.mailserver_env import service as settings_service
from dms_admin.models import JobRun
from dms_admin.schedules import zone
from spam import files
from spam.models import TrainingRun, TrainingSchedule

SPAM_SETTINGS = (
    "ENABLE_SPAMASSASSIN",
    "SA_TAG",
    "SA_TAG2",
    "SA_KILL",
    "SPAM_SUBJECT",
    "MOVE_SPAM_TO_JUNK",
    "MARK_SPAM_AS_READ",
    "SPAMASSASSIN_SPAM_TO_INBOX",
    "ENABLE_SPAMASSASSIN_KAM",
)
TRAIN_KIND = "spam-train"
ACTIVE = (JobRun.Status.QUEUED, JobRun.Status.RUNNING)
LINT_TIMEOUT = 120
# DMS keeps the Bayes DB in the state volume when one is mounted, else in amavis's home (spec §5.4).
_PICK_BAYES_DIR = (
    f'B={files.BAYES_DIR}; [ -d /var/mail-state/lib-amavis ] || B=/var/lib/amavis/.spamassassin; mkdir -p "$B"'
)
# SpamAssassin's DBM store keeps its counts under "magic" keys of bayes_toks (BayesStore/DBM.pm, DB version 3).
# Perl's DB_File reads them in ~0.1 s, where `sa-learn --dump magic` first loads every rule (~1.5-2.5 s, twice per
# training). Printed in the dump's format, so one parser reads both. Another store configured (SQL, Redis), another
# DB version or a file DB_File cannot open: the dump, as before. No DB yet reads as zeros either way.
_READ_MAGIC_PERL = (
    'use DB_File; use Fcntl; tie(my %h, "DB_File", $ARGV[0], O_RDONLY, 0600, $DB_HASH) or exit 1; '
    'my $p = "\\015\\001\\007\\011\\003"; ($h{$p . "DBVERSION"} // "") eq "3" or exit 1; '
    'printf("0.000 0 %d 0 non-token data: %s\\n", $h{$p . uc($_)} // 0, $_) for qw(nspam nham ntokens);'
)
_READ_MAGIC = f"""{_PICK_BAYES_DIR} || exit 1
if ! grep -qsrE '^[[:space:]]*bayes_store_module' /etc/spamassassin; then
  [ -e "$B/bayes_toks" ] || [ -e "$B/bayes_toks.db" ] || exit 0
  [ -e "$B/bayes_toks" ] && perl -e "$1" "$B/bayes_toks" && exit 0
fi
exec sa-learn --dump magic --dbpath "$B" 2>&1"""


def _train_timeout() -> int:
    return int(getattr(settings, "SPAM_TRAIN_TIMEOUT", 3600))


def _rspamd_stat_wait() -> float:
    return float(settings.SPAM_RSPAMD_STAT_WAIT)


class RulesInvalid(FieldError):
    """dms-admin or `spamassassin --lint` refused the rules; `problems` has each message with its line."""

    def __init__(self, problems: list[files.LintProblem]) -> None:
        self.problems = problems
        super().__init__("text", "; ".join(_problem_text(p) for p in problems))

    @property
    def headline(self) -> str:
        if any(p.denied for p in self.problems):
            return "These rules are not allowed in spamassassin-rules.cf"
        return "SpamAssassin refused the rules"


def _problem_text(problem: files.LintProblem) -> str:
    return f"line {problem.line}: {problem.message}" if problem.line else problem.message


# ---- engine ----------------------------------------------------------------------------------------


def engine_active(mailserver: MailServer | None = None) -> str:
    """`rspamd` when the container runs Rspamd (ENABLE_RSPAMD=1), else `spamassassin`.

    The running container decides; when it cannot be reached, mailserver.env does.
    """
    try:
        env = (mailserver or get_mailserver()).env()
    except DockerUnavailable:
        env = dmsenv.values_of(get_store().read("mailserver.env"))
    return "rspamd" if env.get("ENABLE_RSPAMD", "0").strip() == "1" else "spamassassin"


def bayes_stats(*, mailserver: MailServer | None = None, engine: str | None = None) -> files.BayesStats:
    mailserver = mailserver or get_mailserver()
    engine = engine or engine_active(mailserver)
    if engine == "rspamd":
        result = mailserver.exec(["rspamc", "stat"], timeout=60)
        if not result.ok:
            raise DockerUnavailable(f"rspamc stat failed (exit {result.exit_code}): {result.output.strip()[:300]}")
        return files.parse_rspamc_stat(result.output)
    # No database yet: sa-learn prints an error instead of the lines, which reads as zeros.
    result = mailserver.exec(["bash", "-c", _READ_MAGIC, "bash", _READ_MAGIC_PERL], timeout=120)
    if result.timed_out:
        raise DockerUnavailable("sa-learn --dump magic did not answer in time.")
    return files.parse_dump_magic(result.output)


# ---- rules ------------------------------------------------------------------------------------------


def rules_get() -> str:
    return get_store().read(files.RULES_FILE)


def rules_lint(*, text: str, mailserver: MailServer | None = None) -> list[files.LintProblem]:
    """What is wrong with `text` as the rules file: first what dms-admin refuses outright
    (files.rules_refusals), and only when nothing is, the container's `spamassassin --lint` on a
    temporary copy of its config (a refused line never reaches SpamAssassin, not even its lint)."""
    text = files.rules_text(text)
    refused = files.rules_refusals(text)
    if refused:
        return refused
    mailserver = mailserver or get_mailserver()
    with mailserver.scratch_folder(copy_of="/etc/spamassassin") as folder:
        mailserver.put_file(f"{folder}/{files.RULES_FILE}", text.encode("utf-8"))
        result = mailserver.exec(["spamassassin", "--lint", "--siteconfigpath", folder], timeout=LINT_TIMEOUT)
    if result.timed_out:
        raise DockerUnavailable(f"spamassassin --lint did not finish within {LINT_TIMEOUT} s.")
    problems = files.parse_lint(result.output, text)
    if result.ok or problems:
        return problems
    return [files.LintProblem(None, result.output.strip()[-500:] or f"spamassassin --lint exit {result.exit_code}")]


def rules_save(*, text: str, actor: Actor, dry_run: bool = False) -> tuple[ChangeResult, ChangeOutcome | None]:
    """Lint, then write the rules file as one commit; the mail container then needs a re-create."""
    text = files.rules_text(text)  # what the store writes is what was checked
    problems = rules_lint(text=text)
    if problems:
        raise RulesInvalid(problems)
    with get_store().change(actor=actor.name, message="SpamAssassin rules", dry_run=dry_run) as change:
        change.write(files.RULES_FILE, text)
    result = change.result
    assert result is not None
    if dry_run or not result.changed:
        return result, None
    return result, change_recorded(result, actor=actor, action="spam.rules", object=files.RULES_FILE)


# ---- amavis subdomains -----------------------------------------------------------------------------


def subdomains_get() -> bool:
    return files.amavis_subdomains(get_store().read(files.AMAVIS_FILE))


def subdomains_set(*, enabled: bool, actor: Actor, dry_run: bool = False) -> tuple[ChangeResult, ChangeOutcome | None]:
    verb = "on" if enabled else "off"
    with get_store().change(actor=actor.name, message=f"Spam headers for subdomains {verb}", dry_run=dry_run) as c:
        current = c.read(files.AMAVIS_FILE)
        if files.amavis_subdomains(current) != enabled:
            c.write(files.AMAVIS_FILE, files.amavis_set_subdomains(current, enabled))
    result = c.result
    assert result is not None
    if dry_run or not result.changed:
        return result, None
    return result, change_recorded(result, actor=actor, action="spam.subdomains", object=verb)


# ---- schedules --------------------------------------------------------------------------------------


def _folders(field: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(f, str) for f in value):
        raise FieldError(field, "Give a list of folder names, like .Junk or .Archives*.")
    folders = [f.strip() for f in value if f.strip()]
    for folder in folders:
        if not files.folder_ok(folder):
            raise FieldError(field, f"{folder!r} is not a Maildir folder name (like .Junk, .Archives*, .INBOX.*).")
    return folders


def schedule_validate(values: dict[str, Any]) -> dict[str, Any]:
    """The schedule fields as they will be stored, or FieldError naming the bad one."""
    clean = dict(values)
    scope = values.get("scope") or TrainingSchedule.Scope.ALL
    if scope not in TrainingSchedule.Scope.values:
        raise FieldError("scope", "Choose all, domain or mailbox.")
    target = (values.get("target") or "").strip().lower()
    # Mail folders are named by the punycode (A-label) domain, as DMS's files hold it.
    target = domain_key(target) if scope == TrainingSchedule.Scope.DOMAIN else address_key(target)
    if scope == TrainingSchedule.Scope.ALL:
        target = ""
    else:
        try:
            files.scope_roots(scope, target)
        except ValueError as exc:
            what = "a domain like example.com" if scope == "domain" else "a mailbox address like user@example.com"
            raise FieldError("target", f"{exc} Give {what}.") from exc
    clean.update(scope=scope, target=target)
    clean["spam_folders"] = _folders("spam_folders", values.get("spam_folders", [".Junk"]))
    clean["ham_folders"] = _folders("ham_folders", values.get("ham_folders", [".Archives*", ".INBOX.*"]))
    if not clean["spam_folders"] and not clean["ham_folders"]:
        raise FieldError("spam_folders", "Name at least one folder to learn from.")
    cron = " ".join(str(values.get("cron") or "").split())
    if len(cron.split()) != 5 or not croniter.is_valid(cron):
        raise FieldError("cron", "Not a valid cron expression (five fields, like 0 2 * * *).")
    clean["cron"] = cron
    try:
        zone(values.get("timezone") or "")  # also refuses "Europe", a folder of the zone database
    except ValueError as exc:
        raise FieldError("timezone", "Not a known time zone, like Europe/Paris or UTC.") from exc
    clean["enabled"] = bool(values.get("enabled", True))
    return {k: clean[k] for k in ("scope", "target", "spam_folders", "ham_folders", "cron", "timezone", "enabled")}


def schedule_create(*, actor: Actor, **values: Any) -> TrainingSchedule:
    schedule = TrainingSchedule.objects.create(**schedule_validate(values))
    audit_record(actor=actor, action="spam.schedule.create", object=f"{schedule.pk} {schedule}")
    return schedule


def schedule_update(*, schedule: TrainingSchedule, actor: Actor, **values: Any) -> TrainingSchedule:
    for key, value in schedule_validate(values).items():
        setattr(schedule, key, value)
    schedule.save()
    audit_record(actor=actor, action="spam.schedule.update", object=f"{schedule.pk} {schedule}")
    return schedule


def schedule_delete(*, schedule: TrainingSchedule, actor: Actor) -> None:
    audit_record(actor=actor, action="spam.schedule.delete", object=f"{schedule.pk} {schedule}")
    schedule.delete()


def training_active() -> JobRun | None:
    return JobRun.objects.filter(kind=TRAIN_KIND, status__in=ACTIVE).first()


class TrainingNotStarted(DockerUnavailable):
    """Run now could not start; `run` is the failed job it recorded, with the reason."""

    def __init__(self, message: str, run: JobRun) -> None:
        super().__init__(message)
        self.run = run


def training_start(*, schedule: TrainingSchedule, actor: Actor) -> JobRun:
    """Run now. One training at a time: two sa-learn on one Bayes DB only wait for each other's lock.

    A run that cannot start (engine or container down, Redis down) is still recorded, failed and
    with the reason, so the runs list and the job page say what happened instead of nothing.
    """
    audit_record(actor=actor, action="spam.train", object=f"{schedule.pk} {schedule}")
    try:
        get_mailserver().status()  # unreachable engine or container: refuse now, with the reason
    except DockerUnavailable as exc:
        reason = f"Not started: the mail server cannot be reached. {exc}"
        job = JobRun.objects.create(
            kind=TRAIN_KIND,
            created_by=actor.name,
            func="spam.jobs.training_job",
            args=[schedule.pk],
            status=JobRun.Status.FAILED,
            error=reason,
            finished_at=timezone.now(),
        )
        _record_not_started(job, schedule)
        raise TrainingNotStarted(reason, job) from exc
    run = job_enqueue(
        kind=TRAIN_KIND,
        func="spam.jobs.training_job",
        args=(schedule.pk,),
        actor=actor,
        timeout=_train_timeout() * 2 + 300,
        exclusive=True,
    )
    # After job_enqueue's own callback, which marks the job failed when Redis cannot take it.
    transaction.on_commit(lambda: _record_not_started(JobRun.objects.get(pk=run.pk), schedule))
    return run


def _record_not_started(job: JobRun, schedule: TrainingSchedule) -> None:
    """A failed training run for a job that failed before its worker began (which records its own)."""
    if job.status != JobRun.Status.FAILED or TrainingRun.objects.filter(job=job).exists():
        return
    TrainingRun.objects.create(
        schedule=schedule,
        job=job,
        spam_folders=schedule.spam_folders,
        ham_folders=schedule.ham_folders,
        started_at=job.created_at,
        ended_at=job.finished_at or timezone.now(),
        errors=job.error,
    )


# ---- training ---------------------------------------------------------------------------------------


def _find_folders(
    mailserver: MailServer, roots: str, spam: list[str], ham: list[str]
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """For each spam and ham folder pattern, the Maildir `cur`/`new` folders that exist in the scope (one exec)."""
    folders = [*spam, *ham]
    script = ["shopt -s nullglob"]
    for position, folder in enumerate(folders):
        globs = " ".join(files.folder_globs(roots, folder))  # validated names: safe unquoted, globs expand
        script.append(f'for d in {globs}; do [ -d "$d" ] && printf \'%s\\t%s\\n\' {position} "$d"; done')
    script.append("true")
    result = mailserver.exec(["bash", "-c", "; ".join(script)], timeout=120)
    if not result.ok:
        raise DockerUnavailable(f"Listing the mail folders failed: {result.output.strip()[:300]}")
    found: list[list[str]] = [[] for _ in folders]
    for line in result.output.splitlines():
        index, _, path = line.partition("\t")
        if index.isdigit() and int(index) < len(folders):
            found[int(index)].append(path)
    return dict(zip(spam, found[: len(spam)], strict=True)), dict(zip(ham, found[len(spam) :], strict=True))


def _learn(mailserver: MailServer, engine: str, kind: str, paths: list[str], bayes_dir: str) -> tuple[int, int, str]:
    if engine == "rspamd":
        cmd = ["rspamc", f"learn_{kind}", *paths]
    else:
        # Straight into the DB, as the FAQ's `sa-learn` does: learning into the journal (--no-sync) is no
        # faster here and its --sync afterwards cost ~15 % more than the bare commands (bench/spam_bench.py).
        cmd = ["sa-learn", f"--{kind}", "--dbpath", bayes_dir, *paths]
    result = mailserver.exec(cmd, timeout=_train_timeout())
    if result.timed_out:
        raise TimeoutError(f"{shlex.join(cmd[:2])} did not finish within {_train_timeout()} s.")
    if not result.ok:
        raise RuntimeError(f"{shlex.join(cmd[:2])} failed (exit {result.exit_code}): {result.output.strip()[-500:]}")
    parse = files.parse_rspamc_learn if engine == "rspamd" else files.parse_learned
    learned, examined = parse(result.output)
    return learned, examined, result.output


def _bayes_dir(mailserver: MailServer) -> str:
    result = mailserver.exec(["bash", "-c", f'{_PICK_BAYES_DIR} && echo "$B"'], timeout=30)
    if not result.ok:
        raise DockerUnavailable(f"The Bayes folder cannot be prepared: {result.output.strip()[:300]}")
    return result.output.strip().splitlines()[-1]


def _give_bayes_back(mailserver: MailServer, bayes_dir: str) -> None:
    """sa-learn ran as root (amavis cannot read the mailboxes); amavis must still read and write its DB."""
    owner = mailserver.exec(["chown", "-R", "amavis:amavis", bayes_dir], timeout=120)
    if not owner.ok:
        raise RuntimeError(f"chown of the Bayes folder failed (exit {owner.exit_code}): {owner.output.strip()[-300:]}")


def training_run(*, schedule_id: int, job_id: str | None, report: JobReport) -> TrainingRun:
    """Learn spam and ham from the schedule's folders and record the run with the numbers before and after."""
    schedule = TrainingSchedule.objects.get(pk=schedule_id)
    run = TrainingRun.objects.create(
        schedule=schedule, job_id=job_id, spam_folders=schedule.spam_folders, ham_folders=schedule.ham_folders
    )
    try:
        _train(schedule, run, report)
    except Exception as exc:
        run.errors = (run.errors + "\n" + (str(exc) or type(exc).__name__)).strip()
        run.ended_at = timezone.now()
        run.save()
        raise
    run.ok, run.ended_at = True, timezone.now()
    run.save()
    return run


def _train(schedule: TrainingSchedule, run: TrainingRun, report: JobReport) -> None:
    mailserver = get_mailserver()
    run.engine = engine = engine_active(mailserver)
    report.progress(5, f"Reading the Bayes numbers ({engine})")
    before = bayes_stats(mailserver=mailserver, engine=engine)
    run.nspam_before, run.nham_before = before.nspam, before.nham
    run.save()
    roots = files.scope_roots(schedule.scope, schedule.target)
    report.progress(10, "Finding the mail folders")
    spam, ham = _find_folders(mailserver, roots, schedule.spam_folders, schedule.ham_folders)
    # A side with folders named but none there is a mistake worth failing on, before learning anything.
    for kind, found in (("spam", spam), ("ham", ham)):
        if found and not any(found.values()):
            raise FileNotFoundError(f"No {kind} folder ({', '.join(found)}) exists under {roots}.")
    bayes_dir = _bayes_dir(mailserver) if engine == "spamassassin" else ""
    steps = [("spam", f, p) for f, p in spam.items() if p] + [("ham", f, p) for f, p in ham.items() if p]
    details: list[dict[str, Any]] = []
    try:
        for number, (kind, folder, paths) in enumerate(steps):
            report.progress(15 + 70 * number // max(len(steps), 1), f"Learning {kind} from {folder}")
            report.stop_point()  # between folders: what was learned stays learned, amavis gets its DB back
            learned, examined, _ = _learn(mailserver, engine, kind, paths, bayes_dir)
            details.append({"kind": kind, "folder": folder, "learned": learned, "examined": examined})
            if kind == "spam":
                run.learned_spam += learned
                run.examined_spam += examined
            else:
                run.learned_ham += learned
                run.examined_ham += examined
            run.save()
    finally:
        # Even after a failure: amavis keeps owning its DB, with whatever was learned.
        if engine == "spamassassin":
            report.progress(90, "Giving the Bayes database back to amavis")
            _give_bayes_back(mailserver, bayes_dir)
    if engine == "rspamd" and (run.learned_spam or run.learned_ham):
        report.progress(90, "Waiting for Rspamd to count what it learned")
        after = _rspamd_stats_after(mailserver, before, run.learned_spam, run.learned_ham)
    else:
        after = bayes_stats(mailserver=mailserver, engine=engine)
    run.nspam_after, run.nham_after, run.ntokens_after = after.nspam, after.nham, after.ntokens
    report.set_result(
        training_run=run.pk,
        engine=engine,
        folders=details,
        learned_spam=run.learned_spam,
        learned_ham=run.learned_ham,
        nspam=after.nspam,
        nham=after.nham,
    )
    report.progress(100, training_summary(run))


def _rspamd_stats_after(mailserver: MailServer, before: files.BayesStats, spam: int, ham: int) -> files.BayesStats:
    """`rspamc stat` once it counts what was just learned, or as it is after SPAM_RSPAMD_STAT_WAIT seconds.

    Rspamd's controller re-reads the Bayes counts from Redis only every 30-60 s (REDIS_STAT_TIMEOUT, jittered):
    right after `rspamc learn_*` its stat still shows the old numbers. A message learned as ham that was spam
    before lowers the spam count, so the numbers may never reach before + learned: then the wait's end decides.
    """
    deadline = time.monotonic() + _rspamd_stat_wait()
    while True:
        stats = bayes_stats(mailserver=mailserver, engine="rspamd")
        if (stats.nspam >= before.nspam + spam and stats.nham >= before.nham + ham) or time.monotonic() >= deadline:
            return stats
        time.sleep(2)


def training_summary(run: TrainingRun) -> str:
    if not run.learned_spam and not run.learned_ham:
        return (
            f"Nothing new to learn: {run.examined_spam} spam and {run.examined_ham} ham message(s) were already known."
        )
    return (
        f"Learned {run.learned_spam} spam and {run.learned_ham} ham message(s) "
        f"(of {run.examined_spam} and {run.examined_ham} examined)."
    )


def needed_sentence(stats: files.BayesStats) -> str:
    spam, ham = stats.missing()
    if not spam and not ham:
        return (
            f"The Bayes filter is active: it has learned {stats.nspam} spam and {stats.nham} ham "
            f"(at least {files.MIN_SPAM} of each needed)."
        )
    return (
        f"The Bayes filter is not used yet: it needs {spam} more spam and {ham} more ham "
        f"({files.MIN_SPAM} of each; it has {stats.nspam} spam and {stats.nham} ham)."
    )


def bayes_history(limit: int = 200) -> list[TrainingRun]:
    runs = TrainingRun.objects.filter(nspam_after__isnull=False).order_by("-started_at")[:limit]
    return list(reversed(runs))


def runs_recent(limit: int = 50) -> list[TrainingRun]:
    return list(TrainingRun.objects.select_related("schedule", "job")[:limit])


# ---- spam settings (mailserver.env, through the settings machinery) ---------------------------------


def spam_settings_read() -> tuple[list[settings_service.Setting], list[dmsenv.Deprecation]]:
    """The spam variables, and the deprecations that concern them (legacy SA_SPAM_SUBJECT, `undef`)."""
    rows, problems = settings_service.settings_read(version=settings_service.dms_version())
    mine = [r for r in rows if r.name in SPAM_SETTINGS]
    mine.sort(key=lambda r: SPAM_SETTINGS.index(r.name))
    return mine, [p for p in problems if p.name in ("SA_SPAM_SUBJECT", "SPAM_SUBJECT")]


def spam_settings_update(*, posted: dict[str, str], actor: Actor) -> tuple[dict[str, str | None], ChangeOutcome | None]:
    """Write only what changed: untouched values keep their quoting. SPAM_SUBJECT keeps a trailing space."""
    rows, _ = spam_settings_read()
    updates: dict[str, str | None] = {}
    for row in rows:
        if row.name not in posted or posted[row.name] == row.value:
            continue
        updates[row.name] = posted[row.name] if posted[row.name] != "" or row.is_set else None
    if not updates:
        return {}, None
    _, outcome = settings_service.settings_update(
        updates=updates, actor=actor, message=f"Spam settings: {', '.join(sorted(updates))}"
    )
    return updates, outcome
