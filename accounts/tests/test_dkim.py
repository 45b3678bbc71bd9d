"""DKIM: the pure key/record/table functions, and dkim_generate / dkim_get on a real config folder."""

from __future__ import annotations

import base64
import functools
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from accounts import dkim, domains
from dms_admin.audit import Actor
from dms_admin.configstore import ConfigStore
from dms_admin.errors import Conflict, FieldError
from dms_admin.models import AuditEntry, PendingChange

pytestmark = pytest.mark.django_db
ADMIN = Actor(name="admin")


@functools.cache
def pem_1024() -> str:
    return dkim.generate_private_key(1024)


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under the config folder (our own .dms-admin/ aside), by relative path."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and ".dms-admin" not in p.relative_to(folder).parts
    }


def history_patches(config_dir: Path) -> str:
    git_dir = config_dir / ".dms-admin" / "history.git"
    return subprocess.run(
        ["git", f"--git-dir={git_dir}", "log", "-p", "--all"], capture_output=True, text=True, check=True
    ).stdout


def use_rspamd(config_dir: Path) -> None:
    with open(config_dir / "mailserver.env", "a") as fh:
        fh.write("ENABLE_RSPAMD=1\nENABLE_OPENDKIM=0\n")


# ---- pure ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "engine"),
    [
        ({}, dkim.OPENDKIM),
        ({"ENABLE_RSPAMD": "1"}, dkim.OPENDKIM),  # both on: setup config dkim uses OpenDKIM
        ({"ENABLE_RSPAMD": "1", "ENABLE_OPENDKIM": "0"}, dkim.RSPAMD),
        ({"ENABLE_RSPAMD": "0", "ENABLE_OPENDKIM": "0"}, dkim.OPENDKIM),
    ],
)
def test_it_picks_the_engine_like_setup_config_dkim(env: dict[str, str], engine: str) -> None:
    assert dkim.engine_for(env) == engine


@pytest.mark.parametrize("bits", [1024, 2048])
def test_it_generates_rsa_keys_whose_public_part_is_the_spki(bits: int) -> None:
    pem = dkim.generate_private_key(bits) if bits != 1024 else pem_1024()
    assert pem.startswith("-----BEGIN PRIVATE KEY-----\n") and pem.endswith("-----END PRIVATE KEY-----\n")
    assert dkim.key_bits(pem) == bits
    public = serialization.load_der_public_key(base64.b64decode(dkim.public_key_b64(pem)))
    assert public.key_size == bits  # type: ignore[union-attr]


def test_it_refuses_what_is_not_a_private_key() -> None:
    with pytest.raises(ValueError, match="not a readable private key"):
        dkim.public_key_b64("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")


def test_the_opendkim_zone_snippet_looks_like_opendkim_genkey_and_joins_to_the_value() -> None:
    public = dkim.public_key_b64(dkim.generate_private_key(2048))
    zone = dkim.opendkim_zone("example.com", "mail", public)
    lines = zone.splitlines()
    assert lines[0] == 'mail._domainkey\tIN\tTXT\t( "v=DKIM1; h=sha256; k=rsa; "'
    assert lines[1].startswith('\t  "p=') and len(lines[1]) == len('\t  "') + 250 + 1
    assert lines[-1].endswith('" )  ; ----- DKIM key mail for example.com')
    assert all(len(s) <= 255 for s in zone.split('"')[1::2])  # every DNS string fits
    assert dkim.zone_value(zone) == dkim.txt_value(dkim.OPENDKIM, public) == f"v=DKIM1; h=sha256; k=rsa; p={public}"


def test_the_rspamd_zone_snippet_looks_like_rspamadm_and_joins_to_the_value() -> None:
    public_2048 = dkim.public_key_b64(dkim.generate_private_key(2048))
    zone = dkim.rspamd_zone("mail", public_2048)
    assert zone.startswith('mail._domainkey IN TXT ( "v=DKIM1; k=rsa; "\n\t"p=') and zone.endswith("\n) ; \n")
    assert dkim.zone_value(zone) == f"v=DKIM1; k=rsa; p={public_2048}"
    short = dkim.rspamd_zone("s1", dkim.public_key_b64(pem_1024()))  # fits one string
    assert short.count("\n") == 2 and dkim.zone_value(short).replace(" ", "") == (
        "v=DKIM1;k=rsa;p=" + dkim.public_key_b64(pem_1024())
    )


def test_it_compares_published_keys_ignoring_whitespace() -> None:
    public = dkim.public_key_b64(pem_1024())
    spaced = " ".join(public[i : i + 60] for i in range(0, len(public), 60))
    assert dkim.same_public_key(spaced, public)
    assert not dkim.same_public_key(dkim.public_key_b64(dkim.generate_private_key(1024)), public)
    assert not dkim.same_public_key("not base64!", public) and not dkim.same_public_key("", public)


def test_it_parses_tags() -> None:
    assert dkim.parse_tags("v=DKIM1; K=rsa ;p=abc=;  ;bad") == {"v": "DKIM1", "k": "rsa", "p": "abc="}


KEYTABLE = "# hand-written\nmail._domainkey.other.test other.test:mail:/etc/opendkim/keys/other.test/mail.private\n"


def test_keytable_and_signingtable_lines_are_added_once_keeping_other_lines() -> None:
    line = dkim.keytable_line("example.test", "mail")
    assert line == "mail._domainkey.example.test example.test:mail:/etc/opendkim/keys/example.test/mail.private"
    added = dkim.add_line(KEYTABLE, line)
    assert added == KEYTABLE + line + "\n"
    assert dkim.add_line(added, line) == added  # byte for byte when present
    assert dkim.add_line(added, line.replace(" ", "   ")) == added  # same fields, other spacing
    assert dkim.add_line("no-final-newline", line) == "no-final-newline\n" + line + "\n"
    assert dkim.add_line("", dkim.signingtable_line("example.test", "mail")) == (
        "*@example.test mail._domainkey.example.test\n"
    )


def test_it_finds_the_signing_key_of_a_domain() -> None:
    keytable = KEYTABLE + (
        "s1._domainkey.example.test example.test:s1:/etc/opendkim/keys/example.test/s1.private\n"
        "s2._domainkey.example.test example.test:s2:/etc/opendkim/keys/example.test/s2.private\n"
    )
    entry, signing = dkim.opendkim_key_for("example.test", keytable, "*@example.test s2._domainkey.example.test\n")
    assert entry and entry.selector == "s2" and signing
    assert dkim.config_rel(entry.path) == "opendkim/keys/example.test/s2.private"
    entry, signing = dkim.opendkim_key_for("example.test", keytable, "")
    assert entry and entry.selector == "s1" and not signing
    assert dkim.opendkim_key_for("nope.test", keytable, "") == (None, False)


CONF = """# my own settings
enabled = true;
sign_authenticated = true;
path = "/tmp/docker-mailserver/rspamd/dkim/rsa-2048-$selector-$domain.private.txt";
selector = "fallback";

domain {
    # a comment with a brace {
    other.test {
        path = "/tmp/docker-mailserver/rspamd/dkim/rsa-2048-mail-other.test.private.txt";
        selector = "mail";
    }
    "quoted.test" {
        selector = "q"; path = "/tmp/docker-mailserver/rspamd/dkim/q.private.txt";
    }
}
"""


def test_it_reads_the_domains_of_dkim_signing_conf() -> None:
    found = dkim.dkim_signing_domains(CONF)
    assert found["other.test"] == ("/tmp/docker-mailserver/rspamd/dkim/rsa-2048-mail-other.test.private.txt", "mail")
    assert found["quoted.test"] == ("/tmp/docker-mailserver/rspamd/dkim/q.private.txt", "q")
    assert dkim.rspamd_key_for("new.test", CONF) == (
        "/tmp/docker-mailserver/rspamd/dkim/rsa-2048-fallback-new.test.private.txt",
        "fallback",
    )


def test_a_new_domain_block_goes_inside_domain_keeping_everything_else() -> None:
    path = "/tmp/docker-mailserver/rspamd/dkim/rsa-1024-s1-example.test.private.txt"
    edited = dkim.dkim_signing_set_domain(CONF, "example.test", path, "s1")
    block = f'    example.test {{\n        path = "{path}";\n        selector = "s1";\n    }}\n'
    assert edited == CONF[: CONF.rindex("}")] + block + "}\n"
    assert dkim.dkim_signing_domains(edited)["example.test"] == (path, "s1")
    assert dkim.dkim_signing_set_domain(edited, "example.test", path, "s1") == edited  # idempotent


def test_an_existing_domain_block_gets_new_values_in_place() -> None:
    path = "/tmp/docker-mailserver/rspamd/dkim/rsa-4096-mail-other.test.private.txt"
    edited = dkim.dkim_signing_set_domain(CONF, "other.test", path, "mail")
    assert edited == CONF.replace("rsa-2048-mail-other.test", "rsa-4096-mail-other.test")
    quoted = dkim.dkim_signing_set_domain(CONF, "quoted.test", "/x.private.txt", "q2")
    assert 'selector = "q2"; path = "/x.private.txt";' in quoted
    assert (
        quoted.replace('"q2"', '"q"').replace("/x.private.txt", "/tmp/docker-mailserver/rspamd/dkim/q.private.txt")
        == CONF
    )


def test_a_conf_without_a_domain_section_gets_one_and_a_new_conf_has_setups_defaults() -> None:
    edited = dkim.dkim_signing_set_domain("enabled = true;\n", "example.test", "/k", "mail")
    block = '    example.test {\n        path = "/k";\n        selector = "mail";\n    }\n'
    assert edited == "enabled = true;\n\ndomain {\n" + block + "}\n"
    new = dkim.render_dkim_signing_conf("example.test", "/k", "mail")
    assert "use_esld = true;" in new and dkim.dkim_signing_domains(new) == {"example.test": ("/k", "mail")}


# ---- services --------------------------------------------------------------------------------------


def test_generate_writes_the_opendkim_layout_in_one_commit(config_dir: Path, store: ConfigStore) -> None:
    store.record_external_changes()  # adopt the folder first: then our change is the only new commit
    count = store.count()
    saved = domains.dkim_generate(domain="Example.TEST", bits=1024, actor=ADMIN)
    keys = config_dir / "opendkim" / "keys" / "example.test"
    pem = (keys / "mail.private").read_text()
    assert dkim.key_bits(pem) == 1024 and (keys / "mail.private").stat().st_mode & 0o777 == 0o600
    assert dkim.zone_value((keys / "mail.txt").read_text()) == saved.key.value
    assert (config_dir / "opendkim" / "KeyTable").read_text() == (
        "mail._domainkey.example.test example.test:mail:/etc/opendkim/keys/example.test/mail.private\n"
    )
    assert (config_dir / "opendkim" / "SigningTable").read_text() == "*@example.test mail._domainkey.example.test\n"
    assert (config_dir / "opendkim" / "TrustedHosts").read_text() == "127.0.0.1\nlocalhost\n"
    assert store.count() == count + 1
    commit = store.history(limit=1)[0]
    assert commit.sha == saved.result.sha and commit.author == "admin"
    assert set(commit.files) == {
        "opendkim/KeyTable",
        "opendkim/SigningTable",
        "opendkim/TrustedHosts",
        "opendkim/keys/example.test/mail.txt",
    }
    assert "opendkim/keys/example.test/mail.private" in saved.result.files
    assert "PRIVATE KEY" not in history_patches(config_dir) and "PRIVATE KEY" not in saved.result.diff
    assert saved.outcome and saved.outcome.apply == "recreate" and saved.outcome.pending
    assert set(PendingChange.objects.values_list("path", flat=True)) == set(commit.files) | {
        "opendkim/keys/example.test/mail.private"
    }
    assert AuditEntry.objects.get(action="dkim.generate").object == "mail example.test"
    assert domains.dkim_get("example.test") == saved.key


def test_generate_keeps_existing_table_lines_and_trusted_hosts(config_dir: Path) -> None:
    (config_dir / "opendkim").mkdir()
    (config_dir / "opendkim" / "KeyTable").write_text(KEYTABLE)
    (config_dir / "opendkim" / "SigningTable").write_text("*@other.test mail._domainkey.other.test\n")
    (config_dir / "opendkim" / "TrustedHosts").write_text("10.0.0.0/8\n")
    domains.dkim_generate(domain="example.test", selector="s2024", bits=1024, actor=ADMIN)
    assert (config_dir / "opendkim" / "KeyTable").read_text() == KEYTABLE + dkim.keytable_line(
        "example.test", "s2024"
    ) + "\n"
    assert (config_dir / "opendkim" / "SigningTable").read_text().splitlines() == [
        "*@other.test mail._domainkey.other.test",
        "*@example.test s2024._domainkey.example.test",
    ]
    assert (config_dir / "opendkim" / "TrustedHosts").read_text() == "10.0.0.0/8\n"


def test_an_existing_key_is_refused_without_force_and_replaced_with_it(config_dir: Path, store: ConfigStore) -> None:
    first = domains.dkim_generate(domain="example.test", bits=1024, actor=ADMIN)
    before, count = tree(config_dir), store.count()
    with pytest.raises(Conflict) as error:
        domains.dkim_generate(domain="example.test", bits=2048, actor=ADMIN)
    assert error.value.field == "selector" and "already" in error.value.message
    assert tree(config_dir) == before and store.count() == count
    second = domains.dkim_generate(domain="example.test", bits=2048, force=True, actor=ADMIN)
    assert second.key.public_key != first.key.public_key and domains.dkim_get("example.test") == second.key
    assert (config_dir / "opendkim" / "KeyTable").read_text().count("example.test:mail:") == 1
    assert "PRIVATE KEY" not in history_patches(config_dir)


def test_a_dry_run_writes_nothing_and_shows_the_diff(config_dir: Path, store: ConfigStore) -> None:
    before, count = tree(config_dir), store.count()
    saved = domains.dkim_generate(domain="example.test", bits=1024, actor=ADMIN, dry_run=True)
    assert saved.outcome is None and saved.result.sha is None
    assert "+mail._domainkey.example.test example.test:mail:" in saved.result.diff
    assert "secret file changed" in saved.result.diff and "PRIVATE KEY" not in saved.result.diff
    assert tree(config_dir) == before and store.count() == count
    assert domains.dkim_get("example.test") is None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"domain": "not a domain"}, "domain"),
        ({"domain": "example.test\n"}, "domain"),
        ({"domain": "../etc"}, "domain"),
        ({"selector": "Bad_Selector"}, "selector"),
        ({"selector": "-mail"}, "selector"),
        ({"selector": "a" * 64}, "selector"),
        ({"selector": "mail/../x"}, "selector"),
        ({"selector": ""}, "selector"),
        ({"bits": 512}, "bits"),
        ({"bits": 3072}, "bits"),
        ({"bits": "lots"}, "bits"),
        ({"bits": True}, "bits"),
    ],
)
def test_bad_input_names_the_field_and_changes_nothing(config_dir: Path, kwargs: dict, field: str) -> None:  # type: ignore[type-arg]
    before = tree(config_dir)
    arguments = {"domain": "example.test", "selector": "mail", "bits": 1024, **kwargs}
    with pytest.raises(FieldError) as error:
        domains.dkim_generate(**arguments, actor=ADMIN)
    assert error.value.field == field and error.value.message
    assert tree(config_dir) == before


def test_generate_writes_the_rspamd_layout_when_rspamd_signs(config_dir: Path, store: ConfigStore) -> None:
    use_rspamd(config_dir)
    saved = domains.dkim_generate(domain="example.test", selector="s1", bits=1024, actor=ADMIN)
    base = config_dir / "rspamd" / "dkim" / "rsa-1024-s1-example.test"
    assert dkim.key_bits(Path(f"{base}.private.txt").read_text()) == 1024
    zone = Path(f"{base}.public.txt").read_text()
    assert Path(f"{base}.public.dns.txt").read_text() == dkim.zone_value(zone) + "\n"
    assert dkim.parse_tags(dkim.zone_value(zone)) == dkim.parse_tags(saved.key.value)
    assert dkim.parse_tags(saved.key.value) == {"v": "DKIM1", "k": "rsa", "p": saved.key.public_key}
    conf = (config_dir / "rspamd" / "override.d" / "dkim_signing.conf").read_text()
    assert dkim.dkim_signing_domains(conf) == {
        "example.test": ("/tmp/docker-mailserver/rspamd/dkim/rsa-1024-s1-example.test.private.txt", "s1")
    }
    assert not (config_dir / "opendkim").exists()
    assert saved.key.engine == dkim.RSPAMD and domains.dkim_get("example.test") == saved.key
    assert saved.outcome and saved.outcome.apply == "watched" and not saved.outcome.pending
    assert store.history(limit=1)[0].sha == saved.result.sha
    assert "PRIVATE KEY" not in history_patches(config_dir)


def test_rspamd_adds_a_block_to_an_existing_conf_and_refuses_the_same_selector_again(config_dir: Path) -> None:
    use_rspamd(config_dir)
    (config_dir / "rspamd" / "override.d").mkdir(parents=True)
    (config_dir / "rspamd" / "override.d" / "dkim_signing.conf").write_text(CONF)
    domains.dkim_generate(domain="example.test", bits=1024, actor=ADMIN)
    conf = (config_dir / "rspamd" / "override.d" / "dkim_signing.conf").read_text()
    assert conf.startswith(CONF[: CONF.rindex("}")]) and "example.test {" in conf
    before = tree(config_dir)
    with pytest.raises(Conflict):  # another size, same selector: still that domain's key
        domains.dkim_generate(domain="example.test", bits=2048, actor=ADMIN)
    assert tree(config_dir) == before
    replaced = domains.dkim_generate(domain="example.test", bits=2048, force=True, actor=ADMIN)
    assert domains.dkim_get("example.test") == replaced.key and replaced.key.bits == 2048


def test_a_new_selector_behind_an_older_signing_line_is_reported_as_not_signing(config_dir: Path) -> None:
    domains.dkim_generate(domain="example.test", bits=1024, actor=ADMIN)
    saved = domains.dkim_generate(domain="example.test", selector="next", bits=1024, actor=ADMIN)
    assert not saved.key.signing
    current = domains.dkim_get("example.test")
    assert current and current.selector == "mail" and current.signing


def test_custom_commands_get_a_fresh_marker_so_dms_reapplies_them() -> None:
    text = "# mine\nset-option-for-module classifier-bayes autolearn true\n"
    once = dkim.mark_custom_commands(text, "2026-01-01T00:00:00+00:00")
    assert once.startswith(text) and once.count("# dms-admin: re-applied 2026-01-01T00:00:00+00:00") == 1
    twice = dkim.mark_custom_commands(once, "2026-01-02T00:00:00+00:00")
    assert twice.startswith(text) and "2026-01-01" not in twice and twice.count("# dms-admin: re-applied") == 1


def test_rspamd_touches_custom_commands_in_the_same_commit(config_dir: Path, store: ConfigStore) -> None:
    use_rspamd(config_dir)
    (config_dir / "rspamd").mkdir()
    (config_dir / "rspamd" / "custom-commands.conf").write_text("enable-module dkim_signing\n")
    saved = domains.dkim_generate(domain="example.test", bits=1024, actor=ADMIN)
    commands = (config_dir / "rspamd" / "custom-commands.conf").read_text()
    assert commands.startswith("enable-module dkim_signing\n# dms-admin: re-applied ")
    assert "rspamd/custom-commands.conf" in store.history(limit=1)[0].files and saved.outcome
