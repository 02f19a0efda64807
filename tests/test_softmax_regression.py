"""experiments/studies/softmax_regression.py: the ten weight templates the best member
learned, drawn alike for both styles, and the dataset's first images as d2l 4.2 shows
them."""

import pytest
import torch

from experiments.studies.softmax_regression import samples_figure, templates_figure
from modules import SoftmaxRegression

CLASSES = [f"class {c}" for c in range(10)]


@pytest.mark.parametrize("style", ["scratch", "concise"])
def test_each_classs_template_is_its_row_of_w_on_one_symmetric_scale(style):
    # Class c's template: pixel values c - 4.5 ... a known image per class, whichever way
    # the style stores W (scratch: inputs × outputs; nn.Linear: outputs × inputs).
    templates = torch.arange(10.0).reshape(10, 1, 1) - 4.5 + torch.zeros(10, 28, 28)
    templates[3, 0, 0] = 7.0  # the largest |weight|, so the scale's limit
    model = SoftmaxRegression(style=style)
    W = next(p for p in model.parameters() if p.ndim == 2)
    with torch.no_grad():
        W.copy_(templates.reshape(10, 784).T if style == "scratch" else templates.reshape(10, 784))
    axes = templates_figure(model, CLASSES).axes[:10]
    for c, ax in enumerate(axes):
        (image,) = ax.get_images()
        assert torch.equal(torch.as_tensor(image.get_array()), templates[c])
        assert image.get_clim() == (-7.0, 7.0)
        assert ax.get_title() == CLASSES[c]


class Images:
    """The datamodule's part samples_figure reads: a training split and class names."""

    def __init__(self, X, y):
        self.splits = {"train": torch.utils.data.TensorDataset(X, y)}
        self.classes = CLASSES


def test_the_samples_are_the_first_training_images_titled_with_their_class():
    X = torch.rand(30, 1, 28, 28)
    y = torch.arange(30) % 10
    axes = samples_figure(Images(X, y)).axes
    assert len(axes) == 18
    for k, ax in enumerate(axes):
        assert torch.equal(torch.as_tensor(ax.get_images()[0].get_array()), X[k, 0])
        assert ax.get_title() == CLASSES[y[k]]
