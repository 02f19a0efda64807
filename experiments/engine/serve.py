"""`make tensorboard LOGDIR=...`: TensorBoard on 127.0.0.1, and the address that opens on
the results.

SCALARS, CUSTOM SCALARS, IMAGES and TEXT tick no run when more than 40 match their run
filter (board.py), and a 5-seed study has more. The address's filter (`regexInput` for
those tabs, `runFilter` for TIME SERIES) selects the study's own runs (figures, summary)
and its mean runs (one per member): fewer than 40, so all ticked. The seeds' runs stay a
filter edit away.
"""

import argparse
import os
import re
import sys
import urllib.parse
from pathlib import Path

MEANS = "mean"  # <study>/mean/<NN> <member>: the member's mean run (board.py)
MAX_TICKED = 40  # tf-multi-checkbox's maxNamesToEnableByDefault


def run_name(folder: Path, logdir: Path) -> str:
    return folder.relative_to(logdir).as_posix()  # the logdir itself is TensorBoard's `.`


def selection(logdir: Path) -> tuple[str, str, int, str]:
    """The run filter (a JavaScript regex), the tag filter (the studies' own tags: figures,
    mean curves, final numbers), how many runs the filter selects, and what it leaves out,
    if anything, for a logdir of one study or of several."""
    studies = sorted(p.parent for p in logdir.glob("**/summary.md"))
    means = [m for s in studies for m in sorted((s / MEANS).glob("*")) if m.is_dir()]
    names = "|".join(re.escape(run_name(p, logdir)) for p in studies)
    mean_names = "|".join(re.escape(run_name(s / MEANS, logdir)) for s in studies)
    tags = f"^({'|'.join(re.escape(p.name) for p in studies)})/"
    if len(studies) + len(means) <= MAX_TICKED:
        return f"^({names})$|^({mean_names})/", tags, len(studies) + len(means), ""
    return (f"^({names})$", tags, len(studies),
            f"the {len(means)} mean runs (over {MAX_TICKED} to tick): filter on one study's "
            f"`{MEANS}/` to see its curves")


def address(host: str, port: int, runs: str, tags: str) -> str:
    """TIME SERIES, its runs and tags filtered, curves unsmoothed (a point is an epoch);
    `regexInput` in the fragment filters the runs of the other tabs."""
    quoted = urllib.parse.quote(runs, safe="")
    query = urllib.parse.urlencode({"runFilter": runs, "tagFilter": tags, "smoothing": 0},
                                   quote_via=urllib.parse.quote, safe="")
    return f"http://{host}:{port}/?{query}#timeseries&regexInput={quoted}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logdir", default="runs")
    parser.add_argument("--port", type=int, default=6006)
    parser.add_argument("--host", default="127.0.0.1")
    args, rest = parser.parse_known_args(argv)
    logdir = Path(args.logdir)
    if not logdir.is_dir():
        print(f"error: LOGDIR={logdir}: no such folder; `make run` writes runs/",
              file=sys.stderr)
        sys.exit(2)
    runs, tags, count, left_out = selection(logdir)
    print(f"TensorBoard on {logdir}: open {address(args.host, args.port, runs, tags)}")
    print(f"  (selects the studies' own runs and their mean runs: {count}"
          + (f"; not {left_out})" if left_out else ")"), flush=True)
    tensorboard = Path(sys.executable).with_name("tensorboard")
    os.execv(tensorboard, [str(tensorboard), "--logdir", str(logdir), "--host", args.host,
                           "--port", str(args.port), *rest])


if __name__ == "__main__":
    main()
