"""runs/index.md: what the whole suite found, one row per experiment present in the logdir:
each study's declared headline (headline.py), read back from its folder, so it covers
earlier runs too."""

import re
from pathlib import Path

from lightning.pytorch.utilities import rank_zero_only

from experiments.engine import member_lock, registry
from experiments.engine.files import write_atomically
from experiments.engine.headline import Headline, read_headline


def main_figure(summary_md: Path) -> str:
    """The study's first own figure in summary.md (its curves when it has nothing else)."""
    figures = re.findall(r"\]\(([^)\s]+\.png)\)", summary_md.read_text())
    own = [f for f in figures if f != "curves.png"] or figures
    return own[0] if own else ""


@rank_zero_only
def write_index(logdir: Path) -> Path | None:
    """runs/index.md over every experiment folder with a summary.json, in course order:
    one process at a time, so the last to write read the newest summaries."""
    with member_lock.study_files(logdir):
        return index_of(logdir)


def index_of(logdir: Path) -> Path | None:
    names = [n for n in registry.names() if (logdir / n / "summary.json").exists()]
    if not names:
        return None
    lines = ["# What fitlab found", "",
             "One row per experiment in this folder: the result it exists for (mean ± standard "
             "error over seeds), the book's number for the same member and metric (d2l), what "
             "it means, the verdicts per setup, and the study's summary and main figure.", "",
             "| experiment | chapter | headline | the book | takeaway | verdicts | summary |",
             "|---|---|---|---|---|---|---|"]
    for name in names:
        experiment = registry.load(name)
        with member_lock.study_files(logdir / name):  # its files as one process wrote them
            found = read_headline(logdir / name) or Headline(
                "– (made before headlines: `--study.report_only true` writes one)")
            figure = main_figure(logdir / name / "summary.md") if (
                logdir / name / "summary.md").exists() else ""
        links = f"[summary]({name}/summary.md)"
        if figure:
            links += f" · [{figure.removesuffix('.png')}]({name}/{figure})"
        cells = (found.ours, found.book, found.takeaway or "–", found.verdicts)
        lines.append(f"| {name} | {experiment.chapter} | "
                     + " | ".join(text.replace("|", "\\|") for text in cells) + f" | {links} |")
    path = logdir / "index.md"
    write_atomically(path, "\n".join(lines) + "\n")
    return path
