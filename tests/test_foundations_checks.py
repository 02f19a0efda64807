import math

import torch
from torch import nn

from experiments.studies.foundations_checks import (
    CALCULUS,
    CHAPTERS,
    Check,
    compare_gradient,
    gradcheck_models,
    run_check,
    run_checks,
)


def test_all_checks_pass_with_defaults_and_cover_every_chapter():
    rows = run_checks()
    assert len(rows) >= 25
    assert all(isinstance(r, Check) for r in rows)
    failed = [(r.name, r.measured) for r in rows if not r.passed]
    assert failed == []
    assert {r.chapter for r in rows} == set(CHAPTERS)
    assert len({r.name for r in rows}) == len(rows)  # every row is told apart by name
    assert all(r.max_error <= 1e-6 for r in rows if r.chapter != CALCULUS)


def test_seed_changes_data_but_not_the_verdict():
    rows = run_checks(seed=123)
    assert all(r.passed for r in rows)


def test_wrong_closed_form_fails():
    gen = torch.Generator().manual_seed(0)
    A = torch.randn(4, 4, generator=gen, dtype=torch.float64)
    x = torch.randn(4, generator=gen, dtype=torch.float64)
    right = compare_gradient("xᵀAx", CALCULUS, lambda x: x @ A @ x, x, (A + A.T) @ x, 1e-6)
    wrong = compare_gradient("xᵀAx", CALCULUS, lambda x: x @ A @ x, x, 2 * A @ x, 1e-6)
    assert right.passed
    assert not wrong.passed and wrong.max_error > 1e-3


def test_wrong_shape_closed_form_fails():
    A = torch.randn(3, 4, dtype=torch.float64)
    x = torch.randn(4, dtype=torch.float64)
    # d2l's gradient-layout answer Aᵀ is the wrong layout for a Jacobian.
    row = compare_gradient("Ax", CALCULUS, lambda x: A @ x, x, A.T, 1e-6)
    assert not row.passed and math.isinf(row.max_error)


def test_raising_check_is_reported_not_propagated():
    def exploding_check(gen, tol):
        raise ValueError("boom")

    rows = run_check(exploding_check, CALCULUS, torch.Generator(), 1e-6)
    assert len(rows) == 1
    row = rows[0]
    assert row.name == "exploding_check" and row.chapter == CALCULUS
    assert not row.passed and row.max_error > 0
    assert "ValueError: boom" in row.measured


def test_gradcheck_models_with_custom_nets():
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(5, 2)

        def forward(self, x):
            return torch.tanh(self.fc(x)) * 3

    class Broken(nn.Module):
        """Its custom backward is wrong, so gradcheck must say so."""

        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 1)

        def forward(self, x):
            return WrongSquare.apply(self.fc(x))

    rows = gradcheck_models({"scaled tanh": Scaled(), "broken": Broken()})
    assert [r.name.split(":")[1].split("(")[0].strip() for r in rows] == ["scaled tanh", "broken"]
    assert rows[0].passed and rows[0].max_error < 1e-6
    assert not rows[1].passed and rows[1].max_error > 1e-3


def test_gradcheck_models_reports_uninferable_input_shape():
    class NoLinear(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.randn(6, 2))

        def forward(self, x):
            return x @ self.w

    rows = gradcheck_models({"scratch": NoLinear()})
    assert not rows[0].passed and "input_shapes" in rows[0].measured
    rows = gradcheck_models({"scratch": NoLinear()}, input_shapes={"scratch": (2, 6)})
    assert rows[0].passed


def test_run_checks_accepts_replacement_nets():
    rows = run_checks(nets={"tiny": nn.Linear(2, 2)})
    gradchecks = [r for r in rows if r.name.startswith("gradcheck")]
    assert [r.name for r in gradchecks] == ["gradcheck: tiny (input and parameters)"]
    assert all(r.passed for r in rows)


class WrongSquare(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 3 * x  # should be 2x
