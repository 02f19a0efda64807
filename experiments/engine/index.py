"""runs/index.md: what the whole suite found, one row per experiment present in the logdir,
read back from each summary.json (so it covers earlier runs too), beside the book's own
numbers from each experiment's YAML header."""

import json
import re
from collections import Counter
from pathlib import Path

from lightning.pytorch.utilities import rank_zero_only

from experiments.engine import registry
from experiments.engine.files import write_atomically
from experiments.engine.report import cell


def best_on_validation(rows: list[dict]) -> dict | None:
    """The row with the highest val/acc, or else the lowest val/loss."""
    for key, pick in (("val/acc", max), ("val/loss", min)):
        if scored := [r for r in rows if isinstance(r.get(key), (int, float))]:
            return pick(scored, key=lambda r, key=key: r[key])
    return None


def headline(rows: list[dict], book: tuple) -> tuple[str, str]:
    """(ours, the book's): each of the book's numbers beside ours for the same member and
    metric (the best member on validation unless the book names one)."""
    by_name = {r.get("member"): r for r in rows}
    ours, theirs = [], []
    for entry in book:
        row = by_name.get(entry["member"]) if "member" in entry else best_on_validation(
            [r for r in rows if entry["metric"] in r])
        who = entry.get("member") or (row or {}).get("member", "")
        if row is not None and entry["metric"] in row:
            ours.append(f"{who} {entry['metric']} {cell(row[entry['metric']])}")
        theirs.append(f"{entry['metric']} ≈ {entry['value']:g} ({entry['where']})")
    # Without the book's numbers: the tested members (what the study chose, e.g. kfold's
    # refit) on the test split, the best of them on validation; else the best on validation.
    tested = [r for r in rows if "test/acc" in r or "test/loss" in r]
    if not book and (best := best_on_validation(tested) or next(iter(tested), None)
                     or best_on_validation(rows)):
        key = next(k for k in ("test/acc", "test/loss", "val/acc", "val/loss") if k in best)
        ours.append(f"{best['member']} {key} {cell(best[key])}")
    return "; ".join(ours) or "–", "; ".join(theirs) or "–"


def verdicts(rows: list[dict]) -> str:
    """`2 underfitting, 5 good fit`, over every verdict column; checks that pass or fail."""
    counts = Counter(v for r in rows for k, v in r.items() if "verdict" in k and v)
    if results := [r["passed"] for r in rows if "passed" in r]:  # foundations' checks
        return f"{sum(results)} of {len(results)} checks pass"
    return ", ".join(f"{n} {verdict}" for verdict, n in counts.most_common()) or "–"


def main_figure(summary_md: Path) -> str:
    """The study's first own figure in summary.md (its curves when it has nothing else)."""
    figures = re.findall(r"\]\(([^)\s]+\.png)\)", summary_md.read_text())
    own = [f for f in figures if f != "curves.png"] or figures
    return own[0] if own else ""


@rank_zero_only
def write_index(logdir: Path) -> Path | None:
    """runs/index.md over every experiment folder with a summary.json, in course order."""
    names = [n for n in registry.names() if (logdir / n / "summary.json").exists()]
    if not names:
        return None
    lines = ["# What fitlab found", "",
             "One row per experiment in this folder: our headline numbers beside the book's "
             "(d2l), the verdicts, and each study's summary and main figure.", "",
             "| experiment | chapter | ours | the book | verdicts | summary |",
             "|---|---|---|---|---|---|"]
    for name in names:
        experiment = registry.load(name)
        rows = json.loads((logdir / name / "summary.json").read_text())
        ours, theirs = headline(rows, experiment.book)
        figure = main_figure(logdir / name / "summary.md") if (
            logdir / name / "summary.md").exists() else ""
        links = f"[summary]({name}/summary.md)"
        if figure:
            links += f" · [{figure.removesuffix('.png')}]({name}/{figure})"
        lines.append(f"| {name} | {experiment.chapter} | {ours} | {theirs} | {verdicts(rows)} "
                     f"| {links} |")
    path = logdir / "index.md"
    write_atomically(path, "\n".join(lines) + "\n")
    return path
