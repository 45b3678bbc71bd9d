"""A line-wise three-way revert, as `git revert` does it for one file (pure: bytes in, bytes out).

merge base = the file as the change left it, "ours" = the file now, "theirs" = the file just
before the change. The change's own edits (base -> theirs) are applied to the current file
unless a later edit (base -> ours) touched the same lines.

Two deliberate differences from git's merge, because DMS's files hold one entry per line:
- edits that only touch (a line added right below a line the change added) do not conflict;
  git would refuse "create alias A, create alias B, roll back A" for that;
- lines are compared without their line ending, so a later CRLF -> LF rewrite or a final
  newline added by a dashboard write does not turn every line into a conflict. Lines put back
  take the current file's line ending;
- a later edit that put other entries where removed ones were (other keys, e.g. "create B,
  delete A" leaves B's line where A's was) counts as a deletion plus an insertion, so undoing
  "create A" finds A gone already and keeps B. An edit that keeps an entry's key is an edit.
"""

from __future__ import annotations

import dataclasses
import difflib

# (content without its line ending, the line ending: b"\n", b"\r\n" or b"" for a last line without one)
Line = tuple[bytes, bytes]
MAX_SHOWN_LINES = 20
MAX_SHOWN_CHARS = 300


@dataclasses.dataclass(frozen=True)
class ConflictLine:
    number: int  # 1-based, in the file it is quoted from
    text: str


@dataclasses.dataclass(frozen=True)
class FileConflict:
    """Why one file's lines cannot be reverted: a later change touched them (or the file)."""

    path: str
    reason: str
    now: tuple[ConflictLine, ...] = ()  # the lines as they are in the current file
    change: tuple[ConflictLine, ...] = ()  # the same lines as the change left them
    more: int = 0  # lines not quoted (long regions)

    def summary(self) -> str:
        if not self.now:
            return f"{self.path}: {self.reason}"
        numbers = [line.number for line in self.now]
        where = f"line {numbers[0]}" if len(numbers) == 1 else f"lines {numbers[0]}-{numbers[-1]}"
        return f"{self.path} {where}: {self.reason}"


class RevertConflict(Exception):
    def __init__(self, conflicts: list[FileConflict]) -> None:
        super().__init__("; ".join(c.summary() for c in conflicts))
        self.conflicts = conflicts


@dataclasses.dataclass(frozen=True)
class _Hunk:
    start: int  # base[start:end] is replaced by lines
    end: int
    lines: tuple[Line, ...]
    side: int  # 0 = theirs (the change undone), 1 = ours (later edits): theirs first at one point

    @property
    def delta(self) -> int:
        return len(self.lines) - (self.end - self.start)

    @property
    def insertion(self) -> bool:
        return self.start == self.end

    def same_edit(self, other: _Hunk) -> bool:
        return (self.start, self.end) == (other.start, other.end) and _contents(self.lines) == _contents(other.lines)


def split_lines(data: bytes) -> list[Line]:
    pieces = data.split(b"\n")
    lines: list[Line] = []
    for index, piece in enumerate(pieces):
        last = index == len(pieces) - 1
        if last and not piece:
            break
        eol = b"" if last else b"\n"
        if piece.endswith(b"\r"):
            piece, eol = piece[:-1], b"\r" + eol
        lines.append((piece, eol))
    return lines


def same_content(a: bytes, b: bytes) -> bool:
    return _contents(split_lines(a)) == _contents(split_lines(b))


def revert_file(path: str, *, base: bytes | None, ours: bytes | None, theirs: bytes | None) -> bytes | None:
    """The current file with the change (theirs <- base) undone; None: the file should not exist.

    Raises RevertConflict when a later change touched what the change did.
    """
    if base is None:  # the change deleted (or never had) the file: put it back
        if theirs is None or ours is None:
            return theirs if ours is None else ours
        if same_content(ours, theirs):
            return ours
        raise RevertConflict([FileConflict(path, "this change deleted the file and a later change created it again")])
    if ours is None:
        if theirs is None or same_content(base, theirs):
            return None  # the change created it and a later one deleted it: nothing left to undo
        raise RevertConflict([FileConflict(path, "a later change deleted the file")])
    if b"\x00" in base or b"\x00" in ours or (theirs and b"\x00" in theirs):
        if ours == base:
            return theirs
        if ours == theirs:
            return ours
        raise RevertConflict([FileConflict(path, "a later change changed this binary file")])
    merged = merge_lines(path, base=base, ours=ours, theirs=theirs or b"")
    return None if theirs is None and not merged else merged


def merge_lines(path: str, *, base: bytes, ours: bytes, theirs: bytes) -> bytes:
    base_lines, our_lines, their_lines = split_lines(base), split_lines(ours), split_lines(theirs)
    mine = _hunks(base_lines, our_lines, side=1)
    undo = _hunks(base_lines, their_lines, side=0)
    clashes = _clashes(mine, undo)
    if clashes:
        raise RevertConflict(_describe(path, clashes, mine, base_lines, our_lines))
    by_range = {(h.start, h.end): h for h in mine}
    undone = [h for h in undo if not ((twin := by_range.get((h.start, h.end))) and twin.same_edit(h))]
    edits = sorted(undone + mine, key=lambda h: (h.start, h.end, h.side))
    out: list[Line] = []
    pos = kept = 0  # position in base, and in ours (they move together outside ours' hunks)
    eol = _line_ending(our_lines or their_lines)
    for hunk in edits:
        out += our_lines[kept : kept + hunk.start - pos]
        kept += hunk.start - pos
        out += hunk.lines if hunk.side == 1 else [(text, eol) for text, _ in hunk.lines]
        kept += len(hunk.lines) if hunk.side == 1 else hunk.end - hunk.start
        pos = hunk.end
    out += our_lines[kept:]
    return _join(out, eol=eol, final=not our_lines or our_lines[-1][1] != b"")


def _hunks(base: list[Line], other: list[Line], *, side: int) -> list[_Hunk]:
    a, b = _contents(base), _contents(other)
    # Most changes touch a few lines of a long file: difflib only sees the part that differs.
    head = 0
    while head < len(a) and head < len(b) and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < len(a) - head and tail < len(b) - head and a[-1 - tail] == b[-1 - tail]:
        tail += 1
    matcher = difflib.SequenceMatcher(None, a[head : len(a) - tail], b[head : len(b) - tail], autojunk=False)
    hunks = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        old, new = base[head + i1 : head + i2], tuple(other[head + j1 : head + j2])
        if tag == "replace" and side == 1 and _other_entries(old, new):
            # Later edits that removed entries and added others at that place ("create B, delete A"
            # leaves B where A was) are a deletion and an insertion, not an edit of A's line: a
            # rollback that removes A again then finds it done and leaves B alone.
            hunks += [_Hunk(head + i1, head + i2, (), side), _Hunk(head + i2, head + i2, new, side)]
        else:
            hunks.append(_Hunk(head + i1, head + i2, new, side))
    return hunks


def _entry_key(content: bytes) -> bytes | None:
    """The key of a DMS table line (`key value`, `key|value`); None for a line without one."""
    for separator in (b"|", b" ", b"\t"):
        key, found, _ = content.strip().partition(separator)
        if found and key:
            return key.lower()
    return None


def _other_entries(old: list[Line], new: tuple[Line, ...]) -> bool:
    """Whether `new` holds only other entries than `old` (no key in common, every line keyed)."""
    old_keys = [_entry_key(content) for content, _ in old]
    new_keys = [_entry_key(content) for content, _ in new]
    if None in old_keys or None in new_keys:
        return False  # comments, single words: treat as an edit (a conflict if it clashes)
    return not set(old_keys) & set(new_keys)


def _conflict(mine: _Hunk, undo: _Hunk) -> bool:
    if mine.same_edit(undo) or (mine.insertion and undo.insertion):
        return False  # the same edit on both sides, or two insertions at one point (undo's first)
    if mine.insertion:
        return undo.start < mine.start < undo.end
    if undo.insertion:
        return mine.start < undo.start < mine.end
    return max(mine.start, undo.start) < min(mine.end, undo.end)


def _clashes(mine: list[_Hunk], undo: list[_Hunk]) -> list[tuple[int, int]]:
    """The base ranges where a later edit and the change's own edit overlap, merged."""
    ranges: list[tuple[int, int]] = []
    first = 0
    for hunk in mine:
        while first < len(undo) and undo[first].end < hunk.start:
            first += 1
        for other in undo[first:]:
            if other.start > hunk.end:
                break
            if _conflict(hunk, other):
                ranges.append((min(hunk.start, other.start), max(hunk.end, other.end)))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            previous = merged.pop()
            start, end = previous[0], max(end, previous[1])
        merged.append((start, end))
    return merged


def _describe(
    path: str, clashes: list[tuple[int, int]], mine: list[_Hunk], base: list[Line], ours: list[Line]
) -> list[FileConflict]:
    conflicts = []
    for start, end in clashes:
        # Where the region lies in the current file: shifted by the later edits above it and in it
        # (an insertion right at its start lies above it, one right at its end below it).
        above = sum(h.delta for h in mine if h.end <= start)
        within = sum(h.delta for h in mine if start <= h.start and start < h.end <= end and not h.start == h.end == end)
        first, last = start + above, end + above + within
        now = _quote(ours, first, last)
        reason = "a later change touched these lines" if now else "a later change removed these lines"
        conflicts.append(
            FileConflict(
                path,
                reason,
                now=now or (),
                change=_quote(base, start, end),
                more=max(0, last - first - MAX_SHOWN_LINES) + max(0, end - start - MAX_SHOWN_LINES),
            )
        )
    return conflicts


def _quote(lines: list[Line], first: int, last: int) -> tuple[ConflictLine, ...]:
    return tuple(
        ConflictLine(number + 1, _show(lines[number][0])) for number in range(first, min(last, first + MAX_SHOWN_LINES))
    )


def _show(content: bytes) -> str:
    text = content.decode("utf-8", errors="replace")
    return text if len(text) <= MAX_SHOWN_CHARS else text[:MAX_SHOWN_CHARS] + "…"


def _contents(lines: list[Line] | tuple[Line, ...]) -> list[bytes]:
    return [content for content, _ in lines]


def _line_ending(lines: list[Line]) -> bytes:
    crlf = sum(1 for _, eol in lines if eol.startswith(b"\r"))
    return b"\r\n" if crlf * 2 > len(lines) else b"\n"


def _join(lines: list[Line], *, eol: bytes, final: bool) -> bytes:
    out = [content + (ending if ending.endswith(b"\n") else eol) for content, ending in lines]
    if out and not final:
        out[-1] = lines[-1][0]
    return b"".join(out)
