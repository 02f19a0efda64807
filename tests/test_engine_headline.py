"""Each study's declared headline, as runs/index.md shows it."""

import pytest

from experiments.engine import config, headline, index, registry
from experiments.engine.aggregate import merge_seeds
from experiments.engine.headline import Headline


def run(name: str, **metrics) -> dict:
    return {"member": name, "status": "completed", "epochs": 10, "seconds": 1.0,
            "metrics": metrics}


def test_the_book_member_stands_beside_the_books_number_with_its_seeds():
    results = merge_seeds([run(f"scratch,seed={i}", **{"test/acc": acc, "test/examples": 10000})
                           for i, acc in enumerate([0.82, 0.83, 0.84])]
                          + [run("tuned", **{"test/acc": 0.88})])
    book = ({"member": "scratch", "metric": "test/acc", "value": 0.83, "where": "d2l 4.4"},)
    ours, theirs = headline.beside_the_book(book, results)
    # mean 0.83, se = 0.01 / √3 ≈ 0.0058 over seeds; the Wilson interval of 8300 of 10000
    # test images, test sampling alone; the tuned member is not the book's and stays apart
    assert ours == "scratch test/acc 0.83 ± 0.0058 (3 seeds; test sampling [0.823, 0.837])"
    assert "tuned" not in ours
    assert theirs == "scratch test/acc ≈ 0.83 (d2l 4.4)"


def test_verdicts_are_counted_per_setup():
    columns = {"width=2": {"verdict by width": "underfitting"},
               "width=8": {"verdict by width": "good fit"},
               "size=250": {"verdict by size": "overfitting"}}
    assert headline.count_verdicts(columns) == "by width: 1 underfitting, 1 good fit; " \
                                               "by size: 1 overfitting"
    assert headline.count_verdicts({}) == "–"


def test_the_index_shows_each_studys_own_headline(tmp_path):
    folder = tmp_path / "mlp"
    folder.mkdir()
    (folder / "summary.json").write_text("[]")
    (folder / "summary.md").write_text("![confusion](confusion.png)")
    headline.write_headline(folder, Headline("relu test/acc 0.84", "relu ≈ 0.85", "a | b"))
    text = index.write_index(tmp_path).read_text()
    row = next(line for line in text.splitlines() if line.startswith("| mlp "))
    assert "relu test/acc 0.84 | relu ≈ 0.85 | a \\| b |" in row
    assert "[confusion](mlp/confusion.png)" in row


@pytest.mark.parametrize("name", [n for n in registry.names() if registry.load(n).book])
def test_every_book_number_names_a_member_the_test_split_scores(name):
    """Like for like: the book's number beside the same member, one scored on test when
    the book's metric is a test metric."""
    study, _ = config.plan(registry.load(name), [])
    members = study.all_members()
    for entry in registry.load(name).book:
        assert entry["member"] in members
        if entry["metric"].startswith("test/"):
            assert study.is_final(entry["member"])
