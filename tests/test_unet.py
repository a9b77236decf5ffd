"""The U-Net of Ex 5-6: blocks, parameter count, smallest map, plot, bad shapes."""

from __future__ import annotations

import keras
import pytest

from tp3.unet import DownConvBlock, UpConvBlock, build_unet, plot_unet

pytestmark = pytest.mark.keras


@pytest.mark.parametrize("width", [4, 8])
def test_parameter_count_formula(width):
    assert build_unet(width).count_params() == 7574 * width ** 2 + 147 * width + 4


def test_shapes_and_smallest_map():
    model = build_unet(4)
    assert tuple(model.input.shape) == (None, 96, 96, 4)
    assert tuple(model.output.shape) == (None, 96, 96, 4)
    maps = [tuple(layer.output.shape[1:3]) for layer in model.layers if len(layer.output.shape) == 4]
    assert min(maps, key=lambda s: s[0] * s[1]) == (6, 6)
    convolutions = [layer for layer in model.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose))]
    assert len(convolutions) == 23  # 18 3x3 convs, 4 up-convolutions, the 1x1 head
    assert model.layers[-1].activation.__name__ == "softmax"


def test_blocks():
    x = keras.Input((96, 96, 4))
    skip, pooled = DownConvBlock(x, 8)
    assert tuple(skip.shape) == (None, 96, 96, 8) and tuple(pooled.shape) == (None, 48, 48, 8)
    up = UpConvBlock(keras.Input((48, 48, 16)), skip, 8)
    assert tuple(up.shape) == (None, 96, 96, 8)


def test_bad_shapes_say_what_is_wrong():
    with pytest.raises(ValueError, match="divide by 2\\*\\*depth"):
        build_unet(4, input_shape=(100, 100, 4))
    with pytest.raises(ValueError, match="batch of feature maps"):
        DownConvBlock(keras.Input((96, 4)), 8)
    with pytest.raises(ValueError, match="does not match the skip"):
        UpConvBlock(keras.Input((12, 12, 16)), keras.Input((48, 48, 8)), 8)
    with pytest.raises(ValueError, match="positive"):
        build_unet(0)


def test_summary_and_plot(tmp_path):
    model = build_unet(4)
    lines = []
    model.summary(print_fn=lambda line, **kwargs: lines.append(line))
    assert any("121,776" in line for line in lines)
    path = plot_unet(model, tmp_path / "model.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
