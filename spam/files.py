"""Pure functions over what SpamAssassin, sa-learn, rspamc and Amavis print or read. No I/O."""

from __future__ import annotations

import dataclasses
import re

RULES_FILE = "spamassassin-rules.cf"
AMAVIS_FILE = "amavis.cf"
MIN_SPAM = 200  # bayes_min_spam_num: SA's default, DMS does not change it (spec §6)
MIN_HAM = 200  # bayes_min_ham_num; Rspamd's min_learns is 200 too

# spec §6: four numeric columns and a name; the third column is the value.
_MAGIC = re.compile(r"^\s*\S+\s+\S+\s+(\d+)\s+\S+\s+non-token data: (.+)$")
_LEARNED = re.compile(r"Learned tokens from (\d+) message\(s\) \((\d+) message\(s\) examined\)")
_RSPAMD_STATFILE = re.compile(r"Statfile:\s*(BAYES_SPAM|BAYES_HAM)\b(.*)$", re.MULTILINE)
_RSPAMD_LEARNED = re.compile(r"learned:\s*(\d+)")
_RSPAMD_LENGTH = re.compile(r"length:\s*(\d+)")
# "warn: config: failed to parse line in /tmp/x/spamassassin-rules.cf (line 3): headr BAD …"
_LINT_WARN = re.compile(r"^(?:.*?\[\d+\]\s+)?(?:warn|error):\s*(.+)$")
_LINT_LINE = re.compile(r"\bin (\S+) \(line (\d+)\):\s*(.*)$")
_LINT_RULE = re.compile(r"\b(?:for rule|for|rule)\s+([A-Za-z_][A-Za-z0-9_]*)\b")
_LINT_SUMMARY = re.compile(r"^lint: \d+ issues? detected")
_RULE_DEF = re.compile(r"^\s*(?:header|body|rawbody|full|uri|meta|mimeheader|askdns|uri_detail)\s+([A-Za-z0-9_]+)\b")

AMAVIS_SUBDOMAINS_LINE = '@local_domains_maps = (".");'
_AMAVIS_SUBDOMAINS = re.compile(r"""^\s*@local_domains_maps\s*=\s*\(\s*(["'])\.\1\s*\)\s*;""")
_AMAVIS_COMMENT = "# dms-admin: add SpamAssassin x-headers for subdomains too (DMS FAQ)"
_AMAVIS_TRUE = re.compile(r"^\s*1\s*;")
# What DMS ships as 50-user, which amavis.cf replaces (spec §1.11).
AMAVIS_DEFAULT = """use strict;

#
# Place your configuration directives here.  They will override those in
# earlier files.
#
# See /usr/share/doc/amavisd-new/ for documentation and examples of
# the directives you can use in this file
#

1;  # ensure a defined return
"""


@dataclasses.dataclass(frozen=True)
class BayesStats:
    nspam: int = 0
    nham: int = 0
    ntokens: int = 0

    def missing(self, min_spam: int = MIN_SPAM, min_ham: int = MIN_HAM) -> tuple[int, int]:
        return max(0, min_spam - self.nspam), max(0, min_ham - self.nham)

    @property
    def active(self) -> bool:
        return self.missing() == (0, 0)


@dataclasses.dataclass(frozen=True)
class LintProblem:
    line: int | None  # 1-based line of the rules file, when the message lets us tell
    message: str
    denied: bool = False  # refused by dms-admin itself (rules_refusals), before any lint


def parse_dump_magic(text: str) -> BayesStats:
    """`sa-learn --dump magic`; no database yet (an error instead of the lines) reads as zeros."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        match = _MAGIC.match(line)
        if match:
            values[match[2].strip()] = int(match[1])
    return BayesStats(values.get("nspam", 0), values.get("nham", 0), values.get("ntokens", 0))


def parse_rspamc_stat(text: str) -> BayesStats:
    """`rspamc stat`: the `learned:` of the BAYES_SPAM and BAYES_HAM statfiles (tokens: their `length:`)."""
    learned = {"BAYES_SPAM": 0, "BAYES_HAM": 0}
    tokens = 0
    for match in _RSPAMD_STATFILE.finditer(text):
        rest = match[2]
        if count := _RSPAMD_LEARNED.search(rest):
            learned[match[1]] += int(count[1])
        if length := _RSPAMD_LENGTH.search(rest):
            tokens += int(length[1])
    return BayesStats(learned["BAYES_SPAM"], learned["BAYES_HAM"], tokens)


def parse_learned(text: str) -> tuple[int, int]:
    """(learned, examined) summed over every `Learned tokens from N message(s) (M … examined)` line."""
    learned = examined = 0
    for match in _LEARNED.finditer(text):
        learned += int(match[1])
        examined += int(match[2])
    return learned, examined


def parse_rspamc_learn(text: str) -> tuple[int, int]:
    """(learned, examined) from `rspamc learn_spam|learn_ham <dir>`: one `Results for file` per message."""
    examined = len(re.findall(r"^Results for file:", text, re.MULTILINE))
    learned = len(re.findall(r"success\s*=\s*true", text))
    return learned, examined


def parse_lint(output: str, text: str, filename: str = RULES_FILE) -> list[LintProblem]:
    """The warnings of `spamassassin --lint`, each with the line of `text` it is about when we can tell.

    SA names the line for parse failures; for a bad regexp or meta expression it names the rule,
    whose definition line we look up.
    """
    definitions: dict[str, int] = {}
    for number, source in enumerate(text.splitlines(), 1):
        if match := _RULE_DEF.match(source):
            definitions.setdefault(match[1], number)
    problems = []
    for raw in output.splitlines():
        match = _LINT_WARN.match(raw.strip())
        if not match:
            continue
        message = match[1].strip()
        if _LINT_SUMMARY.match(message):
            continue
        line: int | None = None
        if located := _LINT_LINE.search(message):
            if not located[1].endswith("/" + filename) and located[1] != filename:
                continue  # a problem in the image's own files: not the admin's to fix here
            line = int(located[2])
            message = f"{message[: located.start()].rstrip()}: {located[3]}"  # the temp path means nothing to the admin
        elif rule := _LINT_RULE.search(message):
            line = definitions.get(rule[1])
        problems.append(LintProblem(line, message.removeprefix("config: ")))
    return problems


def number_lines(text: str) -> list[tuple[int, str]]:
    return list(enumerate(text.splitlines(), 1))


# ---- what a rules file may not say ---------------------------------------------------------------
# DMS copies spamassassin-rules.cf into /etc/spamassassin/ (spec §1.11), where SpamAssassin takes
# every line as the site administrator's: there it may load Perl modules, read other files, talk to
# databases and run programs. The panel's admins edit rules, not the mail server, so the settings
# below are refused before `spamassassin --lint` ever sees the text. The names come from
# Mail::SpamAssassin::Conf and its plugins (SpamAssassin 4.0, as in DMS v15/v16): the "admin" and
# "privileged" settings that name code, files, programs or databases. Tuning settings (timeouts,
# scores, DNS lists, shortcircuit, ifplugin/if blocks) stay allowed.
_DENIED_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("loads Perl code into the mail server", ("loadplugin", "tryplugin")),
    ("reads another file into the rules", ("include",)),
    ("is SpamAssassin's own marker for where an included file starts and ends", ("file",)),
    ("lets users' own preferences add rules, which then run with the mail server's rights", ("allow_user_rules",)),
    (
        "moves the Bayes database away from where DMS keeps it (and where training here writes)",
        (
            "bayes_path",
            "bayes_file_mode",
            "bayes_store_module",
            "bayes_sql_dsn",
            "bayes_sql_username",
            "bayes_sql_password",
            "bayes_sql_username_authorized",
            "bayes_sql_override_username",
        ),
    ),
    (
        "points the sender reputation store at another file, Perl module or database",
        (
            "auto_welcomelist_path",
            "auto_whitelist_path",
            "auto_welcomelist_file_mode",
            "auto_whitelist_file_mode",
            "auto_welcomelist_db_modules",
            "auto_whitelist_db_modules",
            "auto_welcomelist_factory",
            "auto_whitelist_factory",
            "txrep_factory",
            "user_awl_dsn",
            "user_awl_sql_username",
            "user_awl_sql_password",
            "user_awl_sql_table",
            "user_awl_sql_override_username",
        ),
    ),
    (
        "reads per-user settings from a database or a directory server",
        (
            "user_scores_dsn",
            "user_scores_sql_username",
            "user_scores_sql_password",
            "user_scores_sql_custom_query",
            "user_scores_ldap_username",
            "user_scores_ldap_password",
            "user_scores_fallback_to_global",
        ),
    ),
    (
        "changes which program a network test runs, with which arguments, or where it reads its files",
        (
            "razor_config",
            "pyzor_path",
            "pyzor_options",
            "pyzor_perl",
            "pyzor_server_file",
            "dcc_path",
            "dcc_home",
            "dcc_dccifd_path",
            "dcc_options",
            "dccifd_options",
            "helper_home_dir",
        ),
    ),
    ("runs external programs on attachments", ("extracttext_external",)),
    ("changes how SpamAssassin locks the databases that Amavis and sa-learn share", ("lock_method",)),
    (
        "reads a GeoIP module or database file from the mail server's disk",
        (
            "geodb_module",
            "geodb_options",
            "geodb_search_path",
            "country_db_path",
            "country_db_type",
            "uri_country_db_path",
            "uri_country_db_isp_path",
        ),
    ),
    (
        "reads a file from the mail server's disk",
        ("phishing_openphish_feed", "phishing_phishtank_feed", "phishing_phishstats_feed", "trigger_config"),
    ),
    (
        "connects SpamAssassin to a database",
        (
            "url_shortener_cache_dsn",
            "url_shortener_cache_username",
            "url_shortener_cache_password",
            "url_shortener_cache_type",
            "dmarc_save_reports",
        ),
    ),
)
DENIED_SETTINGS: dict[str, str] = {name: reason for reason, names in _DENIED_GROUPS for name in names}
# Settings added by later SpamAssassin versions or other plugins, by the shape of their name (none of
# SpamAssassin 4.0's tuning settings has one of these endings).
_DENIED_NAME = re.compile(
    r"(?:_path|_dsn|_password|_username|_factory|_file_mode|_home|_home_dir|_db_modules?|_store_module|_feed)$"
    r"|_sql_|^geodb_"
)
_DENIED_NAME_REASON = "names a file, program, Perl module or database for SpamAssassin to use"

# The eval tests SpamAssassin 4.0's own plugins register (register_eval_rule): `header`, `body`,
# `rawbody`, `full` and `uri` rules may call these and nothing else. (AccessDB's
# check_access_database is left out: its argument is a database file to read.)
EVAL_TESTS = frozenset(
    """
    check_asn check_from_in_auto_welcomelist check_from_in_auto_whitelist check_microsoft_executable
    check_suspect_name check_authres_result check_bayes
    check_blank_line_ratio check_body_length check_stock_info multipart_alternative_difference
    multipart_alternative_difference_count plaintext_body_length plaintext_body_sig_ratio plaintext_sig_length
    tvd_vertical_words check_dcc check_dcc_reputation_range
    check_arc_signed check_arc_valid check_dkim_adsp check_dkim_dependable check_dkim_signall check_dkim_signed
    check_dkim_signsome check_dkim_testing check_dkim_valid check_dkim_valid_author_sig
    check_dkim_valid_envelopefrom check_dkim_verified check_for_def_dkim_welcomelist_from
    check_for_def_dkim_whitelist_from check_for_dkim_welcomelist_from check_for_dkim_whitelist_from
    check_dmarc_missing check_dmarc_none check_dmarc_pass check_dmarc_quarantine check_dmarc_reject
    check_dns_sender check_rbl check_rbl_accreditor check_rbl_envfrom check_rbl_from_domain check_rbl_from_host
    check_rbl_headers check_rbl_ns_from check_rbl_rcvd check_rbl_sub check_rbl_txt
    short_url short_url_200 short_url_404 short_url_chained short_url_code short_url_loop short_url_maxchain
    short_url_redir short_url_tests
    check_freemail_body check_freemail_from check_freemail_header check_freemail_replyto
    check_fromname_contains_email check_fromname_different check_fromname_domain_differ
    check_fromname_equals_replyto check_fromname_equals_to check_fromname_owners_differ check_fromname_spoof
    check_iframe_src html_charset_faraway html_eval html_image_only html_image_ratio html_range html_tag_balance
    html_tag_exists html_test html_text_match html_text_not_match html_title_subject_ratio
    check_https_http_mismatch
    check_hashbl_attachments check_hashbl_bodyre check_hashbl_emails check_hashbl_tag check_hashbl_uris
    check_equal_from_domains check_for_fake_aol_relay_in_rcvd check_for_faraway_charset_in_headers
    check_for_forged_eudoramail_received_headers check_for_forged_gmail_received_headers
    check_for_forged_gw05_received_headers check_for_forged_hotmail_received_headers
    check_for_forged_juno_received_headers check_for_forged_yahoo_received_headers
    check_for_matching_env_and_hdr_from check_for_missing_to_header check_for_msn_groups_headers
    check_for_no_hotmail_received_headers check_for_shifted_date check_for_to_in_subject
    check_for_unique_subject_id check_header_count_range check_illegal_chars check_messageid_not_usable
    check_outlook_message_id check_ratware_envelope_from check_ratware_name_id check_unresolved_template
    gated_through_received_hdr_remover received_within_months similar_recipients sorted_recipients
    subject_is_all_caps
    image_count image_name_regex image_named image_size_exact image_size_range image_to_text_ratio pixel_coverage
    check_abundant_unicode_ratio check_base64_length check_for_ascii_text_illegal check_for_faraway_charset
    check_for_mime check_for_mime_html check_for_mime_html_only check_for_uppercase check_ma_non_text
    check_mime_multipart_ratio check_msg_parse_flags check_qp_ratio
    check_olemacro check_olemacro_csv check_olemacro_download_exe check_olemacro_encrypted check_olemacro_malice
    check_olemacro_mhtml_uri check_olemacro_redirect_uri check_olemacro_renamed check_olemacro_zip_password
    check_oleobject check_olertfobject
    pdf_count pdf_image_count pdf_image_size_exact pdf_image_size_range pdf_image_to_text_ratio pdf_is_empty_body
    pdf_is_encrypted pdf_match_details pdf_match_fuzzy_md5 pdf_match_md5 pdf_name_regex pdf_named
    pdf_pixel_coverage
    check_phishing check_pyzor check_razor2 check_razor2_range
    check_all_trusted check_for_forged_received_ip_helo check_for_forged_received_trail
    check_for_from_domain_in_received_headers check_for_illegal_ip check_for_no_rdns_dotcom_helo
    check_for_numeric_helo check_for_sender_no_reverse check_no_relays check_relays_unparseable helo_ip_mismatch
    check_for_def_spf_welcomelist_from check_for_def_spf_whitelist_from check_for_spf_fail check_for_spf_helo_fail
    check_for_spf_helo_neutral check_for_spf_helo_none check_for_spf_helo_pass check_for_spf_helo_permerror
    check_for_spf_helo_softfail check_for_spf_helo_temperror check_for_spf_neutral check_for_spf_none
    check_for_spf_pass check_for_spf_permerror check_for_spf_softfail check_for_spf_temperror
    check_for_spf_welcomelist_from check_for_spf_whitelist_from check_spf_skipped_noenvfrom
    check_shortcircuit check_body_8bits check_language check_senders_reputation check_uridnsbl check_uri_detail
    check_for_http_redirector check_https_ip_mismatch check_uri_truncated check_uri_local_bl
    check_welcomelist_bounce_relays check_whitelist_bounce_relays have_any_bounce_relays
    check_forged_in_default_welcomelist check_forged_in_default_whitelist check_forged_in_welcomelist
    check_forged_in_whitelist check_from_in_blacklist check_from_in_blocklist check_from_in_default_welcomelist
    check_from_in_default_whitelist check_from_in_list check_from_in_welcomelist check_from_in_whitelist
    check_mailfrom_matches_rcvd check_replyto_in_list check_to_in_all_spam check_to_in_blacklist
    check_to_in_blocklist check_to_in_list check_to_in_more_spam check_to_in_welcomelist check_to_in_whitelist
    check_uri_host_in_blacklist check_uri_host_in_blocklist check_uri_host_in_welcomelist
    check_uri_host_in_whitelist check_uri_host_listed
    check_subject_in_blacklist check_subject_in_blocklist check_subject_in_welcomelist check_subject_in_whitelist
    """.split()  # noqa: SIM905  (230 bare names read better than 230 quoted strings)
)
_EVAL_RULE_TYPES = frozenset({"header", "body", "rawbody", "full", "uri"})
# What SpamAssassin's parser (Mail::SpamAssassin::Conf::Parser) does to a line before it looks at the
# setting's name: Perl's \s on bytes is ASCII whitespace only, `#` starts a comment unless escaped,
# an optional `lang <locale>` prefix is dropped, then the name is lower-cased with `-` read as `_`.
_SA_SPACE = "[ \t\n\r\f\v]"
_SA_COMMENT = re.compile(r"(?<!\\)#.*$", re.DOTALL)
_SA_LANG = re.compile(rf"^lang{_SA_SPACE}+\S+{_SA_SPACE}+", re.IGNORECASE | re.ASCII)
_SA_SPLIT = re.compile(f"{_SA_SPACE}+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_EVAL_CALL = re.compile(r"^eval:\s*([A-Za-z0-9_]+)\s*\(", re.IGNORECASE | re.ASCII)
_REGEX_CODE = re.compile(r"\(\?\??\{")


def rules_text(text: str) -> str:
    """The rules as the config store will write them (spec §1.1): no BOM, LF only, a final newline."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    return text if not text or text.endswith("\n") else text + "\n"


def _setting_of(line: str) -> tuple[str, str]:
    """(setting name, the rest) of one rules line as SpamAssassin reads it; ('', '') for none."""
    line = _SA_COMMENT.sub("", line).replace("\\#", "#").strip(" \t\n\r\f\v")
    while _SA_LANG.match(line):
        line = _SA_LANG.sub("", line, count=1)
    parts = _SA_SPLIT.split(line, maxsplit=1)
    return parts[0].lower().replace("-", "_"), parts[1] if len(parts) > 1 else ""


def _line_refusal(line: str) -> str | None:
    if _CONTROL.search(line):
        return "the line has a control character, and SpamAssassin would not read it the way it shows here"
    name, rest = _setting_of(line)
    if not name:
        return None
    if name in DENIED_SETTINGS:
        return f"{name} {DENIED_SETTINGS[name]}"
    if _DENIED_NAME.search(name):
        return f"{name} {_DENIED_NAME_REASON}"
    if _REGEX_CODE.search(rest):
        return "(?{ … }) runs Perl code from a regular expression"
    if name in _EVAL_RULE_TYPES:
        test = _SA_SPLIT.split(rest, maxsplit=1)[1] if _SA_SPLIT.search(rest) else ""
        if test[:5].lower() == "eval:":
            call = _EVAL_CALL.match(test)
            if call is None:
                return f"this {name} rule's eval: names no test; SpamAssassin's form is eval:<test>(…)"
            if call[1] not in EVAL_TESTS:
                return f"eval:{call[1]} is not one of SpamAssassin's own eval tests"
    return None


def rules_refusals(text: str) -> list[LintProblem]:
    """Each line of a rules file that dms-admin refuses, with the reason; [] when there is none.

    Every line counts, also inside `if`/`ifplugin` blocks (a condition can change with the next
    SpamAssassin update) and behind a `lang` prefix. Line numbers are those of the file as saved.
    """
    problems = []
    for number, line in enumerate(rules_text(text).split("\n"), 1):
        reason = _line_refusal(line)
        if reason:
            problems.append(LintProblem(number, f"not allowed here: {reason}.", denied=True))
    return problems


# ---- amavis.cf ---------------------------------------------------------------------------------


def amavis_subdomains(text: str) -> bool:
    return any(_AMAVIS_SUBDOMAINS.match(line) for line in text.splitlines())


def amavis_set_subdomains(text: str, enabled: bool) -> str:
    """`text` with `@local_domains_maps = (".");` added or removed; the rest kept, ending in `1;`.

    Amavis `do`es the file and needs a true value at its end, or it refuses to start (spec §1.11).
    """
    lines = (text or AMAVIS_DEFAULT).replace("\r\n", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    lines = [line for line in lines if not _AMAVIS_SUBDOMAINS.match(line) and line.strip() != _AMAVIS_COMMENT]
    last_true = _final_true_index(lines)
    if last_true is None:
        lines.append("1;")
        last_true = len(lines) - 1
    if enabled:
        lines[last_true:last_true] = [_AMAVIS_COMMENT, AMAVIS_SUBDOMAINS_LINE]
    return "\n".join(lines) + "\n"


def _final_true_index(lines: list[str]) -> int | None:
    """The `1;` that ends the file (only blank lines and comments after it), if there is one."""
    for index in range(len(lines) - 1, -1, -1):
        stripped = lines[index].strip()
        if not stripped or stripped.startswith("#"):
            continue
        return index if _AMAVIS_TRUE.match(stripped) else None
    return None


# ---- training commands ---------------------------------------------------------------------------

MAIL_ROOT = "/var/mail"
BAYES_DIR = "/var/mail-state/lib-amavis/.spamassassin"
_FOLDER = re.compile(r"^[A-Za-z0-9_.*?\[\]-]{1,100}$")  # used unquoted in a bash glob: no spaces
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9-]{1,63}\.)+[a-z0-9-]{1,63}$")
_LOCAL = re.compile(r"^[a-z0-9._+-]{1,64}$")


def folder_ok(folder: str) -> bool:
    """A Maildir folder pattern (`.Junk`, `.Archives*`, `.INBOX.*`, `cur` for the inbox): no paths, no shell."""
    return bool(_FOLDER.match(folder)) and ".." not in folder and "/" not in folder


def scope_roots(scope: str, target: str) -> str:
    """The mailbox folders a scope covers, as a shell glob under /var/mail (Maildir: domain/user)."""
    if scope == "all":
        return f"{MAIL_ROOT}/*/*"
    if scope == "domain":
        if not _DOMAIN.match(target):
            raise ValueError(f"{target!r} is not a domain.")
        return f"{MAIL_ROOT}/{target}/*"
    local, _, domain = target.partition("@")
    if not _LOCAL.match(local) or not _DOMAIN.match(domain):
        raise ValueError(f"{target!r} is not a mailbox address.")
    return f"{MAIL_ROOT}/{domain}/{local}"


def folder_globs(root: str, folder: str) -> list[str]:
    """The Maildir `cur` and `new` of `folder` below `root` (`cur`/`new`/"" mean the inbox)."""
    if folder in ("", "INBOX", "cur", "new"):
        return [f"{root}/cur", f"{root}/new"]
    return [f"{root}/{folder}/cur", f"{root}/{folder}/new"]
