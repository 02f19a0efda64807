"""What a study tells its user: a progress line per member, summary.json, summary.md,
figures (PNG + TensorBoard images) and a table on the console.

Under DDP every rank runs the study; only rank 0 (Lightning's rank_zero_only) says or
writes any of it.
"""

import json
import math
import os
import sys
import textwrap
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from lightning.pytorch.utilities import rank_zero_only
from matplotlib.figure import Figure as MplFigure

from experiments.engine import board, drawing, member_lock
from experiments.engine.files import write_atomically
from experiments.engine.plan import Member, Plan


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
    settings = {m.name: m.flat_settings for m in plan.members}
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
            **({"epochs_se": r["epochs_se"]} if "epochs_se" in r else {}),
            "seeds": r.get("seeds", 1),
            **{k: v for k, v in r["metrics"].items() if isinstance(v, (int, float))},
            **columns.get(r["member"], {}),
        }
        for r in results
    ]


# Short column names for the settings studies vary; any other key shows its last part
# (`data.degree` -> `degree`).
SHORT_NAMES = {
    "model.num_hiddens": "width",
    "model.weight_decay": "λ",
    "data.train_size": "train size",
    "trainer.max_epochs": "max epochs",
    "model.num_inputs": "inputs",
}
MAX_COLUMNS = 12  # a table wider than this does not read on one screen
STAGE_ORDER = ("train/", "val/", "test/")
# The running mean over an epoch's minibatches (weights still moving; for a closed form,
# the solve's own fit): summary.json keeps it, the tables compare train/* with val/*.
RUNNING = "train_running/"


def short_name(key: str) -> str:
    return SHORT_NAMES.get(key, key.rpartition(".")[2])


def number(value: float, scientific: bool) -> str:
    """4 significant figures; `1.724e-4` when the column needs scientific notation."""
    if scientific and value != 0:
        mantissa, _, exponent = f"{value:.3e}".partition("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
    return f"{value:.4g}"


def needs_scientific(values) -> bool:
    """One notation per column: scientific when any value is below 1e-3 or above 1e5, so
    `8.125e-6` never stands beside `0.0001724`."""
    return any(isinstance(v, float) and v != 0 and not 1e-3 <= abs(v) < 1e5 for v in values)


def cell(value, scientific: bool = False) -> str:
    if value is None or value == "":
        return "–"
    if isinstance(value, float):
        text = number(value, scientific)
    elif isinstance(value, (list, tuple)):
        text = ",".join(str(v) for v in value)
    else:
        text = str(value)
    return text.replace("|", "\\|")  # a literal | would split the Markdown cell


def plus_se(se: float | None, spec: str = ".2g") -> str:
    """` ± 0.008`: the standard error part of `mean ± se`, empty where there is none (one
    seed: None or NaN)."""
    return f" ± {se:{spec}}" if isinstance(se, float) and not math.isnan(se) else ""


def pm(mean: float, se: float | None = None, spec: str = ".3g", se_spec: str = ".2g") -> str:
    """`0.412 ± 0.008`, `+0.011 ± 0.0015`: a mean (or a difference: spec "+.3g") with its
    standard error over seeds where it has one; the one way summaries write mean ± se."""
    return f"{mean:{spec}}" + plus_se(se, se_spec)


def shown(metrics: dict, key: str, spec: str = ".3g", se_spec: str = ".2g") -> str:
    """A merged metric `key` as `pm`, with its `key_se` where it has one."""
    return pm(metrics[key], metrics.get(f"{key}_se"), spec, se_spec)


def shown_value(row: dict, key: str, scientific: bool) -> str:
    """A metric as `mean ± se` where the row averages seeds, with the Wilson interval of an
    accuracy as `[lo, hi]` where it has one."""
    text = cell(row.get(key), scientific) + plus_se(row.get(f"{key}_se"))
    if isinstance(row.get(f"{key}_lo"), float) and isinstance(row.get(f"{key}_hi"), float):
        text += f" [{row[f'{key}_lo']:.3f}, {row[f'{key}_hi']:.3f}]"
    return text


def table(rows: list[dict], columns: list[str] | None = None,
          names: dict[str, str] | None = None) -> list[str]:
    """A Markdown table of the rows: `columns` (all, in first-seen order, by default),
    headed by `names` where given."""
    columns = columns or list(dict.fromkeys(k for row in rows for k in row))
    names = names or {}
    scientific = {c: needs_scientific(row.get(c) for row in rows) for c in columns}
    lines = ["| " + " | ".join(names.get(c, c) for c in columns) + " |",
             "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(shown_value(row, c, scientific[c]) for c in columns) + " |"
              for row in rows]
    return lines


def kind(member: Member | None) -> str:
    """What kind of member it is: the setup its study names, or else its model on its data
    (`MLP on FashionMNISTDataModule`)."""
    if member is None:
        return ""
    if member.setup:
        return member.setup
    model, data = member.config.model.class_path, member.config.data.class_path
    return f"{model.rpartition('.')[2]} on {data.rpartition('.')[2]}"


def varies(rows: list[dict], key: str) -> bool:
    return len({repr(row.get(key)) for row in rows}) > 1


def columns_of(rows: list[dict], settings: set[str]) -> list[str]:
    """The columns worth reading in one group of rows, at most MAX_COLUMNS: the member,
    its status if any did not complete, the settings that vary (no class paths), then the
    study's own columns (verdicts), validation, test and train metrics, the rest."""
    keys = list(dict.fromkeys(k for row in rows for k in row))
    derived = tuple(f"_{suffix}" for suffix in ("se", "lo", "hi"))
    metrics = [k for k in keys if k not in settings and k not in ("member", "status", "epochs",
               "seeds") and not k.endswith(derived) and not k.startswith(RUNNING)
               and any(row.get(k) is not None for row in rows)]
    own = [k for k in metrics if all(isinstance(row.get(k, ""), str) for row in rows)]
    train, val, test = ([k for k in metrics if k.startswith(stage) and k not in own]
                        for stage in STAGE_ORDER)
    rest = [k for k in metrics if k not in own + train + val + test]
    head = [
        "member",
        *(["status"] if any(row.get("status") != "completed" for row in rows) else []),
        *[k for k in keys if k in settings and not k.endswith("class_path") and varies(rows, k)],
        *(["epochs"] if varies(rows, "epochs") else []),
    ]
    kept = set([*head, *own, *val, *test, *train, *rest][:MAX_COLUMNS])
    # Read left to right as a run goes: settings, train, val, test, the rest, verdicts.
    order = [*head, *train, *val, *test, *rest, *own]
    return [k for k in order if k in kept]


def tables(plan: Plan, summary: list[dict]) -> list[tuple[str, list[dict], list[str]]]:
    """One (title, rows, columns) per kind of member: members of another model or data have
    other settings and metrics, and share a table only with their own kind."""
    members = {m.name: m for m in plan.members}
    settings = {k for values in varying_settings(plan).values() for k in values}
    groups: dict[str, list[dict]] = {}
    for row in summary:
        groups.setdefault(kind(members.get(row["member"])), []).append(row)
    return [(title if len(groups) > 1 else "", rows, columns_of(rows, settings))
            for title, rows in groups.items()]


def markdown_tables(plan: Plan, summary: list[dict]) -> list[str]:
    lines = []
    for title, rows, columns in tables(plan, summary):
        names = {c: short_name(c) for c in columns}
        lines += ([f"**{title}**", ""] if title else []) + table(rows, columns, names) + [""]
    return lines


def console_tables(plan: Plan, summary: list[dict]) -> list[str]:
    """The tables as aligned text: the console's compact version."""
    lines = []
    for title, rows, columns in tables(plan, summary):
        scientific = {c: needs_scientific(row.get(c) for row in rows) for c in columns}
        cells = [[short_name(c) for c in columns]]
        cells += [[shown_value(row, c, scientific[c]) for c in columns] for row in rows]
        widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
        lines += [f"  {title}"] if title else []
        lines += ["  " + "  ".join(text.ljust(w) for text, w in zip(line, widths, strict=True))
                  for line in cells]
    return lines


def console_messages(results: list[dict]) -> list[str]:
    """Why each run that did not complete did not, with its hint: one line each."""
    return [f"  {r['member']} {r['status']}: {r['message']}" for r in results
            if r.get("message")]


@rank_zero_only
def show_results(plan: Plan, results: list[dict]) -> None:
    """The runs' final metrics as a table on the console, and what went wrong with any."""
    print("\n".join([*console_tables(plan, rows(plan, results)), *console_messages(results)]))


def tensorboard_command(logdir: Path) -> str:
    """A command that opens TensorBoard on `logdir` as printed: the tensorboard installed
    beside this Python (the venv's own, which a shell without the venv activated does not
    find as `tensorboard`), relative to the current folder where it lies inside it."""
    program = Path(sys.executable).with_name("tensorboard")
    if not program.exists():
        return f"{sys.executable} -m tensorboard.main --logdir {logdir}"
    relative = os.path.relpath(program)
    return f"{program if relative.startswith('..') else relative} --logdir {logdir}"


def json_text(value) -> str:
    return json.dumps(value, indent=2) + "\n"


@rank_zero_only
def write_summary(plan: Plan, results: list[dict], figures: list[Figure], notes: str = "",
                  columns: dict[str, dict] | None = None, takeaway: str = "",
                  table: list[dict] | None = None) -> None:
    """summary.json, summary.md and the figures in the study's folder, and the study's own
    TensorBoard run there: the figures, summary.md as text, the Custom Scalars layout (the
    figures and the run once drawn: see drawing.py). `table`: the rows summary.md and the
    console show, if not one per member."""
    folder, experiment = plan.folder, plan.experiment
    folder.mkdir(parents=True, exist_ok=True)
    summary = rows(plan, results, columns)
    write_atomically(folder / "summary.json", json_text(summary))
    md = [f"# {experiment.name} (chapter {experiment.chapter})", "", experiment.description, ""]
    if plan.base.fast:
        md += ["**Smoke run (`--fast`)**: a few steps of every member, to try things; "
               "no number below is a result.", ""]
    if takeaway:
        md += [f"**Takeaway.** {takeaway}", ""]
    shown = summary if table is None else table
    md += markdown_tables(plan, shown)
    md += [f"- **{r['member']}** {r['status']}: {r['message']}"
           for r in results if r.get("message")]
    md += [""] if md[-1] else []  # a list ends with a blank line, or it runs into what follows
    if notes:
        md += [notes.strip(), ""]
    for figure in figures:  # the caption once, under the figure; the alt text is its name
        md += [f"![{figure.name}]({figure.name}.png)", "", f"*{figure.caption}*", ""]
    md += [f"Curves: `{tensorboard_command(folder)}`", ""]
    text = "\n".join(md)
    write_atomically(folder / "summary.md", text)
    classifies = any("val/acc" in r["metrics"] for r in results)

    def write_figures(images: dict[str, bytes]) -> None:
        # Drawn in the background, they come once the summary's lock was let go: take it
        # again, and leave them out if a later summary replaced this one (its own are due).
        with member_lock.study_files(folder):
            if (folder / "summary.md").read_text() != text:
                return
            for name, image in images.items():
                write_atomically(folder / f"{name}.png", image)
            board.write_study(plan, results, varying_settings(plan), classifies, images, text)

    drawing.when_drawn({f.name: f.figure for f in figures}, write_figures, experiment.name)
    print()
    if takeaway:
        print(textwrap.fill(takeaway, width=100))
    print("\n".join([*console_tables(plan, shown), *console_messages(results)]))
    print(f"{experiment.name}: {folder / 'summary.md'}")
