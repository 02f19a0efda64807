"""Studies of classifiers on Fashion-MNIST: the best member on validation gets a confusion
matrix (validation) and a grid of its misclassified test images, and the takeaway names it
beside the spread of the others."""

from experiments.engine import report
from experiments.engine.figures import confusion_figure, misclassified_figure
from experiments.engine.plan import Member, Plan
from experiments.engine.study import Study


def best_on_validation(plan: Plan, results: list[dict], needs: str = "val/acc"
                       ) -> tuple[Member, dict] | None:
    """The trained member with the highest val/acc among those whose metrics have `needs`:
    validation chooses, the test split picks nothing."""
    trained = [(m, r) for m, r in zip(plan.members, results, strict=True)
               if needs in r["metrics"] and "val/acc" in r["metrics"] and m.checkpoint.exists()]
    return max(trained, key=lambda mr: mr[1]["metrics"]["val/acc"], default=None)


class FashionStudy(Study):
    def takeaway(self, plan: Plan, results: list[dict]) -> str:
        best = best_on_validation(plan, results)
        if best is None:
            return ""
        member, result = best
        accs = [r["metrics"]["val/acc"] for r in results if "val/acc" in r["metrics"]]
        text = (f"Best on validation: **{member.name}**, val acc "
                f"{result['metrics']['val/acc']:.3f}")
        if "test/acc" in result["metrics"]:
            text += f", test acc {result['metrics']['test/acc']:.3f}"
        text += f"; the {len(accs)} members span val acc {min(accs):.3f}–{max(accs):.3f}."
        return text

    def figures(self, plan: Plan, results: list[dict]) -> list[report.Figure]:
        figures, loaded = [], {}

        def trained(member: Member):  # each member's model and data loaded once
            if member.name not in loaded:
                loaded[member.name] = plan.trained(member)
            return loaded[member.name]

        if best := best_on_validation(plan, results):
            member = best[0]
            model, data = trained(member)
            figures += self.best_figures(member, model, data)
            caption = (f"Confusion matrix of the best member on validation, {member.name}, on "
                       "the validation split: rows the true class, columns the predicted one")
            figures.append(report.Figure("confusion", caption, confusion_figure(model, data)))
        if tested := best_on_validation(plan, results, needs="test/acc"):
            member = tested[0]
            model, data = trained(member)
            caption = (f"Test images that {member.name} (the best on validation among the "
                       "members scored on test) gets wrong, true over predicted label")
            figure = misclassified_figure(model, data)
            figures.append(report.Figure("misclassified", caption, figure))
        return figures

    def best_figures(self, member: Member, model, data) -> list[report.Figure]:
        """More figures of the best member on validation (a subclass draws its own)."""
        return []
