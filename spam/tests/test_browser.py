"""The spam pages in a real Chromium: the rules editor's line numbers and the Bayes plot."""

from __future__ import annotations

import pytest

from conftest import ADMIN_PASSWORD
from spam.models import TrainingRun, TrainingSchedule

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]


def test_rules_editor_numbers_lines_and_bayes_page_plots(
    browser_page,
    live_server,
    superadmin,
    settings,
    config_dir,
) -> None:  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = "unix:///nonexistent/docker.sock"
    (config_dir / "spamassassin-rules.cf").write_text("header LOCAL_A Subject =~ /a/\nscore LOCAL_A 1.0\n")
    schedule = TrainingSchedule.objects.create()
    TrainingRun.objects.create(
        schedule=schedule, nspam_before=0, nham_before=0, nspam_after=120, nham_after=80, ok=True
    )
    page = browser_page
    page.goto(live_server.url + "/login/?next=/spam/rules/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("h1:has-text('Custom SpamAssassin rules')")
    assert page.locator(".gutter span").count() == 3  # two lines and the empty last one
    page.fill("textarea.rules-text", "a\nb\nc\nd\ne")
    page.wait_for_function("document.querySelectorAll('.gutter span').length === 5")
    page.click("button[value=validate]")  # no container: said plainly, nothing saved
    page.wait_for_selector(".flash.error:has-text('could not be checked')")
    page.goto(live_server.url + "/spam/bayes/")
    page.wait_for_selector("svg.bayes-plot circle.nspam")
    assert page.locator("svg.bayes-plot .threshold").count() == 1
