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
from dataclasses import dataclass
from pathlib import Path

MEANS = "mean"  # <study>/mean/<NN> <member>: the member's mean run (board.py)
MAX_TICKED = 40  # tf-multi-checkbox's maxNamesToEnableByDefault


def run_name(folder: Path, logdir: Path) -> str:
    return folder.relative_to(logdir).as_posix()  # the logdir itself is TensorBoard's `.`


@dataclass
class Selection:
    """What the address filters, as JavaScript regexes."""
    runs: str  # TIME SERIES: the studies' own runs and their mean runs
    ticked: str  # the other tabs: the same where at most 40, else the studies' own runs
    tags: str  # TIME SERIES: the studies' own tags (figures, mean curves, final numbers)
    count: int  # how many runs `ticked` selects
    note: str  # what `ticked` leaves out, if anything


def selection(logdir: Path) -> Selection | None:
    """The address's filters for a logdir of one study or of several; None without any."""
    studies = sorted(p.parent for p in logdir.glob("**/summary.md"))
    if not studies:
        return None
    means = [m for s in studies for m in sorted((s / MEANS).glob("*")) if m.is_dir()]
    own = f"^({'|'.join(re.escape(run_name(p, logdir)) for p in studies)})$"
    runs = f"{own}|^({'|'.join(re.escape(run_name(s / MEANS, logdir)) for s in studies)})/"
    tags = f"^({'|'.join(dict.fromkeys(re.escape(p.name) for p in studies))})/"
    if len(studies) + len(means) <= MAX_TICKED:
        return Selection(runs, runs, tags, len(studies) + len(means), "")
    # TIME SERIES ticks none of too many matches either: the studies' own runs there too.
    return Selection(own, own, tags, len(studies),
                     f"not the {len(means)} mean runs, over {MAX_TICKED}: type one study's "
                     f"into the run filter, e.g. `{runs.split('|^(')[1].split('|')[0]}/`")


def address(host: str, port: int, chosen: Selection | None) -> str:
    """TIME SERIES, its runs and tags filtered, curves unsmoothed (a point is an epoch);
    the fragment's `regexInput`, `_smoothingWeight` and `_ignoreYOutliers` do the same in
    the other tabs."""
    if chosen is None:
        return f"http://{host}:{port}/"
    query = urllib.parse.urlencode(
        {"runFilter": chosen.runs, "tagFilter": chosen.tags, "smoothing": 0},
        quote_via=urllib.parse.quote, safe="")
    ticked = urllib.parse.quote(chosen.ticked, safe="")
    # SCALARS ignores outliers in its y range by default, and a study's rising curve (capacity's
    # wide nets) or its best member (mlp's tuned) is what it would crop.
    return (f"http://{host}:{port}/?{query}#timeseries&regexInput={ticked}"
            "&_smoothingWeight=0&_ignoreYOutliers=false")


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
    chosen = selection(logdir)
    print(f"TensorBoard on {logdir}: open {address(args.host, args.port, chosen)}")
    if chosen is None:
        print("  (no study's summary.md here yet: every run is listed)")
    else:
        print(f"  (ticks the studies' own runs and mean runs: {chosen.count}"
              + (f"; {chosen.note})" if chosen.note else ")"))
    sys.stdout.flush()
    tensorboard = Path(sys.executable).with_name("tensorboard")
    os.execv(tensorboard, [str(tensorboard), "--logdir", str(logdir), "--host", args.host,
                           "--port", str(args.port), *rest])


if __name__ == "__main__":
    main()
