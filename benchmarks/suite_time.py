"""Wall-clock and peak memory of the whole default suite, and of its --fast smoke run.

Each runs `python experiments/run.py` (every experiment) in a fresh subprocess into a
temporary logdir; peak RSS is the largest resident set of that process (and any it
started), from getrusage. Prints a table and writes benchmarks/results/suite_time.json.

    python benchmarks/suite_time.py [--only fast|full]
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODES = {"fast": ["--fast"], "full": []}


def measure(options: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as logdir:
        command = [sys.executable, str(ROOT / "experiments" / "run.py"), *options,
                   "--logdir", logdir, "--trainer.enable_progress_bar", "false"]
        started = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        seconds = time.perf_counter() - started
    # ru_maxrss of the children waited for so far, in KiB on Linux; each mode runs in its
    # own process and the full suite runs second, so take the max over that mode's run.
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if done.returncode != 0:
        print(done.stdout[-2000:], done.stderr[-4000:], sep="\n")
    return {"seconds": round(seconds, 1), "peak_rss_mib": round(peak_kib / 1024),
            "exit_code": done.returncode}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=list(MODES))
    args = parser.parse_args()
    rows = {}
    for mode, options in MODES.items():
        if args.only in (None, mode):
            print(f"{mode} ...", flush=True)
            rows[mode] = measure(options)
    print(f"\n{'suite':<6} {'seconds':>8} {'peak RSS MiB':>13} {'exit':>5}")
    for mode, r in rows.items():
        print(f"{mode:<6} {r['seconds']:>8.1f} {r['peak_rss_mib']:>13} {r['exit_code']:>5}")
    out = ROOT / "benchmarks" / "results" / "suite_time.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"date": time.strftime("%Y-%m-%d"), **rows}, indent=2) + "\n")
    print(f"\nwritten: {out}")


if __name__ == "__main__":
    main()
