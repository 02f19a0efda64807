"""What a study tells its user: a progress line per member, summary.json, summary.md,
figures (PNG + TensorBoard images) and a table on the console.

Under DDP every rank runs the study; only rank 0 (Lightning's rank_zero_only) says or
writes any of it.
"""

import json
import time
from dataclasses import dataclass
from datetime import timedelta

from lightning.pytorch.utilities import rank_zero_only
from matplotlib.figure import Figure as MplFigure
from torch.utils.tensorboard import SummaryWriter

from experiments.engine.files import write_atomically
from experiments.engine.plan import Plan, flat


@dataclass
class Figure:
    name: str  # file stem: <study>/<name>.png
    caption: str  # what the figure shows, in one sentence
    figure: MplFigure


def clock(seconds: float) -> str:
    return str(timedelta(seconds=round(seconds)))


@rank_zero_only
def progress(experiment: str, member: str, index: int, total: int, started: float) -> None:
    """`[2/3] softmax_regression/concise · 0:00:41 elapsed · ~0:00:41 left`."""
    elapsed = time.perf_counter() - started
    left = f" · ~{clock(elapsed / index * (total - index))} left" if index else ""
    line = f"[{index + 1}/{total}] {experiment}/{member} · {clock(elapsed)} elapsed{left}"
    print(line, flush=True)


def varying_settings(plan: Plan) -> dict[str, dict]:
    """member -> its settings (command-line keys) that the study varies: keys a member or
    the grid sets, where members differ. (Members of other classes differ in every key of
    those classes; listing them all would bury the few that define the members.)"""
    settings = {m.name: flat(m.settings()) for m in plan.members}
    declared = {key.replace(".init_args.", ".") for m in plan.members for key in m.overrides}
    keys = {k for s in settings.values() for k in s} & declared
    varying = sorted(k for k in keys if len({repr(s.get(k)) for s in settings.values()}) > 1)
    return {name: {k: s.get(k) for k in varying} for name, s in settings.items()}


def rows(plan: Plan, results: list[dict], columns: dict[str, dict] | None = None) -> list[dict]:
    """One row per member: its varying settings, its final scalar metrics and the study's
    own `columns` for it."""
    varying, columns = varying_settings(plan), columns or {}
    return [
        {
            "member": r["member"],
            "status": r["status"],
            **varying.get(r["member"], {}),
            "epochs": r["epochs"],
            "seeds": r.get("seeds", 1),
            **{k: v for k, v in r["metrics"].items() if isinstance(v, (int, float))},
            **columns.get(r["member"], {}),
        }
        for r in results
    ]


def cell(value) -> str:
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return text.replace("|", "\\|")  # a literal | would split the Markdown cell


def table(rows: list[dict]) -> list[str]:
    """A Markdown table of the rows (columns in first-seen order)."""
    columns = list(dict.fromkeys(k for row in rows for k in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c, "")) for c in columns) + " |" for row in rows]
    return lines


def json_text(value) -> str:
    return json.dumps(value, indent=2) + "\n"


@rank_zero_only
def write_summary(plan: Plan, results: list[dict], figures: list[Figure], notes: str = "",
                  columns: dict[str, dict] | None = None) -> None:
    """summary.json, summary.md and the figures, in the study's folder."""
    folder, experiment = plan.folder, plan.experiment
    folder.mkdir(parents=True, exist_ok=True)
    summary = rows(plan, results, columns)
    write_atomically(folder / "summary.json", json_text(summary))
    writer = SummaryWriter(log_dir=str(folder))
    for figure in figures:
        figure.figure.savefig(folder / f"{figure.name}.png", dpi=120, bbox_inches="tight")
        writer.add_figure(f"figures/{figure.name}", figure.figure)  # closes it
    writer.close()
    md = [f"# {experiment.name} (chapter {experiment.chapter})", "", experiment.description, ""]
    md += table(summary) + [""]
    for r in results:
        if r.get("message"):
            md.append(f"- **{r['member']}** {r['status']}: {r['message']}")
    if notes:
        md += ["", notes.strip()]
    for figure in figures:
        md += ["", f"![{figure.caption}]({figure.name}.png)", "", f"*{figure.caption}*"]
    md += ["", f"Curves: `tensorboard --logdir {folder.parent}`", ""]
    write_atomically(folder / "summary.md", "\n".join(md))
    print()
    print("\n".join(table(summary)))
    print(f"\n{experiment.name}: {folder / 'summary.md'}")
