"""Studies of classifiers on Fashion-MNIST: the book's members beside the book's numbers,
the members the YAML compares (`compared`) pair by pair against their noise over seeds, and
the best member on validation with a confusion matrix (validation) and a grid of its
misclassified test images."""

import math
from itertools import combinations

from experiments.engine import report
from experiments.engine.aggregate import Result, beyond_noise, difference
from experiments.engine.figures import confusion_figure, misclassified_figure
from experiments.engine.headline import Headline, beside_the_book, books_members, metric
from experiments.engine.plan import Member, Plan
from experiments.engine.report import pm
from experiments.engine.study import Study


def best_on_validation(plan: Plan, results: list[Result], needs: str = "val/acc"
                       ) -> tuple[Member, dict] | None:
    """The trained member with the highest val/acc among those whose metrics have `needs`:
    validation chooses, the test split picks nothing."""
    trained = [(m, r) for m, r in zip(plan.members, results, strict=True)
               if needs in r["metrics"] and "val/acc" in r["metrics"] and m.checkpoint.exists()]
    return max(trained, key=lambda mr: mr[1]["metrics"]["val/acc"], default=None)


def resolution(result: Result, key: str) -> float:
    """The smallest difference in an accuracy that its test examples resolve: the test
    sampling standard error √(p(1 − p)/n) (0 where there is no count)."""
    n, p = result["metrics"].get(f"{key.partition('/')[0]}/examples"), result["metrics"][key]
    return math.sqrt(p * (1 - p) / n) if n and key.endswith("acc") else 0.0


def comparisons(results: list[Result], names: list[str], key: str = "test/acc") -> str:
    """Each pair of the named members' `key`, its difference called only beyond two
    standard errors over seeds (paired by seed: aggregate.difference) and beyond what the
    test examples resolve (two members that differ by a few test images are alike)."""
    by_name = {r["member"]: r for r in results}
    said = []
    for a, b in combinations([n for n in names if key in by_name.get(n, {}).get("metrics", {})],
                             2):
        d, se = difference(by_name[a], by_name[b], key)
        if abs(d) < (least := resolution(by_name[a], key)):
            said.append(f"{a} and {b} differ by {d:+.2g}, less than the {least:.2g} their "
                        "test images resolve: alike")
        elif beyond_noise(d, se):
            better, worse = (a, b) if d > 0 else (b, a)
            said.append(f"{better} beats {worse} by {pm(abs(d), se, '.2g')}")
        else:
            said.append(f"{a} and {b} differ by {pm(d, se, '+.2g')}, within noise")
    return f"In {key}: " + "; ".join(said) + "." if said else ""


def beside_the_books(plan: Plan, results: list[Result]) -> str:
    """Each of the book's members' numbers (the YAML's `book`), ours beside the book's."""
    said = [f"{e['member']}'s {e['metric']} is {metric(r, e['metric'])} against the book's "
            f"≈ {e['value']:g} ({e['where']})"
            for e, r in books_members(plan.experiment.book, results) if r]
    return "; ".join(said) + "." if said else ""


def split_note(plan: Plan) -> str:
    """How fitlab's splits differ from the book's, in numbers from the settings."""
    data = plan.members[0].config.data.init_args
    train = getattr(data, "train_size", None) or 60000 - data.val_size
    return (f"fitlab trains on {train} images and validates on {data.val_size} held out of "
            "the 60000 training images; the test split is the official 10000. The book trains "
            "on all 60000 and validates on the test split.")


class FashionStudy(Study):
    def __init__(self, compared: list[str] | None = None, **kwargs):
        """
        Args:
            compared: members whose test accuracies the takeaway compares pair by pair, a
                difference called only beyond its noise over seeds (aggregate's rule).
        """
        super().__init__(**kwargs)
        self.compared = compared or []

    def named_members(self) -> dict[str, list[str]]:
        return {**super().named_members(), "compared": self.compared}

    def takeaway(self, plan: Plan, results: list[Result]) -> str:
        sentences = [beside_the_books(plan, results), comparisons(results, self.compared)]
        if best := best_on_validation(plan, results):
            member, result = best
            text = f"Best on validation: **{member.name}**, val acc {metric(result, 'val/acc')}"
            if "test/acc" in result["metrics"]:
                text += f", test acc {metric(result, 'test/acc')}"
            sentences.append(text + ".")
        return " ".join(s for s in (*sentences, split_note(plan)) if s)

    def headline(self, plan: Plan, results: list[Result]) -> Headline:
        ours, book = beside_the_book(plan.experiment.book, results)
        return Headline(ours, book, comparisons(results, self.compared) or "–")

    def figures(self, plan: Plan, results: list[Result]) -> list[report.Figure]:
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
