"""The `foundations` experiment: d2l's preliminaries, checked rather than just shown.

Each check below is one small function that does what a section of the book does, measures
the result, and returns a `Check` row: what should hold, what was measured, the largest
absolute error, and whether it passed. `run_checks()` runs them all in order. A check that
raises is reported as a failed row, so one broken check never hides the others.

Numbers are float64 throughout: identities that hold exactly in real arithmetic then agree
to ~1e-15, far below any tolerance, so a real mistake stands out instead of hiding in noise.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call

DATA = "2.1 Data Manipulation"
LINALG = "2.3 Linear Algebra"
CALCULUS = "2.4 Calculus"  # its "Partial Derivatives and Gradients" lists the matrix rules
AUTOGRAD = "2.5 Automatic Differentiation"
CHAPTERS = (DATA, LINALG, CALCULUS, AUTOGRAD)

# Central differences (f(x+h) - f(x-h)) / 2h err by ~h²·f'''/6 (truncation) plus
# ~1e-16·|f|/h (rounding). With h = 1e-6 in float64 both are ~1e-10 for the O(1) values used
# here, so 1e-6 is met by every correct gradient, yet misses even a small wrong term by far.
FD_EPS = 1e-6
FD_TOL = 1e-6


@dataclass
class Check:
    """One row of the report."""

    name: str
    chapter: str
    expected: str
    measured: str
    max_error: float  # largest absolute error; 0.0 when a yes/no fact holds, 1.0 when not
    passed: bool


def max_abs_error(got, want) -> float:
    """Largest |got - want| over tensors (or tuples of them); inf if any shape differs."""
    if isinstance(got, (tuple, list)):
        errors = [max_abs_error(g, w) for g, w in zip(got, want, strict=True)]
        return torch.tensor(errors).max().item()  # torch's max keeps a NaN, Python's may not
    got = torch.as_tensor(got, dtype=torch.float64)
    want = torch.as_tensor(want, dtype=torch.float64)
    if got.shape != want.shape:
        return math.inf
    return (got - want).abs().max().item() if got.numel() else 0.0


def numeric(name, chapter, expected, got, want, tol, note="") -> Check:
    """A numeric row: passes when every entry of `got` is within `tol` of `want`."""
    err = max_abs_error(got, want)
    measured = f"{note + ', ' if note else ''}max |error| {err:.1e}"
    return Check(name, chapter, expected, measured, err, err <= tol)


def exact(name, chapter, expected, measured, holds) -> Check:
    """A yes/no row (shapes, memory addresses, exceptions): nothing to be approximately."""
    return Check(name, chapter, expected, measured, 0.0 if holds else 1.0, bool(holds))


def run_check(fn: Callable, chapter: str, *args) -> list[Check]:
    """Call one check; turn an unexpected exception into a failed row instead of a crash."""
    try:
        out = fn(*args)
    except Exception as e:  # any error is a result worth reporting, not a crash
        return [Check(fn.__name__, chapter, "runs without error", f"{type(e).__name__}: {e}",
                      math.inf, False)]
    return out if isinstance(out, list) else [out]


def randn(gen: torch.Generator, *shape: int) -> Tensor:
    return torch.randn(shape, generator=gen, dtype=torch.float64)


# --- 2.1 Data Manipulation ----------------------------------------------------------------


def broadcasting_column_plus_row(gen, tol):
    a, b = torch.arange(3.0).reshape(3, 1), torch.arange(2.0).reshape(1, 2)  # the book's pair
    want = torch.tensor([[a[i, 0] + b[0, j] for j in range(2)] for i in range(3)])
    return numeric("broadcasting: (3,1) + (1,2) -> (3,2)", DATA,
                   "each size-1 axis is copied: c[i,j] = a[i,0] + b[0,j]", a + b, want, tol,
                   f"shape {tuple((a + b).shape)}")


def broadcasting_aligns_trailing_axes(gen, tol):
    x, v = randn(gen, 2, 3, 4), randn(gen, 4)
    # Shapes line up from the right; v's missing leading axes act as size 1.
    want = torch.stack([torch.stack([x[i, j] + v for j in range(3)]) for i in range(2)])
    return numeric("broadcasting: (2,3,4) + (4,) -> (2,3,4)", DATA,
                   "v is added to every row x[i,j]", x + v, want, tol)


def broadcasting_mismatch_raises(gen, tol):
    try:
        torch.ones(3, 2) + torch.ones(3)  # trailing sizes 2 and 3: neither is 1
    except RuntimeError as e:
        return exact("broadcasting: (3,2) + (3,) raises", DATA, "RuntimeError",
                     f"RuntimeError: {str(e)[:70]}", True)
    return exact("broadcasting: (3,2) + (3,) raises", DATA, "RuntimeError", "no error", False)


def out_of_place_allocates(gen, tol):
    X, Y = randn(gen, 3, 4), randn(gen, 3, 4)
    old = Y  # keep the old tensor alive, so its id cannot be reused by the new one
    Y = Y + X
    moved = id(Y) != id(old) and Y.data_ptr() != old.data_ptr()
    return exact("Y = Y + X allocates new memory", DATA, "id(Y) and Y.data_ptr() change",
                 f"changed: {moved}", moved)


def slice_assignment_in_place(gen, tol):
    X, Y = randn(gen, 3, 4), randn(gen, 3, 4)
    Z = torch.zeros_like(Y)
    before = (id(Z), Z.data_ptr())
    Z[:] = X + Y  # writes into Z's existing storage
    same = (id(Z), Z.data_ptr()) == before and torch.equal(Z, X + Y)
    return exact("Z[:] = X + Y writes in place", DATA, "same id and data_ptr, Z == X + Y",
                 f"unchanged: {same}", same)


def augmented_assignment_in_place(gen, tol):
    X, Y = randn(gen, 3, 4), randn(gen, 3, 4)
    want, before = Y + X, (id(Y), Y.data_ptr())
    Y += X
    same = (id(Y), Y.data_ptr()) == before and torch.equal(Y, want)
    return exact("Y += X writes in place", DATA, "same id and data_ptr, Y == old Y + X",
                 f"unchanged: {same}", same)


def numpy_view_shares_memory(gen, tol):
    X = randn(gen, 3)
    A = X.numpy()  # no copy: A is a NumPy view of X's CPU storage
    A[0] = 42.0
    shared = X[0].item() == 42.0 and isinstance(A, np.ndarray)
    return exact("tensor.numpy() shares memory", DATA, "writing A[0] changes X[0]",
                 f"X[0] = {X[0].item()}", shared)


def from_numpy_shares_tensor_copies(gen, tol):
    a = np.arange(3.0)
    shared, copied = torch.from_numpy(a), torch.tensor(a)
    a[0] = 7.0
    ok = shared[0].item() == 7.0 and copied[0].item() == 0.0
    return exact("torch.from_numpy shares, torch.tensor copies", DATA,
                 "after a[0] = 7: from_numpy sees 7, torch.tensor keeps 0",
                 f"from_numpy {shared[0].item()}, tensor {copied[0].item()}", ok)


def view_shares_storage(gen, tol):
    X = torch.arange(12.0)
    V = X.view(3, 4)  # same numbers, new shape: only the strides differ
    V[0, 1] = 100.0
    ok = V.data_ptr() == X.data_ptr() and X[1].item() == 100.0
    return exact("view shares storage", DATA, "X.view(3,4) has X's data_ptr; writes show in X",
                 f"shared: {ok}", ok)


def noncontiguous_view_fails_reshape_copies(gen, tol):
    X = torch.arange(12.0).reshape(3, 4)
    T = X.T  # swapped strides over X's storage: its row-major order is no longer contiguous
    try:
        T.view(12)
        view_raised = False
    except RuntimeError:
        view_raised = True
    R = T.reshape(12)  # no stride pattern can express it, so reshape has to copy
    ok = (view_raised and not T.is_contiguous() and R.data_ptr() != X.data_ptr()
          and R.tolist() == [X[i, j].item() for j in range(4) for i in range(3)])
    return exact("X.T.view fails, X.T.reshape copies", DATA,
                 "view raises RuntimeError; reshape gives a copy in X.T's row order",
                 f"view raised {view_raised}, reshape copied {R.data_ptr() != X.data_ptr()}", ok)


# --- 2.3 Linear Algebra -------------------------------------------------------------------


def transpose_swaps_indices(gen, tol):
    A = randn(gen, 3, 4)
    ok = (A.T.shape == (4, 3) and torch.equal(A.T.T, A)
          and all(A.T[j, i] == A[i, j] for i in range(3) for j in range(4)))
    return exact("transpose: Aᵀ[j,i] = A[i,j]", LINALG, "shape (4,3), (Aᵀ)ᵀ = A",
                 f"holds: {ok}", ok)


def sum_with_transpose_is_symmetric(gen, tol):
    A = randn(gen, 4, 4)
    B = A + A.T  # B[i,j] = A[i,j] + A[j,i] = B[j,i]; float addition commutes, so exactly
    return exact("A + Aᵀ is symmetric", LINALG, "B == Bᵀ exactly",
                 f"equal: {torch.equal(B, B.T)}", torch.equal(B, B.T))


def hadamard_product(gen, tol):
    A, B = randn(gen, 3, 4), randn(gen, 3, 4)
    a, b = A.tolist(), B.tolist()
    want = [[a[i][j] * b[i][j] for j in range(4)] for i in range(3)]
    return numeric("Hadamard product A ⊙ B", LINALG, "(A*B)[i,j] = A[i,j]·B[i,j]",
                   A * B, want, tol)


def sum_along_axes(gen, tol):
    A = randn(gen, 3, 4)
    a = A.tolist()
    over_rows = [sum(a[i][j] for i in range(3)) for j in range(4)]  # axis 0 disappears
    over_cols = [sum(a[i][j] for j in range(4)) for i in range(3)]  # axis 1 disappears
    total = sum(map(sum, a))
    return numeric("sum along axes", LINALG, "A.sum(0), A.sum(1), A.sum(), A.sum([0,1]) "
                   "equal loop sums", (A.sum(0), A.sum(1), A.sum(), A.sum(dim=[0, 1])),
                   (over_rows, over_cols, total, total), tol)


def mean_is_sum_over_count(gen, tol):
    A = randn(gen, 3, 4)
    return numeric("mean = sum / count", LINALG, "A.mean() = A.sum()/12, A.mean(0) = "
                   "A.sum(0)/3", (A.mean(), A.mean(0)), (A.sum() / A.numel(), A.sum(0) / 3), tol)


def keepdims_broadcasts_back(gen, tol):
    A = torch.rand(3, 4, generator=gen, dtype=torch.float64) + 0.1  # positive row sums
    row_sums = A.sum(1, keepdim=True)  # shape (3,1), so A / row_sums broadcasts per row
    want = [[sum(row)] for row in A.tolist()]  # a (3,1) answer: a (3,) one would fail
    return numeric("sum with keepdim=True", LINALG, "sums of shape (3,1); rows of A / sums "
                   "sum to 1", (row_sums, (A / row_sums).sum(1)), (want, torch.ones(3)), tol,
                   f"shape {tuple(row_sums.shape)}")


def dot_product(gen, tol):
    x, y = randn(gen, 5), randn(gen, 5)
    want = sum(xi * yi for xi, yi in zip(x.tolist(), y.tolist(), strict=True))
    return numeric("dot product", LINALG, "torch.dot(x,y) = Σ xᵢyᵢ = sum(x*y)",
                   (torch.dot(x, y), torch.sum(x * y)), (want, want), tol)


def matrix_vector_product(gen, tol):
    A, x = randn(gen, 3, 4), randn(gen, 4)
    a, v = A.tolist(), x.tolist()
    want = [sum(a[i][j] * v[j] for j in range(4)) for i in range(3)]
    return numeric("matrix-vector product", LINALG, "(Ax)ᵢ = Σⱼ Aᵢⱼxⱼ for mv and @",
                   (torch.mv(A, x), A @ x), (want, want), tol)


def matrix_matrix_product(gen, tol):
    A, B = randn(gen, 3, 4), randn(gen, 4, 2)
    a, b = A.tolist(), B.tolist()
    want = [[sum(a[i][k] * b[k][j] for k in range(4)) for j in range(2)] for i in range(3)]
    return numeric("matrix-matrix product", LINALG, "(AB)ᵢⱼ = Σₖ AᵢₖBₖⱼ for mm and @",
                   (torch.mm(A, B), A @ B), (want, want), tol)


def l2_norm(gen, tol):
    u, r = torch.tensor([3.0, -4.0], dtype=torch.float64), randn(gen, 6)
    want = math.sqrt(sum(v * v for v in r.tolist()))
    return numeric("L2 norm", LINALG, "‖[3,-4]‖₂ = 5; ‖r‖₂ = √Σ rᵢ²",
                   (torch.norm(u), torch.norm(r)), (5.0, want), tol)


def l1_norm(gen, tol):
    u, r = torch.tensor([3.0, -4.0], dtype=torch.float64), randn(gen, 6)
    want = sum(abs(v) for v in r.tolist())
    return numeric("L1 norm", LINALG, "‖[3,-4]‖₁ = 7; ‖r‖₁ = Σ |rᵢ|",
                   (torch.abs(u).sum(), torch.linalg.vector_norm(r, ord=1)), (7.0, want), tol)


def frobenius_norm(gen, tol):
    X = randn(gen, 3, 5)
    want = math.sqrt(sum(v * v for row in X.tolist() for v in row))
    return numeric("Frobenius norm", LINALG, "‖ones(4,9)‖_F = 6; ‖X‖_F = √Σ Xᵢⱼ²",
                   (torch.norm(torch.ones(4, 9)), torch.linalg.matrix_norm(X)), (6.0, want), tol)


# --- 2.4 Calculus: gradients three ways -----------------------------------------------------


@torch.no_grad()
def finite_difference(f: Callable[[Tensor], Tensor], x: Tensor, eps: float = FD_EPS) -> Tensor:
    """Jacobian by central differences: entry [..., i] = (f(x + h·eᵢ) - f(x - h·eᵢ)) / 2h."""
    flat = x.detach().reshape(-1)
    columns = []
    for i in range(flat.numel()):
        step = torch.zeros_like(flat)
        step[i] = eps
        columns.append((f((flat + step).view_as(x)) - f((flat - step).view_as(x))) / (2 * eps))
    return torch.stack(columns, dim=-1).reshape(columns[0].shape + x.shape)


def compare_gradient(name, chapter, f, x, closed_form, tol) -> Check:
    """Compare a hand-derived derivative with autograd and with central finite differences.

    The derivative is the Jacobian, shaped f(x).shape + x.shape (for a scalar f, simply the
    gradient, shaped like x). Passing a wrong `closed_form` must, and does, fail the row.
    """
    x = x.detach().to(torch.float64)
    auto = torch.autograd.functional.jacobian(f, x)
    closed = torch.as_tensor(closed_form, dtype=torch.float64)
    auto_err = max_abs_error(auto, closed)
    fd_err = max_abs_error(finite_difference(f, x), closed)
    fd_tol = max(tol, FD_TOL)  # finite differences can't beat ~1e-9, whatever tol asks
    return Check(
        name, chapter,
        expected=f"autograd within {tol:g}, finite differences within {fd_tol:g} of closed form",
        measured=f"autograd error {auto_err:.1e}, finite-difference error {fd_err:.1e}",
        max_error=torch.tensor([auto_err, fd_err]).max().item(),
        passed=auto_err <= tol and fd_err <= fd_tol,
    )


# d2l writes these rules as gradients (∇ₓAx = Aᵀ); torch's Jacobian is the transpose of that
# layout, rows indexed by outputs, so ∂(Ax)/∂x = A. The rules are derived in the appendix
# section 22.4 Multivariable Calculus ("A Little Matrix Calculus").


def derivative_of_3x2_minus_4x(gen, tol):
    x = torch.tensor(1.0, dtype=torch.float64)  # the book's u = f(x) = 3x² - 4x at x = 1
    return compare_gradient("d(3x² - 4x)/dx at x=1 = 2", CALCULUS,
                            lambda x: 3 * x**2 - 4 * x, x, 2.0, tol)


def jacobian_of_Ax(gen, tol):
    A, x = randn(gen, 3, 4), randn(gen, 4)
    return compare_gradient("∂(Ax)/∂x = A", CALCULUS, lambda x: A @ x, x, A, tol)


def jacobian_of_xTA(gen, tol):
    A, x = randn(gen, 4, 3), randn(gen, 4)
    return compare_gradient("∂(xᵀA)/∂x = Aᵀ", CALCULUS, lambda x: x @ A, x, A.T, tol)


def gradient_of_quadratic_form(gen, tol):
    A, x = randn(gen, 4, 4), randn(gen, 4)  # not symmetric, so Aᵀ really matters
    return compare_gradient("∂(xᵀAx)/∂x = (A + Aᵀ)x", CALCULUS, lambda x: x @ A @ x, x,
                            (A + A.T) @ x, tol)


def gradient_of_squared_norm(gen, tol):
    x = randn(gen, 5)
    return compare_gradient("∂‖x‖²/∂x = 2x", CALCULUS,
                            lambda x: torch.linalg.vector_norm(x) ** 2, x, 2 * x, tol)


def gradient_of_squared_frobenius_norm(gen, tol):
    X = randn(gen, 3, 4)
    return compare_gradient("∂‖X‖_F²/∂X = 2X", CALCULUS,
                            lambda X: torch.linalg.matrix_norm(X) ** 2, X, 2 * X, tol)


def chain_rule_composite(gen, tol):
    x = randn(gen, 4)
    # y = sin(x²)·eˣ elementwise. Product rule, then chain rule on sin(x²):
    # dy/dx = cos(x²)·2x·eˣ + sin(x²)·eˣ; the Jacobian of an elementwise map is diagonal.
    hand = torch.diag(torch.cos(x**2) * 2 * x * torch.exp(x) + torch.sin(x**2) * torch.exp(x))
    return compare_gradient("chain rule: d[sin(x²)·eˣ]/dx", CALCULUS,
                            lambda x: torch.sin(x**2) * torch.exp(x), x, hand, tol)


# --- 2.5 Automatic Differentiation -------------------------------------------------------------


def gradient_of_2xTx(gen, tol):
    x = torch.arange(4.0, dtype=torch.float64, requires_grad=True)  # the book's first example
    (2 * torch.dot(x, x)).backward()
    return numeric("backward of y = 2xᵀx", AUTOGRAD, "x.grad = 4x", x.grad, 4 * x.detach(), tol)


def gradients_accumulate_until_zeroed(gen, tol):
    x = randn(gen, 4).requires_grad_()
    (x * x).sum().backward()
    first = x.grad.clone()
    (x * x).sum().backward()  # no zero_() in between: PyTorch adds to x.grad
    twice = x.grad.clone()
    x.grad.zero_()
    x.sum().backward()
    d = x.detach()
    return numeric("gradients accumulate until zeroed", AUTOGRAD,
                   "2x, then 4x after a second backward, then ones after zero_()",
                   (first, twice, x.grad), (2 * d, 4 * d, torch.ones(4)), tol)


def detach_stops_gradient(gen, tol):
    x = randn(gen, 4).requires_grad_()
    y = x * x
    u = y.detach()  # same values as y, but a constant to autograd
    (u * x).sum().backward()
    through_u = x.grad.clone()
    x.grad = None
    y.sum().backward()  # y itself is still connected to x
    return numeric("detach stops the gradient", AUTOGRAD,
                   "z = u·x with u = y.detach(): x.grad = u; y's own gradient is 2x",
                   (through_u, x.grad), (u, 2 * x.detach()), tol)


def _book_f(a: Tensor) -> Tensor:
    """The book's f: how often b doubles, and which branch runs, depend on a's value."""
    b = a * 2
    while b.norm() < 1000:
        b = b * 2
    c = b if b.sum() > 0 else 100 * b
    return c


def backward_through_control_flow(gen, tol):
    # f is linear in a along whichever path runs, f(a) = k·a, so df/da = f(a)/a. Compare the
    # ratio a.grad / (f(a)/a) with 1: the gradient itself can be ~1e5, so absolute error misleads.
    magnitude = randn(gen).abs() + 0.1
    ratios = []
    for a0 in (magnitude, -magnitude):  # a positive and a negative a take both branches
        a = a0.clone().requires_grad_()
        d = _book_f(a)
        d.backward()
        ratios.append(a.grad / (d.detach() / a.detach()))
    return numeric("backward through Python control flow", AUTOGRAD,
                   "a.grad = f(a)/a for a > 0 and a < 0", ratios, (1.0, 1.0), tol)


def backward_of_non_scalar(gen, tol):
    x = randn(gen, 4).requires_grad_()
    (x * x).sum().backward()  # backward needs a scalar: sum the vector first
    via_sum = x.grad.clone()
    x.grad = None
    y = x * x
    y.backward(gradient=torch.ones_like(y))  # the same thing, spelled as a vector-Jacobian
    return numeric("backward of a non-scalar via sum", AUTOGRAD,
                   "y = x*x: y.sum().backward() and y.backward(ones) both give 2x",
                   (via_sum, x.grad), (2 * x.detach(), 2 * x.detach()), tol)


def default_nets(seed: int = 0) -> dict[str, nn.Module]:
    """Small plain-torch stand-ins for the project's linear, softmax and MLP nets."""
    with torch.random.fork_rng(devices=[]):  # seed the init without touching global RNG
        torch.manual_seed(seed)
        return {
            "linear regression": nn.Linear(4, 1),
            "softmax regression": nn.Sequential(nn.Linear(20, 3), nn.LogSoftmax(dim=1)),
            "MLP": nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 3)),
        }


def _gradcheck_one(name: str, net: nn.Module, gen, input_shape) -> Check:
    # float64 so gradcheck's finite differences are meaningful; eval() so dropout, if any,
    # doesn't make the forward pass random.
    net = copy.deepcopy(net).double().eval()
    if input_shape is None:
        first = next((m for m in net.modules() if hasattr(m, "in_features")), None)
        if first is None:
            raise ValueError(f"can't infer the input shape of {name!r}; pass input_shapes")
        input_shape = (3, first.in_features)
    names = [n for n, _ in net.named_parameters()]
    params = [p.detach().clone().requires_grad_() for _, p in net.named_parameters()]
    x = randn(gen, *input_shape).requires_grad_()

    def forward(x, *params):  # parameters as inputs, so their gradients are checked too
        return functional_call(net, dict(zip(names, params, strict=True)), (x,))

    size = x.numel() + sum(p.numel() for p in params)
    fast = size > 5000  # full mode perturbs every number; fast mode one random direction
    ok = torch.autograd.gradcheck(forward, (x, *params), eps=FD_EPS, fast_mode=fast,
                                  raise_exception=False)
    # gradcheck only answers yes/no, so also measure an error: the directional derivative
    # along random u of vᵀ·forward, by autograd and by a central difference.
    inputs = (x, *params)
    u = [randn(gen, *t.shape) for t in inputs]
    out = forward(*inputs)
    v = randn(gen, *out.shape)
    grads = torch.autograd.grad((v * out).sum(), inputs)
    by_autograd = sum((g * d).sum() for g, d in zip(grads, u, strict=True))
    with torch.no_grad():
        up = forward(*(t + FD_EPS * d for t, d in zip(inputs, u, strict=True)))
        down = forward(*(t - FD_EPS * d for t, d in zip(inputs, u, strict=True)))
    by_fd = (v * (up - down)).sum() / (2 * FD_EPS)
    err = abs(by_autograd - by_fd).item()
    return Check(f"gradcheck: {name} (input and parameters)", AUTOGRAD,
                 "torch.autograd.gradcheck passes in float64",
                 f"{'passed' if ok else 'FAILED'} ({'fast' if fast else 'full'} mode, "
                 f"{size} numbers); directional error {err:.1e}", err, bool(ok))


def gradcheck_models(nets: dict[str, nn.Module], seed: int = 0,
                     input_shapes: dict[str, tuple[int, ...]] | None = None) -> list[Check]:
    """gradcheck each net's forward pass; inputs are (3, in_features) unless given."""
    gen = torch.Generator().manual_seed(seed)
    shapes = input_shapes or {}
    rows = []
    for name, net in nets.items():
        rows += run_check(_gradcheck_one, AUTOGRAD, name, net, gen, shapes.get(name))
    return rows


CHECKS = [
    (DATA, [broadcasting_column_plus_row, broadcasting_aligns_trailing_axes,
            broadcasting_mismatch_raises, out_of_place_allocates, slice_assignment_in_place,
            augmented_assignment_in_place, numpy_view_shares_memory,
            from_numpy_shares_tensor_copies, view_shares_storage,
            noncontiguous_view_fails_reshape_copies]),
    (LINALG, [transpose_swaps_indices, sum_with_transpose_is_symmetric, hadamard_product,
              sum_along_axes, mean_is_sum_over_count, keepdims_broadcasts_back, dot_product,
              matrix_vector_product, matrix_matrix_product, l2_norm, l1_norm, frobenius_norm]),
    (CALCULUS, [derivative_of_3x2_minus_4x, jacobian_of_Ax, jacobian_of_xTA,
                gradient_of_quadratic_form, gradient_of_squared_norm,
                gradient_of_squared_frobenius_norm, chain_rule_composite]),
    (AUTOGRAD, [gradient_of_2xTx, gradients_accumulate_until_zeroed, detach_stops_gradient,
                backward_through_control_flow, backward_of_non_scalar]),
]


def run_checks(tolerance: float = 1e-6, seed: int = 0,
               nets: dict[str, nn.Module] | None = None) -> list[Check]:
    """Run every check in book order; `nets` replaces the default gradcheck models."""
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for chapter, checks in CHECKS:
        for check in checks:
            rows += run_check(check, chapter, gen, tolerance)
    rows += run_check(gradcheck_models, AUTOGRAD,
                      default_nets(seed) if nets is None else nets, seed)
    return rows
