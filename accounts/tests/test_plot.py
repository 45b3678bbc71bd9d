"""The domain page's mailbox-size chart: pure SVG, largest first, units that fit, names escaped."""

from __future__ import annotations

from pathlib import Path

import pytest

from accounts.plot import MOST, sizes_svg
from accounts.tests.test_usage import make_maildir

KB, MB = 1024, 1024**2


def test_it_draws_the_largest_first_in_a_unit_that_fits_and_marks_the_quota() -> None:
    svg = sizes_svg([("small@d.test", 20 * KB, None), ("big@d.test", 3 * MB, 5 * MB), ("empty@d.test", 0, None)])
    assert svg.index("big@d.test") < svg.index("small@d.test") and "empty@d.test" not in svg
    assert ">6 MB</text>" in svg  # the axis reaches past the quota (not more than twice the mail), in MB
    assert svg.count('class="quota"') == 1 and "3 MB of 5 MB" in svg
    assert sizes_svg([("a@d.test", 0, None)]) == ""


def test_a_hostile_address_is_escaped_and_long_lists_are_cut() -> None:
    svg = sizes_svg([("<script>x@d.test", 10, None)])
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    many = sizes_svg([(f"u{i}@d.test", (i + 1) * KB, None) for i in range(40)])
    assert many.count('class="bar"') == MOST and "u39@d.test" in many and "u0@d.test" not in many


@pytest.mark.django_db
def test_the_domain_page_shows_the_chart_from_the_mail_folders(admin_client, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings.DOCKER_HOST = "unix:///nonexistent/docker.sock"
    settings.DMS_MAIL_DIR = tmp_path / "mail"
    assert "Mailbox sizes" not in admin_client.get("/domains/example.test/").content.decode()  # no mail yet
    make_maildir(settings.DMS_MAIL_DIR)
    page = admin_client.get("/domains/example.test/").content.decode()
    assert "Mailbox sizes" in page and 'class="mailbox-plot chart"' in page and "user@example.test: 3.7" in page


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_chart_in_chromium_light_dark_and_on_a_phone(
    browser_page, live_server, superadmin, settings, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    import os

    from conftest import sign_in

    settings.DOCKER_HOST = "unix:///nonexistent/docker.sock"
    settings.DMS_MAIL_DIR = tmp_path / "mail"
    make_maildir(settings.DMS_MAIL_DIR)
    shots = Path(os.environ.get("DMS_ADMIN_SHOTS", "/tmp/dms-admin-shots"))
    shots.mkdir(parents=True, exist_ok=True)
    page = browser_page
    sign_in(page, live_server.url + "/domains/example.test/")
    chart = page.wait_for_selector("svg.mailbox-plot")
    page.wait_for_load_state("load")  # the stylesheet too
    assert chart.bounding_box()["width"] > 300  # type: ignore[index]
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.wait_for_timeout(200)  # the new scheme's styles applied
        chart.screenshot(path=str(shots / f"mailbox-sizes-{scheme}.png"))
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.locator("svg.mailbox-plot").screenshot(path=str(shots / "mailbox-sizes-390.png"))
