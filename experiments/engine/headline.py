"""A study's headline: the one result it exists for, as runs/index.md shows it.

Each study declares its own (`Study.headline`): the book's member at the book's settings
beside the book's number, like for like, or the study's phenomenon (a peak, a minimum, a
bound) where the book has no number. It is written beside summary.json as headline.json,
so index.md reads every experiment's headline back, earlier runs' too.
"""

import json
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from experiments.engine.files import write_atomically
from experiments.engine.report import cell, plus_se

FILE = "headline.json"


@dataclass(frozen=True)
class Headline:
    ours: str  # the result, with its uncertainty: `scratch test/acc 0.836 ± 0.002 (3 seeds)`
    book: str = "–"  # the book's number for the same member and metric, and where it is
    takeaway: str = ""  # one line: what the result means
    verdicts: str = "–"  # the study's verdicts counted per setup, where it gives any


def metric(result: dict, key: str) -> str:
    """`0.836 ± 0.002 (3 seeds; test sampling [0.829, 0.843])`: a merged result's metric,
    its standard error over seeds (training noise) and, for a test accuracy, its 95% Wilson
    interval over the test examples (test sampling alone)."""
    metrics, seeds = result["metrics"], result.get("seeds", 1)
    text = cell(metrics.get(key)) + plus_se(metrics.get(f"{key}_se"))
    text += f" ({seeds} seed{'s' if seeds != 1 else ''}"
    if isinstance(metrics.get(f"{key}_lo"), float):
        text += f"; test sampling [{metrics[f'{key}_lo']:.3f}, {metrics[f'{key}_hi']:.3f}]"
    return text + ")"


def books_members(book: tuple, results: list[dict]) -> list[tuple[dict, dict | None]]:
    """Each book entry with our merged result for its member, where that has the metric."""
    by_name = {r["member"]: r for r in results}
    return [(entry, result if entry["metric"] in (result or {}).get("metrics", {}) else None)
            for entry in book for result in [by_name.get(entry["member"])]]


def beside_the_book(book: tuple, results: list[dict]) -> tuple[str, str]:
    """(ours, the book's): each book entry's member and metric, ours beside the book's."""
    pairs = books_members(book, results)
    ours = [f"{e['member']} {e['metric']} {metric(r, e['metric'])}" for e, r in pairs if r]
    theirs = [f"{e['member']} {e['metric']} ≈ {e['value']:g} ({e['where']})" for e, _ in pairs]
    return "; ".join(ours) or "–", "; ".join(theirs) or "–"


def count_verdicts(columns: dict[str, dict], setup=lambda member, column: column) -> str:
    """`by width: 2 underfitting, 3 good fit`: the verdicts counted per setup, since each
    setup's members are judged among themselves; by default a setup is a verdict column
    (`verdict by width`), or `setup(member, column)` names it. A verdict counts by its
    first clause: `overfitting; val/acc above the best's` counts as overfitting."""
    counts: dict[str, Counter] = {}
    for member, own in columns.items():
        for key, value in own.items():
            if "verdict" in key and value:
                counts.setdefault(setup(member, key), Counter())[value.partition(";")[0]] += 1
    return "; ".join(
        f"{where.removeprefix('verdict').strip()}: " * (where != "verdict")
        + ", ".join(f"{n} {verdict}" for verdict, n in counter.most_common())
        for where, counter in counts.items()) or "–"


def first_sentence(text: str) -> str:
    """A takeaway's first sentence (up to its first full stop followed by a space)."""
    head, stop, _ = text.partition(". ")
    return head + "." if stop else text


def write_headline(folder: Path, headline: Headline) -> None:
    text = json.dumps(asdict(headline), indent=2, ensure_ascii=False)
    write_atomically(folder / FILE, text + "\n")


def read_headline(folder: Path) -> Headline | None:
    path = folder / FILE
    return Headline(**json.loads(path.read_text())) if path.exists() else None
