"""How many CPU threads torch may use for one op.

With as many OpenMP threads as cores, the Trainer's own Python threads (TensorBoard's
event writer, the progress bar) and any other process leave the OpenMP workers waiting on
each other: on these 2-core machines a softmax-regression epoch then took 5x longer
than with one thread. Half the cores leaves room for them. OMP_NUM_THREADS, when set, wins.
"""

import os

import torch


def set_torch_threads() -> None:
    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // 2))
