"""What each kind of job can do, declared where its job function is (so the kernel names no app).

A kind "has stop points" when its job function calls `JobReport.stop_point()` between safe steps
(a backup between files, a training between folders); only those can be stopped midway. Apply and
update have none: they put the old container back on their own; a restore has none once it
extracts (it took a safety backup first).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

Func = TypeVar("Func", bound=Callable[..., Any])

_STOPPABLE: set[str] = set()


def has_stop_points(kind: str) -> Callable[[Func], Func]:
    """Mark the job function of `kind` as one that stops at its next safe point when asked."""

    def mark(func: Func) -> Func:
        _STOPPABLE.add(kind)
        return func

    return mark


def is_stoppable(kind: str) -> bool:
    return kind in _STOPPABLE
