"""What pages show: sizes in one format, IDN names in Unicode, job results as fields, charts that read."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.template import Context, Template
from django.urls import reverse

from accounts import domains
from backups.plot import sizes_svg
from dms_admin import charts, units
from dms_admin.audit import Actor
from dms_admin.models import JobRun
from spam.plot import bayes_svg

pytestmark = pytest.mark.django_db
HASH = "{SHA512-CRYPT}$6$x$y"


def render(source: str, **context: object) -> str:
    return Template("{% load dms_tags %}" + source).render(Context(context))


# ---- units -----------------------------------------------------------------------------------------------


def test_sizes_read_the_same_everywhere() -> None:
    assert units.format_bytes(10 * 1024) == "10 kB"
    assert units.format_bytes(4_089_446) == "3.9 MB"
    assert units.format_bytes(5 * 1024**3) == "5 GB"
    assert units.format_bytes(1023) == "1,023 B" and units.format_bytes(1024**2 - 1) == "1 MB"
    shown = render("{{ n|bytesize }} of {{ q|bytesize }}", n=4_089_446, q=5 * 1024**3)
    assert shown == "3.9\u00a0MB of 5\u00a0GB"  # a size never breaks across two lines
    assert render("{{ n|bytesize }}", n=None) == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [("50M", 50 * 1024**2), ("5G", 5 * 1024**3), ("512k", 512 * 1024), ("1.5 GB", 3 * 1024**3 // 2), ("1024", 1024)],
)
def test_sizes_are_typed_like_dms_writes_them(text: str, expected: int) -> None:
    assert units.parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "5X", "-5M", "5M\n", "M", "9" * 30 + "T", "5M|x"])
def test_what_is_not_a_size_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"size|larger"):
        units.parse_size(text)


def test_idn_names_show_in_unicode_with_the_punycode_beside() -> None:
    assert render("{{ d|idn }}", d="xn--mller-kva.example") == (
        'müller.example <small class="muted idn">(xn--mller-kva.example)</small>'
    )
    assert render("{{ a|idn }}", a="anna@xn--bcher-kva.test").startswith("anna@bücher.test <small")
    assert render("{{ d|idn }}", d="example.test") == "example.test"
    assert render("{{ d|idn }}", d="xn--zz-<b>.test") == "xn--zz-&lt;b&gt;.test"  # not punycode: kept, escaped


def test_the_domain_and_mailbox_lists_show_idn_in_unicode(admin_client, config_dir: Path) -> None:  # type: ignore[no-untyped-def]
    (config_dir / "postfix-accounts.cf").write_text(f"anna@xn--bcher-kva.test|{HASH}\n")
    (config_dir / "postfix-virtual.cf").write_text("info@xn--bcher-kva.test anna@xn--bcher-kva.test\n")
    for name in ("domains:domain-list", "accounts:mailbox-list", "accounts:alias-list"):
        page = admin_client.get(reverse(name)).content.decode()
        assert "bücher.test" in page and "xn--bcher-kva.test)</small>" in page, name
    detail = admin_client.get(reverse("domains:domain-detail", args=["xn--bcher-kva.test"])).content.decode()
    assert "<h1>bücher.test <small" in detail and "<title>bücher.test" in detail


def test_the_mailbox_list_says_used_of_quota_in_one_unit(  # type: ignore[no-untyped-def]
    admin_client, config_dir: Path, settings, tmp_path: Path
) -> None:
    (config_dir / "dovecot-quotas.cf").write_text("user@example.test:5G\n")
    settings.DMS_MAIL_DIR = tmp_path / "mail"
    cur = tmp_path / "mail" / "example.test" / "user" / "cur"
    cur.mkdir(parents=True)
    (cur / "1.M1.host,S=4089446:2,S").write_bytes(b"x" * 4_089_446)
    page = admin_client.get(reverse("accounts:mailbox-list")).content.decode()
    assert "3.9\u00a0MB of 5\u00a0GB" in page


# ---- forms ----------------------------------------------------------------------------------------------


def test_a_mailbox_form_shows_every_bad_field_at_once_and_keeps_the_rest(admin_client, config_dir: Path) -> None:  # type: ignore[no-untyped-def]
    before = (config_dir / "postfix-accounts.cf").read_bytes()
    answer = admin_client.post(
        reverse("accounts:mailbox-create"),
        {"address": "bad|name@example.test", "password": "short", "password2": "short", "quota": "5 parsecs"},
    )
    page = answer.content.decode()
    assert answer.status_code == 200 and page.count('class="error"') == 3, page
    assert "Use only letters" in page and "at least 8 characters" in page and "whole number with a unit" in page
    assert 'value="bad|name@example.test"' in page and 'value="5 parsecs"' in page
    assert (config_dir / "postfix-accounts.cf").read_bytes() == before


def test_a_quota_is_taken_as_people_type_it_and_stored_as_dms_writes_it(admin_client, config_dir: Path) -> None:  # type: ignore[no-untyped-def]
    answer = admin_client.post(reverse("accounts:mailbox-quota", args=["user@example.test"]), {"quota": "500 mb"})
    assert answer.status_code == 302
    assert (config_dir / "dovecot-quotas.cf").read_text() == "user@example.test:500M\n"


def test_a_backup_policy_form_shows_a_bad_cron_and_a_bad_zone_together(admin_client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    body = {
        "name": "nightly",
        "destination": str(tmp_path),
        "cron": "every night",
        "timezone": "Mars/Olympus",
        "compression": "gzip",
        "include_mail": "on",
        "keep_last": 7,
        "keep_daily": 7,
        "keep_weekly": 4,
        "keep_monthly": 3,
        "max_age_days": 30,
    }
    page = admin_client.post(reverse("backups:policy-create"), body).content.decode()
    assert "Not a valid cron expression" in page and "Not a known time zone" in page
    assert 'value="every night"' in page and 'value="Mars/Olympus"' in page


# ---- copy buttons -------------------------------------------------------------------------------------------


def test_dns_values_the_dkim_record_and_a_new_token_have_copy_buttons(admin_client, config_dir: Path) -> None:  # type: ignore[no-untyped-def]
    domains.dkim_generate(domain="example.test", selector="mail", bits=1024, actor=Actor("admin"))
    page = admin_client.get(reverse("domains:domain-detail", args=["example.test"])).content.decode()
    key = domains.dkim_get("example.test")
    assert key is not None
    assert f'data-copy="{key.value}"' in page.replace("&quot;", '"')
    assert 'aria-label="Copy the DKIM TXT value"' in page and 'aria-label="Copy the MX value"' in page
    assert "/static/js/copy.js" in page
    created = admin_client.post(reverse("token-list"), {"name": "ci", "scope": "read"}).content.decode()
    secret = re.search(r'<code class="secret" id="new-token">([^<]+)</code>', created)
    assert secret and f'data-copy="{secret[1]}"' in created and 'aria-label="Copy the new token"' in created


# ---- job results ---------------------------------------------------------------------------------------------


def test_a_job_result_shows_as_labelled_fields_never_as_a_dict(admin_client) -> None:  # type: ignore[no-untyped-def]
    result = {
        "archive": 3,
        "path": "/backups/nightly.tar.gz",
        "kind": "full",
        "size": 10240,
        "files": 12,
        "duration": 0.42,
        "pruned": ["/backups/old-1.tar.gz", "/backups/old-2.tar.gz"],
        "preview": {"counts": {"create": 1, "overwrite": 0}, "bytes": 2048, "create": ["mail/a"]},
        "folders": [{"kind": "spam", "folder": ".Junk", "learned": 2}],
        "bits": 2048,
    }
    run = JobRun.objects.create(kind="backup", status="succeeded", progress=100, result=result)
    page = admin_client.get(reverse("job-detail", args=[run.id])).content.decode()
    assert "{&#x27;" not in page and "{'" not in page and "&#x27;size&#x27;" not in page
    assert '<dt>Size</dt><dd><span title="10,240 bytes">10\u00a0kB</span></dd>' in page
    assert "<dt>Duration</dt><dd>0.4 s</dd>" in page and "<dt>Key size</dt><dd>2,048 bits</dd>" in page
    assert '<dt>Removed by retention</dt><dd><ul class="result-list"><li>/backups/old-1.tar.gz</li>' in page
    assert "<dt>New files</dt><dd><ul" in page and "<dt>Folder</dt><dd>.Junk</dd>" in page
    listing = admin_client.get(reverse("job-list")).content.decode()
    assert (
        "Files 12 · Size 10 kB · Duration 0.4 s" in listing
    )  # plain text: the summary may wrap and "2 removed by retention" in listing


def test_a_deep_result_does_not_recurse_without_end(admin_client) -> None:  # type: ignore[no-untyped-def]
    deep: dict[str, object] = {"x": 1}
    for _ in range(50):
        deep = {"inner": deep}
    run = JobRun.objects.create(kind="apply", status="succeeded", result=deep)
    assert admin_client.get(reverse("job-detail", args=[run.id])).status_code == 200


# ---- charts ------------------------------------------------------------------------------------------------


def test_a_10_kb_archive_is_charted_in_kb_with_axes_and_distinct_dates() -> None:
    start = datetime(2026, 3, 1, 3, 30, tzinfo=UTC)
    points = [(start + timedelta(minutes=10 * i), 10 * 1024 + i * 100, 0.3 + i / 10) for i in range(4)]
    svg = sizes_svg(points)
    assert "Size (kB)" in svg and "0.0 MB" not in svg and "max 0" not in svg
    ticks = re.findall(r'<text class="tick" x="50" y="[\d.]+" text-anchor="end">([^<]+)</text>', svg)
    assert ticks == ["0", "5", "10", "15"]  # the left axis, in kB (the largest is 10.3 kB)
    assert "Duration (s)" in svg
    dates = re.findall(r'y="218" text-anchor="\w+">([^<]+)</text>', svg)
    assert len(dates) == len(set(dates)) == 4 and dates[0] == "03-01 03:30"  # all on one day: times
    assert "10 kB, 0.3 s" in svg  # each bar's tooltip


def test_backups_on_different_days_are_labelled_by_date() -> None:
    days = [datetime(2026, 3, d, 3, 30, tzinfo=UTC) for d in range(1, 11)]
    labels = [text for _, text in charts.x_labels(days)]
    assert labels == ["2026-03-01", "2026-03-04", "2026-03-07", "2026-03-10"]
    same = [datetime(2026, 3, 1, 3, 30, 5, tzinfo=UTC)] * 3
    assert charts.x_labels(same) == [(0, "03:30:05")]


def test_the_bayes_chart_has_a_count_axis_and_distinct_dates() -> None:
    start = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
    svg = bayes_svg([(start + timedelta(hours=i), 40 * i, 30 * i) for i in range(3)], 200)
    ticks = re.findall(r'text-anchor="end">(\d[\d,.]*)</text>', svg)
    assert ticks == ["0", "100", "200", "300"]
    dates = re.findall(r'y="218" text-anchor="\w+">([^<]+)</text>', svg)
    assert dates == ["03-01 02:00", "03-01 03:00", "03-01 04:00"]
    assert 'class="tick minor"' in svg  # the middle one of three: hidden on a phone, where type is larger


def test_chart_colours_come_from_the_theme_variables() -> None:
    css = (Path(__file__).resolve().parents[1] / "static" / "css" / "app.css").read_text()
    backups_css = (Path(__file__).resolve().parents[1] / "static" / "backups" / "backups.css").read_text()
    assert "--chart-a" in css.split("prefers-color-scheme: dark")[-1]  # a dark value of its own
    assert not re.search(r"backup-plot[^{]*\{[^}]*#[0-9a-f]{3,6}", backups_css)  # no fixed colour left
