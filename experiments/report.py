"""What a study tells its user: a progress line per member, summary.json, summary.md,
figures (PNG + TensorBoard images) and a table on the console.

Under DDP every rank runs the study; only rank 0 (Lightning's rank_zero_only) says or
writes any of it.
"""

import json
import time
from dataclasses import dataclass
from datetime import timedelta

import matplotlib
from lightning.pytorch.utilities import rank_zero_only

matplotlib.use("Agg")  # figures are files; no display needed
from matplotlib.figure import Figure as MplFigure  # noqa: E402
from torch.utils.tensorboard import SummaryWriter  # noqa: E402

from experiments.files import write_atomically  # noqa: E402
from experiments.plan import Plan  # noqa: E402
from experiments.runner import flat  # noqa: E402


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
    overrides = plan.study.all_members().values()
    declared = {key.replace(".init_args.", ".") for o in overrides for key in o}
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
            **{k: v for k, v in r["metrics"].items() if isinstance(v, (int, float))},
            **columns.get(r["member"], {}),
        }
        for r in results
    ]


# How `verdicts` decides, as summary.md states it beside them.
VERDICT_RULE = (
    "**Verdict**: each member beside the best of its group (the lowest val/loss). "
    "*underfitting*: its val/loss is more than 20% above the best's and so is its "
    "train/loss: it fits even its training data worse (too little capacity, or training). "
    "*overfitting*: its val/loss is more than 20% above the best's although its train/loss "
    "is not, or its val/loss is more than 1.5 × its own train/loss: it fits its training "
    "data far better than unseen data. *good fit*: neither."
)


def verdicts(results: list[dict], tolerance: float = 1.2, gap: float = 1.5) -> dict[str, str]:
    """member -> underfitting | overfitting | good fit, as VERDICT_RULE says, against the
    best of `results` (the completed ones)."""
    final = {r["member"]: (r["metrics"]["train/loss"], r["metrics"]["val/loss"])
             for r in results if r["status"] == "completed" and "val/loss" in r["metrics"]}
    if not final:
        return {}
    best_train, best_val = min(final.values(), key=lambda losses: losses[1])
    out = {}
    for member, (train, val) in final.items():
        if val > tolerance * best_val:
            out[member] = "underfitting" if train > tolerance * best_train else "overfitting"
        else:
            out[member] = "overfitting" if val > gap * train else "good fit"
    return out


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
