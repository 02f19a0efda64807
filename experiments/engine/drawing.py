"""Figures to PNG, drawn by a second process while the next experiment trains.

matplotlib takes ~0.6 s of one core for one of fitlab's figures (text layout, mostly):
~20 s of a suite, while training uses half the cores (threads.py). So when the command
line runs several experiments it opens `in_background()`: a study hands its figures over
and goes on, and what it does with the PNGs (write them, put them in TensorBoard) runs
once they are drawn. Elsewhere (one experiment, tests, benchmarks) figures are drawn
where they are asked for. This module imports matplotlib alone: the drawing process
starts fresh (spawn) and loads nothing else.
"""

import contextlib
import io
import multiprocessing
import pickle
import signal
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor

from matplotlib.figure import Figure

_pool: ProcessPoolExecutor | None = None
_failures: list[str] = []  # "what: why", one per study whose figures were not written


def png(figure: Figure) -> bytes:
    """The figure as PNG bytes, at a size that reads in summary.md and TensorBoard alike.
    Every fitlab figure lays itself out (layout="constrained"); bbox_inches="tight" would
    draw each one a second time to measure it, a third of a --fast run's drawing time."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120)
    return buffer.getvalue()


def pngs(figures: dict[str, Figure]) -> dict[str, bytes]:
    return {name: png(figure) for name, figure in figures.items()}


def pngs_of_pickled(figures: bytes) -> dict[str, bytes]:
    return pngs(pickle.loads(figures))


def when_drawn(figures: dict[str, Figure], then: Callable[[dict[str, bytes]], None],
               what: str) -> None:
    """`then(name -> PNG bytes)`: now, or in the background once the figures are drawn
    (a failure is kept for `in_background` to report as `what: why`)."""
    if _pool is None:
        then(pngs(figures))
        return

    def done(drawn: Future) -> None:
        try:
            then(drawn.result())
        except Exception as error:  # reported when the suite ends, not lost in a thread
            _failures.append(f"{what}: {error}")

    # Pickled now, not when the pool's thread gets to it: the figures (cycles of artists)
    # are then garbage when the study ends, not kept until drawn (see cli.py's gc.freeze).
    future = _pool.submit(pngs_of_pickled, pickle.dumps(figures))
    future.add_done_callback(done)


def _ignore_interrupts() -> None:
    # Ctrl-C reaches the whole process group; the suite's process answers it and ends us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextlib.contextmanager
def in_background() -> Iterator[list[str]]:
    """Within: figures are drawn by a second process. On leaving, waits until every
    study's figures are written (after an interrupt: only those being drawn); the list
    it gives is then filled with the studies whose figures failed."""
    global _pool, _failures
    _failures = []
    _pool = ProcessPoolExecutor(1, multiprocessing.get_context("spawn"),
                                initializer=_ignore_interrupts)
    try:
        yield _failures
    finally:
        pool, _pool = _pool, None
        # Returns once the pool's thread has run every drawn study's `then`.
        pool.shutdown(wait=True, cancel_futures=sys.exc_info()[0] is not None)
