"""fitlab's command line: `python experiments/run.py [NAME ...] [--KEY VALUE ...]`.

`python experiments/run.py --help` says more; experiments/cli.py does the work.
"""

import sys
from pathlib import Path

# Python put experiments/ first on sys.path; the repository root is what we import from.
sys.path[0] = str(Path(__file__).resolve().parents[1])

if __name__ == "__main__":  # not when the figure-drawing process starts (engine/drawing.py)
    from experiments.engine.cli import main

    # This process ends with the command: what lives on may leave the cycle collector.
    sys.exit(main(freeze=True))
