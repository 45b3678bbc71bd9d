"""DKIM keys and the files DMS keeps them in (spec §1.13): pure functions, no I/O.

Two layouts, chosen by mailserver.env: OpenDKIM (the default) reads `opendkim/KeyTable`,
`SigningTable` and `keys/<domain>/<selector>.private`; Rspamd (`ENABLE_RSPAMD=1` with
`ENABLE_OPENDKIM=0`) reads `rspamd/override.d/dkim_signing.conf` and keys under `rspamd/dkim/`.
The files we write look like what `setup config dkim` writes, so DMS and its docs still apply.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
from collections.abc import Callable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

OPENDKIM = "opendkim"
RSPAMD = "rspamd"
KEY_SIZES = (1024, 2048, 4096)
DEFAULT_BITS = 2048
DEFAULT_SELECTOR = "mail"
SELECTOR = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")

# Where the mail container sees the files: OpenDKIM reads a copy made at startup, Rspamd the
# config volume itself.
DMS_CONFIG_MOUNT = "/tmp/docker-mailserver"
OPENDKIM_INTERNAL = "/etc/opendkim"

KEYTABLE = "opendkim/KeyTable"
SIGNINGTABLE = "opendkim/SigningTable"
TRUSTED_HOSTS = "opendkim/TrustedHosts"
TRUSTED_HOSTS_DEFAULT = "127.0.0.1\nlocalhost\n"
DKIM_SIGNING_CONF = "rspamd/override.d/dkim_signing.conf"
CUSTOM_COMMANDS = "rspamd/custom-commands.conf"
_REAPPLY_MARK = "# dms-admin: re-applied "


def engine_for(env: dict[str, str]) -> str:
    """Which DKIM signer DMS uses; with both enabled `setup config dkim` picks OpenDKIM."""
    rspamd_on = env.get("ENABLE_RSPAMD", "0").strip() == "1"
    opendkim_off = env.get("ENABLE_OPENDKIM", "1").strip() == "0"
    return RSPAMD if rspamd_on and opendkim_off else OPENDKIM


# ---- keys ------------------------------------------------------------------------------------------


def generate_private_key(bits: int) -> str:
    """A new RSA key as PEM (PKCS#8, what `openssl genrsa` of OpenSSL 3 writes)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def _load_private(pem: str | bytes) -> rsa.RSAPrivateKey:
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not a readable private key: {exc}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("not an RSA key")
    return key


def public_key_b64(private_pem: str | bytes) -> str:
    """The `p=` value: base64 of the SubjectPublicKeyInfo DER, as the DKIM RFC wants it."""
    der = (
        _load_private(private_pem)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return base64.b64encode(der).decode("ascii")


def key_bits(private_pem: str | bytes) -> int:
    return _load_private(private_pem).key_size


def same_public_key(published: str, ours: str) -> bool:
    """Whether two `p=` values are the same key (DNS answers may carry spaces or line breaks)."""
    try:
        a = base64.b64decode("".join(published.split()), validate=True)
        b = base64.b64decode("".join(ours.split()), validate=True)
    except (binascii.Error, ValueError):
        return False
    return bool(a) and a == b


def parse_tags(value: str) -> dict[str, str]:
    """`v=DKIM1; k=rsa; p=...` (also DMARC) as a dict; tag names lower-cased."""
    tags: dict[str, str] = {}
    for part in value.split(";"):
        name, sep, tag_value = part.partition("=")
        if sep and name.strip():
            tags.setdefault(name.strip().lower(), tag_value.strip())
    return tags


# ---- the TXT record --------------------------------------------------------------------------------


def record_name(domain: str, selector: str) -> str:
    return f"{selector}._domainkey.{domain}"


def txt_value(engine: str, public_b64: str) -> str:
    """The TXT record's content, as the engine's own tool prints it (joined into one string)."""
    if engine == OPENDKIM:
        return f"v=DKIM1; h=sha256; k=rsa; p={public_b64}"
    return f"v=DKIM1; k=rsa; p={public_b64}"


def _chunks(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def opendkim_zone(domain: str, selector: str, public_b64: str) -> str:
    """`<selector>.txt` as opendkim-genkey --subdomains writes it (250-character strings)."""
    body = '"\n\t  "'.join(_chunks("p=" + public_b64, 250))
    return (
        f'{selector}._domainkey\tIN\tTXT\t( "v=DKIM1; h=sha256; k=rsa; "\n\t  "{body}" )  '
        f"; ----- DKIM key {selector} for {domain}\n"
    )


def rspamd_zone(selector: str, public_b64: str) -> str:
    """`.public.txt` as `rspamadm dkim_keygen` writes it (253-character strings)."""
    if len(public_b64) < 253:
        return f'{selector}._domainkey IN TXT ( "v=DKIM1; k=rsa;" \n\t"p={public_b64}" ) ;\n'
    parts = _chunks(public_b64, 253)
    lines = [f'\t"p={parts[0]}"'] + [f'\t"{part}"' for part in parts[1:]]
    return f'{selector}._domainkey IN TXT ( "v=DKIM1; k=rsa; "\n' + "\n".join(lines) + "\n) ; \n"


def zone_value(zone: str) -> str:
    """The record a zone snippet describes: its quoted strings joined, like DMS's own grep/tr."""
    return "".join(re.findall(r'"([^"]*)"', zone))


# ---- OpenDKIM files --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class KeyTableEntry:
    name: str  # <selector>._domainkey.<domain>
    domain: str
    selector: str
    path: str  # as the container sees it: /etc/opendkim/keys/<domain>/<selector>.private


def opendkim_private_rel(domain: str, selector: str) -> str:
    return f"opendkim/keys/{domain}/{selector}.private"


def opendkim_txt_rel(domain: str, selector: str) -> str:
    return f"opendkim/keys/{domain}/{selector}.txt"


def keytable_line(domain: str, selector: str) -> str:
    path = f"{OPENDKIM_INTERNAL}/keys/{domain}/{selector}.private"
    return f"{record_name(domain, selector)} {domain}:{selector}:{path}"


def signingtable_line(domain: str, selector: str) -> str:
    return f"*@{domain} {record_name(domain, selector)}"


def _content_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def add_line(text: str, line: str) -> str:
    """`text` with `line` appended unless a line with the same fields is there (then unchanged)."""
    wanted = line.split()
    if any(existing.split() == wanted for existing in _content_lines(text)):
        return text
    if text and not text.endswith("\n"):
        text += "\n"
    return text + line + "\n"


def parse_keytable(text: str) -> list[KeyTableEntry]:
    entries = []
    for line in _content_lines(text):
        parts = line.split()
        if len(parts) < 2:
            continue
        fields = parts[1].split(":", 2)
        if len(fields) == 3:
            entries.append(KeyTableEntry(parts[0].lower(), fields[0].lower(), fields[1], fields[2]))
    return entries


def _without_lines(text: str, drop: Callable[[str], bool]) -> str:
    """`text` without the content lines `drop(line)` is true for; comments and the rest stay as they are."""
    kept = [
        line
        for line in text.splitlines(keepends=True)
        if not (line.strip() and not line.lstrip().startswith("#") and drop(line))
    ]
    return "".join(kept)


def keytable_without(text: str, domain: str, selector: str) -> str:
    """The KeyTable without the domain's entry for `selector` (by key name or by its domain:selector)."""
    name = record_name(domain, selector)

    def matches(line: str) -> bool:
        entries = parse_keytable(line)
        return bool(entries) and (
            entries[0].name == name or (entries[0].domain, entries[0].selector) == (domain, selector)
        )

    return _without_lines(text, matches)


def signingtable_without(text: str, key_name: str) -> str:
    """The SigningTable without every line that signs with `key_name` (another line may then sign)."""
    return _without_lines(text, lambda line: any(name == key_name for _, name in parse_signingtable(line)))


def parse_signingtable(text: str) -> list[tuple[str, str]]:
    """(pattern, key name) pairs in file order; OpenDKIM uses the first that matches."""
    pairs = []
    for line in _content_lines(text):
        parts = line.split()
        if len(parts) >= 2:
            pairs.append((parts[0].lower(), parts[1].lower()))
    return pairs


def opendkim_key_for(domain: str, keytable: str, signingtable: str) -> tuple[KeyTableEntry | None, bool]:
    """The domain's key entry and whether the SigningTable signs with it.

    Without a SigningTable line, the domain's first KeyTable entry (not used for signing yet).
    """
    entries = parse_keytable(keytable)
    by_name = {entry.name: entry for entry in entries}
    for pattern, name in parse_signingtable(signingtable):
        if pattern in (f"*@{domain}", domain, f"@{domain}") and name in by_name:
            return by_name[name], True
    return next((entry for entry in entries if entry.domain == domain), None), False


def config_rel(container_path: str) -> str | None:
    """A key path as the container sees it, as a path in the config folder (None: elsewhere)."""
    for prefix, rel in ((OPENDKIM_INTERNAL + "/", "opendkim/"), (DMS_CONFIG_MOUNT + "/", "")):
        if container_path.startswith(prefix):
            return rel + container_path[len(prefix) :]
    return None


# ---- Rspamd files ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RspamdFiles:
    private: str
    public: str
    dns: str

    @property
    def container_private(self) -> str:
        return f"{DMS_CONFIG_MOUNT}/{self.private}"


def rspamd_files(domain: str, selector: str, bits: int) -> RspamdFiles:
    base = f"rspamd/dkim/rsa-{bits}-{selector}-{domain}"
    return RspamdFiles(f"{base}.private.txt", f"{base}.public.txt", f"{base}.public.dns.txt")


def render_dkim_signing_conf(domain: str, path: str, selector: str) -> str:
    """The file `setup config dkim` supplies when there is none (one domain block)."""
    return (
        "# documentation: https://rspamd.com/doc/modules/dkim_signing.html\n\n"
        "enabled = true;\n\n"
        "sign_authenticated = true;\n"
        "sign_local = false;\n"
        "try_fallback = false;\n\n"
        'use_domain = "header";\n'
        "use_redis = false; # don't change unless Redis also provides the DKIM keys\n"
        "use_esld = true;\n"
        "allow_username_mismatch = true;\n\n"
        "check_pubkey = true; # you want to use this in the beginning\n\n"
        "domain {\n" + _domain_block(domain, path, selector, "    ") + "}\n"
    )


def _domain_block(domain: str, path: str, selector: str, indent: str) -> str:
    return f'{indent}{domain} {{\n{indent}    path = "{path}";\n{indent}    selector = "{selector}";\n{indent}}}\n'


@dataclasses.dataclass(frozen=True)
class _Block:
    key: str
    open: int  # index of "{"
    close: int  # index of the matching "}" (len(text) if unclosed)
    depth: int
    parent: int | None  # index into the block list


def _mask(text: str) -> str:
    """`text` with comment and string contents blanked (same length), so braces inside are inert."""
    out = list(text)
    i, n = 0, len(text)

    def blank(start: int, end: int) -> None:
        for k in range(start, min(end, n)):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        char = text[i]
        if char in "\"'":
            j = i + 1
            while j < n and text[j] != char and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            blank(i + 1, j)
            i = j + 1
        elif char == "#" or text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            blank(i, j)
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            blank(i, j)
            i = j
        else:
            i += 1
    return "".join(out)


_KEY_BEFORE_BRACE = re.compile(r"""(?:"([^"]*)"|'([^']*)'|([A-Za-z0-9_.$-]+))\s*[=:]?\s*$""")


def _blocks(text: str, masked: str) -> list[_Block]:
    blocks: list[_Block] = []
    stack: list[int] = []
    for index, char in enumerate(masked):
        if char == "{":
            line_start = masked.rfind("\n", 0, index) + 1
            match = _KEY_BEFORE_BRACE.search(masked, line_start, index)
            key = ""
            if match:
                group = next(g for g in (1, 2, 3) if match.group(g) is not None)
                key = text[match.start(group) : match.end(group)]  # quoted keys are blanked in `masked`
            blocks.append(_Block(key, index, len(text), len(stack), stack[-1] if stack else None))
            stack.append(len(blocks) - 1)
        elif char == "}" and stack:
            position = stack.pop()
            blocks[position] = dataclasses.replace(blocks[position], close=index)
    return blocks


_ASSIGNMENT = r"(?:^|(?<=[\s;{]))%s\s*[=:]\s*"


def _assigned(text: str, masked: str, start: int, end: int, key: str, skip: list[_Block]) -> tuple[int, int] | None:
    """The span of `key = <value>` 's value between start and end, outside the `skip` blocks."""
    for match in re.finditer(_ASSIGNMENT % re.escape(key), masked[start:end], re.MULTILINE):
        at = start + match.start()
        if any(block.open < at < block.close for block in skip):
            continue
        value_start = start + match.end()
        stops = [pos for pos in (masked.find(";", value_start, end), masked.find("\n", value_start, end)) if pos >= 0]
        value_end = min(stops) if stops else end
        return value_start, len(text[value_start:value_end].rstrip()) + value_start
    return None


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def dkim_signing_domains(text: str) -> dict[str, tuple[str, str]]:
    """{domain: (path, selector)} from the `domain { <domain> { path; selector } }` blocks.

    A domain without its own block falls back to top-level `path`/`selector` (with `$domain` and
    `$selector` filled in), under the key "*".
    """
    masked = _mask(text)
    blocks = _blocks(text, masked)
    found: dict[str, tuple[str, str]] = {}
    for index, block in enumerate(blocks):
        if block.depth != 0 or block.key != "domain":
            continue
        for child in blocks:
            if child.parent != index:
                continue
            nested = [b for b in blocks if b.depth > child.depth]
            path = _assigned(text, masked, child.open + 1, child.close, "path", nested)
            selector = _assigned(text, masked, child.open + 1, child.close, "selector", nested)
            if path and selector:
                found[child.key.lower()] = (_unquote(text[slice(*path)]), _unquote(text[slice(*selector)]))
    top = [b for b in blocks if b.depth == 0]
    path = _assigned(text, masked, 0, len(text), "path", top)
    selector = _assigned(text, masked, 0, len(text), "selector", top)
    if path and selector:
        found["*"] = (_unquote(text[slice(*path)]), _unquote(text[slice(*selector)]))
    return found


def rspamd_key_for(domain: str, conf: str) -> tuple[str, str] | None:
    """(path as the container sees it, selector) Rspamd signs the domain's mail with."""
    domains = dkim_signing_domains(conf)
    if domain in domains:
        return domains[domain]
    if "*" in domains:
        path, selector = domains["*"]
        return path.replace("$domain", domain).replace("$selector", selector), selector
    return None


def dkim_signing_set_domain(text: str, domain: str, path: str, selector: str) -> str:
    """`text` with the domain's block inside `domain { }` pointing at path/selector.

    An existing block gets its `path` and `selector` values replaced (the rest of it stays); a
    missing one is added at the end of `domain { }`, which is itself added when missing. Every
    other line stays as it is.
    """
    masked = _mask(text)
    blocks = _blocks(text, masked)
    section = next((i for i, b in enumerate(blocks) if b.depth == 0 and b.key == "domain"), None)
    if section is None:
        prefix = text if not text or text.endswith("\n") else text + "\n"
        return (
            prefix
            + ("\n" if prefix.strip() else "")
            + "domain {\n"
            + _domain_block(domain, path, selector, "    ")
            + "}\n"
        )
    parent = blocks[section]
    existing = next((b for b in blocks if b.parent == section and b.key.lower() == domain), None)
    if existing is None:
        line_start = text.rfind("\n", 0, parent.close) + 1
        if parent.close >= len(text):  # an unclosed section: close it for the file to load
            return text + ("" if text.endswith("\n") else "\n") + _domain_block(domain, path, selector, "    ") + "}\n"
        if text[line_start : parent.close].strip():
            return text[: parent.close] + "\n" + _domain_block(domain, path, selector, "    ") + text[parent.close :]
        return text[:line_start] + _domain_block(domain, path, selector, "    ") + text[line_start:]
    nested = [b for b in blocks if b.depth > existing.depth]
    edits: list[tuple[int, int, str]] = []
    inner_indent = _indent_of(text, existing.open) + "    "
    missing = []
    for key, value in (("path", path), ("selector", selector)):
        span = _assigned(text, masked, existing.open + 1, existing.close, key, nested)
        if span:
            edits.append((span[0], span[1], f'"{value}"'))
        else:
            missing.append(f'{inner_indent}{key} = "{value}";\n')
    if missing:
        line_start = text.rfind("\n", 0, existing.close) + 1
        if text[line_start : existing.close].strip():
            edits.append((existing.close, existing.close, "\n" + "".join(missing)))
        else:
            edits.append((line_start, line_start, "".join(missing)))
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    return text


def dkim_signing_remove_domain(text: str, domain: str) -> str:
    """`text` without the domain's block inside `domain { }`; every other line stays as it is.

    Whole lines go when the block has them to itself (the way `setup config dkim` and we write it).
    """
    masked = _mask(text)
    blocks = _blocks(text, masked)
    section = next((i for i, b in enumerate(blocks) if b.depth == 0 and b.key == "domain"), None)
    found = next((b for b in blocks if section is not None and b.parent == section and b.key.lower() == domain), None)
    if found is None:
        return text
    line_start = text.rfind("\n", 0, found.open) + 1
    key = _KEY_BEFORE_BRACE.search(masked, line_start, found.open)
    start = key.start() if key else found.open
    if not text[line_start:start].strip():
        start = line_start
    end = min(found.close + 1, len(text))
    rest = re.match(r"[ \t]*;?[ \t]*(?:\n|$)", text[end:])
    if rest and start == line_start:
        end += rest.end()
    return text[:start] + text[end:]


def _indent_of(text: str, index: int) -> str:
    line_start = text.rfind("\n", 0, index) + 1
    line = text[line_start:index]
    return line[: len(line) - len(line.lstrip())]


def mark_custom_commands(text: str, stamp: str) -> str:
    """custom-commands.conf with a changed marker comment, so DMS runs the commands again.

    DMS's change detector empties Rspamd's override.d and copies ours back when a file under
    `rspamd/override.d/` changes, but re-applies custom-commands.conf (which also writes there)
    only when that file changed in the same cycle (spec §1.15).
    """
    line = f"{_REAPPLY_MARK}{stamp} (a change under override.d/ undoes what these commands set)"
    lines = text.splitlines()
    kept = [existing for existing in lines if not existing.startswith(_REAPPLY_MARK)]
    return "\n".join([*kept, line]) + "\n"
