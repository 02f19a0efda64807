"""`foundations` (chapters 4–7): every identity of experiments/foundations_checks.py, run
and reported as a table (summary.md, summary.json, TensorBoard text). Nothing is trained."""

from dataclasses import asdict

from torch.utils.tensorboard import SummaryWriter

from experiments.engine import report
from experiments.engine.files import write_atomically
from experiments.engine.headline import Headline, write_headline
from experiments.engine.plan import Plan
from experiments.engine.study import Study
from experiments.studies.foundations_checks import run_checks
from modules import LinearRegression, SoftmaxRegression


class Foundations(Study):
    one_process = "foundations checks identities in one process and trains nothing"

    def __init__(self, tolerance: float = 1e-6, **kwargs):
        """
        Args:
            tolerance: largest absolute error a float identity may show and still pass.
        """
        super().__init__(**kwargs)
        self.tolerance = tolerance

    def selected_members(self) -> dict[str, dict]:
        # The checks are one table made in seconds: there is no member to pick or to wait for.
        if self.member is not None or self.report_only:
            raise ValueError("--study.member and --study.report_only do not apply: its checks "
                             "run together in seconds; leave them unset")
        return super().selected_members()

    def run(self, plan: Plan) -> list[dict]:
        # gradcheck runs on the project's own models, at the book's sizes.
        nets = {
            "LinearRegression": LinearRegression().net,
            "SoftmaxRegression": SoftmaxRegression().net,
        }
        checks = run_checks(self.tolerance, plan.base.seed, nets)
        rows = [
            {"check": c.name, "chapter": c.chapter, "expected": c.expected,
             "measured": c.measured, "max error": c.max_error,
             "result": "pass" if c.passed else "FAIL"}
            for c in checks
        ]
        passed = sum(c.passed for c in checks)
        verdict = f"{passed} of {len(checks)} checks pass (tolerance {self.tolerance:g})."
        plan.folder.mkdir(parents=True, exist_ok=True)
        write_atomically(plan.folder / "summary.json",
                         report.json_text([asdict(c) for c in checks]))
        experiment = plan.experiment
        md = [f"# {experiment.name} (chapter {experiment.chapter})", "",
              experiment.description, "", verdict, "", *report.table(rows), ""]
        write_atomically(plan.folder / "summary.md", "\n".join(md))
        failed = ", ".join(c.name for c in checks if not c.passed)
        takeaway = (f"failing: {failed}" if failed else "every identity of chapters 4–7 "
                    "holds numerically: tensors, linear algebra, matrix calculus, autograd")
        write_headline(plan.folder, Headline(verdict.removesuffix("."), takeaway=takeaway))
        with SummaryWriter(log_dir=str(plan.folder)) as writer:
            writer.add_text("foundations/checks", "\n".join(md))
        width = max(len(c.name) for c in checks)
        for c in checks:
            print(f"{'pass' if c.passed else 'FAIL'}  {c.name:<{width}}  {c.max_error:.1e}")
        print(f"\n{experiment.name}: {verdict} {plan.folder / 'summary.md'}")
        return [{"member": c.name, "status": "completed" if c.passed else "failed"}
                for c in checks]
