"""Every panel page at 390 px (a phone) in a real Chromium: no page-level horizontal scroll.

Tables scroll inside their card or turn into cards; the page itself must never be wider than
the screen. Pages that fail are saved as screenshots in $DMS_ADMIN_SHOTS (default
/tmp/dms-admin-shots) to be looked at.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.utils import timezone

from conftest import sign_in
from dms_admin.models import JobRun
from tests.ops_helpers import UNREACHABLE

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path(os.environ.get("DMS_ADMIN_SHOTS", "/tmp/dms-admin-shots"))
WIDTH = 390

# Every page an admin opens with GET, with the objects made below.
# Kept by hand (fmt: skip): a page's sub-pages on its line, by area as the menu lists them.
PAGES = (
    "/", "/history/", "/history/{sha}/", "/history/{sha}/rollback/",
    "/history/{sha}/restore-file/?path=postfix-virtual.cf",
    "/audit/", "/admins/", "/apply/", "/settings/", "/health/", "/logs/", "/fail2ban/", "/fail2ban/ban/", "/updates/",
    "/jobs/", "/jobs/{job}/", "/mailboxes/", "/mailboxes/new/", "/mailboxes/user@example.test/password/",
    "/mailboxes/user@example.test/quota/", "/mailboxes/user@example.test/delete/", "/mailboxes/relays/",
    "/mailboxes/tokens/", "/mailboxes/aliases/",
    "/mailboxes/aliases/alias@example.test/", "/mailboxes/aliases/alias@example.test/delete/",
    "/domains/", "/domains/example.test/", "/domains/example.test/dkim/",
    "/backups/", "/backups/policies/new/", "/backups/policies/{policy}/", "/backups/archives/",
    "/backups/archives/{archive}/restore/",
    "/spam/", "/spam/rules/", "/spam/schedules/", "/spam/schedules/new/", "/spam/schedules/{schedule}/",
    "/spam/schedules/{schedule}/delete/", "/spam/runs/", "/spam/bayes/", "/account/2fa/",
)  # fmt: skip


def _objects(store, tmp_path: Path) -> dict[str, str]:  # type: ignore[no-untyped-def]
    from backups.models import BackupArchive, BackupPolicy
    from spam.models import TrainingSchedule

    sha = store.write(
        "postfix-virtual.cf",
        "# aliases\nalias@example.test user@example.test\nsales@example.test user@example.test\n",
        actor="alice",
        message="Create alias sales@example.test",
    ).sha
    dest = tmp_path / "backups"
    dest.mkdir()
    policy = BackupPolicy.objects.create(name="nightly-with-a-long-name", destination=str(dest))
    archive = BackupArchive.objects.create(
        policy=policy,
        path=str(dest / "nightly-with-a-long-name-20261203-033000.tar.gz"),
        size=10_240,
        file_count=12,
        duration=0.4,
    )
    schedule = TrainingSchedule.objects.create()
    job = JobRun.objects.create(
        kind="backup",
        status="succeeded",
        progress=100,
        message="Backup written",
        created_by="admin",
        result={"archive": archive.path, "files": 12, "size": 10240, "pruned": []},
        finished_at=timezone.now(),
    )
    return {
        "sha": str(sha),
        "policy": str(policy.pk),
        "archive": str(archive.pk),
        "schedule": str(schedule.pk),
        "job": str(job.id),
    }


def test_every_panel_page_fits_a_phone(browser_page, live_server, superadmin, settings, store, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = UNREACHABLE
    settings.RQ_QUEUES = {name: {"URL": "redis://127.0.0.1:1/0"} for name in ("default", "backups")}
    settings.BACKUP_ROOTS = [tmp_path]
    ids = _objects(store, tmp_path)
    page = browser_page
    page.set_viewport_size({"width": WIDTH, "height": 844})
    sign_in(page, live_server.url + "/")
    page.wait_for_selector("#verdict")
    too_wide = {}
    for template in PAGES:
        path = template.format(**ids)
        response = page.goto(live_server.url + path)
        assert response is not None and response.status < 400, (path, response and response.status)
        width = page.evaluate("document.documentElement.scrollWidth")
        if path in ("/backups/", "/mailboxes/"):  # looked at by a person (the suite saves them)
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / f"phone{path.replace('/', '_')}.png"), full_page=True)
        if width > WIDTH:
            too_wide[path] = width
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / f"mobile{path.replace('/', '_')[:80]}.png"), full_page=True)
    assert not too_wide, f"pages wider than {WIDTH} px: {too_wide}"
