"""Figures drawn by a second process: the same PNG as drawn in place, written before the
suite ends, and a failure reported rather than lost."""

from matplotlib.figure import Figure

from experiments.engine import drawing


def figure() -> Figure:
    figure = Figure(figsize=(3, 2), layout="constrained")
    figure.subplots().plot([1, 2, 3], [3, 1, 2], label="val/loss")
    return figure


def test_without_the_background_a_figure_is_drawn_at_once():
    drawn = {}
    drawing.when_drawn({"curves": figure()}, drawn.update, "study")
    assert drawn["curves"].startswith(b"\x89PNG")


def test_figures_drawn_in_the_background_are_handed_on_before_it_closes():
    drawn, in_place = {}, drawing.png(figure())

    def fails(images):
        raise OSError("No space left on device")

    with drawing.in_background() as failures:
        drawing.when_drawn({"a": figure(), "b": figure()}, drawn.update, "first")
        drawing.when_drawn({"c": figure()}, fails, "second")
    assert drawn == {"a": in_place, "b": in_place}  # the same bytes as drawn here
    assert failures == ["second: No space left on device"]
    drawing.when_drawn({"d": figure()}, drawn.update, "third")  # in place again
    assert "d" in drawn
