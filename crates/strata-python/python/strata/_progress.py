"""Progress of long operations (delete, update, optimize, vacuum).

Each takes ``progress=``: ``None`` (quiet), a callable ``progress(done, total)`` that strata
calls from its worker threads as the operation advances, or ``True`` for a tqdm progress bar
(needs ``pip install tqdm``).
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator, Union

Progress = Union[Callable[[int, int], object], bool, None]


@contextlib.contextmanager
def _reporter(progress: Progress, desc: str, unit: str) -> Iterator[Callable[[int, int], object] | None]:
    """The callable to hand to the native call; a tqdm bar for ``True``, closed at the end."""
    if progress is None or progress is False:
        yield None
        return
    if progress is not True:
        if not callable(progress):
            raise TypeError("progress is a callable progress(done, total), True or None")
        yield progress
        return
    try:
        from tqdm.auto import tqdm
    except ImportError as e:
        raise ImportError("progress=True needs tqdm: pip install tqdm") from e
    bar = tqdm(desc=desc, unit=unit, unit_scale=unit == "B", total=0)

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        yield update
    finally:
        bar.close()
