"""The allocator thresholds set at start-up (dms_admin.memory)."""

from __future__ import annotations

import ctypes

from dms_admin.memory import MMAP_THRESHOLD, tune_malloc


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks")
    ] + [("keepcost", ctypes.c_size_t)]


def mmapped_blocks() -> int:
    mallinfo2 = ctypes.CDLL(None).mallinfo2
    mallinfo2.restype = _MallInfo2
    return int(mallinfo2().hblks)


def test_blocks_of_a_few_megabytes_come_from_the_heap_not_a_fresh_mmap() -> None:
    assert tune_malloc()  # glibc on every machine we run on
    before = mmapped_blocks()
    # The accounts file of 10,000 mailboxes is 1.4 MB; it grows by a line per change.
    blocks = [bytearray(1_400_000 + i * 140) for i in range(5)]
    assert mmapped_blocks() == before
    assert len(blocks) == 5 and MMAP_THRESHOLD > 1_400_000
