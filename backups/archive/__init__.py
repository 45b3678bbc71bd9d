"""Writing, verifying and extracting backup archives. No Django: paths, files and callbacks.

An archive is a GNU-format tar (what `tar czf` writes) with top-level folders `config/`, `mail/`
and `state/`, compressed with gzip (plain `tar xzf` restores it) or zstd (`tar --zstd -xf`).
Next to it a manifest JSON lists every file of the backed-up state with size, mtime, sha256,
owner and mode, and says which archive of the chain holds each file's content: a full archive
holds everything, an incremental one only what changed since its parent.

Gzip is compressed like pigz: the tar stream is cut into blocks that worker threads deflate in
parallel (zlib releases the GIL), each primed with the previous block's last 32 KiB, and joined
into one gzip member. Memory stays flat: a bounded number of blocks is in flight.

An archive may be encrypted to an age public key (`.tar.gz.age`, `.tar.zst.age`): the compressed
stream goes through age (pyrage, the format `age -d -i KEY` reads) on its way to the file, so
memory stays flat there too. Its manifest then records no content checksums (the checksum of a
short secret file, such as a relay password, could be guessed offline; names, sizes and dates are
not secrets): age seals every 64 KiB chunk, so reading it back with the key checks the content.

Memory does not grow with the number of files either. Entries are listed in one order (roots by
name, then depth first, each folder's names sorted: `order_key`), which lets the writer compare
the scan with its parent's manifest as two sorted streams. The scan is spooled to a temporary
file next to the archive, and the manifest is streamed to its own temporary file, one entry a
line (still one JSON document), as the archive is written.
"""

from __future__ import annotations

from backups.archive.age import age_identity, age_public_key, age_recipient
from backups.archive.common import TEMP_PREFIX
from backups.archive.compare import Preview, preview
from backups.archive.compress import compression_of, suffix_for
from backups.archive.errors import ArchiveError, NotEnoughSpace, WrongKey
from backups.archive.manifest import Entry, Manifest, manifest_entries, manifest_header, manifest_name, order_key
from backups.archive.progress import Progress, ProgressCallback
from backups.archive.reader import read_members
from backups.archive.restore import extract
from backups.archive.scanner import in_scope, scan
from backups.archive.space import check_free_space, estimate_needed
from backups.archive.tarstream import SMALL_FILE, tar_header
from backups.archive.verify import verify_archive
from backups.archive.writer import Written, write_archive

__all__ = [
    "SMALL_FILE",
    "TEMP_PREFIX",
    "ArchiveError",
    "Entry",
    "Manifest",
    "NotEnoughSpace",
    "Preview",
    "Progress",
    "ProgressCallback",
    "Written",
    "WrongKey",
    "age_identity",
    "age_public_key",
    "age_recipient",
    "check_free_space",
    "compression_of",
    "estimate_needed",
    "extract",
    "in_scope",
    "manifest_entries",
    "manifest_header",
    "manifest_name",
    "order_key",
    "preview",
    "read_members",
    "scan",
    "suffix_for",
    "tar_header",
    "verify_archive",
    "write_archive",
]
