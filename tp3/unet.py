"""The U-Net of the handout (§4, Ex 5-6), built from its two blocks.

Each ``DownConvBlock`` is two 3x3 convolutions with ReLU followed by 2x2 max pooling;
each ``UpConvBlock`` is a 2x2 up-convolution (``Conv2DTranspose``, stride 2) halving the
channels, a concatenation with the skip connection and two 3x3 convolutions with ReLU.
'same' padding keeps the skips aligned, so 96 -> 48 -> 24 -> 12 -> 6 and back. With
base width ``f``, 4 input channels, 4 classes, depth 4 and no normalisation layers the
network has ``7574 f^2 + 147 f + 4`` parameters (f=16: 1,941,300; f=64: 31,032,516).

Ex 5   ``DownConvBlock``, ``UpConvBlock``, ``build_unet``
Ex 6   ``plot_unet`` (the counts Ex 6 asks for are the student's to make: the kit does not ship them)
"""

from __future__ import annotations

import keras
from keras import layers

from .preprocessing import COURSE_SHAPE
from .layout import MODALITIES
from . import settings
from .settings import N_CLASSES, UNET_DEPTH

#: One course slice: 96 x 96 pixels, one channel per modality.
INPUT_SHAPE = COURSE_SHAPE[1:] + (len(MODALITIES),)


def _check_feature_map(x, where: str) -> None:
    shape = tuple(x.shape)
    if len(shape) != 4:
        raise ValueError(f"{where} expects a batch of feature maps (batch, height, width, "
                         f"channels), got a tensor of shape {shape}")


def DownConvBlock(x, filters: int):
    """Contracting step: ``(B, H, W, C) -> (skip (B, H, W, filters), pooled (B, H/2, W/2, filters))``. Ex 5."""
    _check_feature_map(x, "DownConvBlock")
    if x.shape[1] is not None and (x.shape[1] % 2 or x.shape[2] % 2):
        raise ValueError(f"DownConvBlock: height and width must be even to pool by 2, got "
                         f"{tuple(x.shape[1:3])}; use an input whose sides divide by 2**depth")
    x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
    skip = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
    pooled = layers.MaxPooling2D(2)(skip)
    return skip, pooled


def UpConvBlock(x, skip, filters: int):
    """Expanding step: ``x (B, H, W, 2 filters)`` and ``skip (B, 2H, 2W, filters)`` -> ``(B, 2H, 2W, filters)``. Ex 5."""
    _check_feature_map(x, "UpConvBlock")
    _check_feature_map(skip, "UpConvBlock (skip)")
    x = layers.Conv2DTranspose(filters, 2, strides=2, padding="same")(x)
    if tuple(x.shape[1:3]) != tuple(skip.shape[1:3]):
        raise ValueError(f"UpConvBlock: the up-sampled map {tuple(x.shape[1:3])} does not match "
                         f"the skip connection {tuple(skip.shape[1:3])}")
    x = layers.Concatenate(axis=-1)([skip, x])
    x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
    return layers.Conv2D(filters, 3, padding="same", activation="relu")(x)


def build_unet(width: int | None = None, input_shape=INPUT_SHAPE, n_classes: int = N_CLASSES,
               depth: int = UNET_DEPTH, down_block=None, up_block=None) -> keras.Model:
    """U-Net: ``(B, 96, 96, 4)`` float32 -> ``(B, 96, 96, 4)`` class probabilities (softmax). Ex 5-6.

    ``width`` is the number of filters of the first level (doubled at each level down);
    its defaults live in :mod:`tp3.settings` (read now: ``UNET_WIDTH_CPU`` when not given).
    ``down_block``/``up_block`` replace :func:`DownConvBlock`/:func:`UpConvBlock` (the notebook
    passes the students' own). Mixed precision: build it inside :func:`tp3.precision.precision`.
    """
    width = settings.UNET_WIDTH_CPU if width is None else width
    down_block = down_block or DownConvBlock
    up_block = up_block or UpConvBlock
    if len(input_shape) != 3:
        raise ValueError(f"input_shape is (height, width, channels), got {input_shape}")
    if input_shape[0] % 2 ** depth or input_shape[1] % 2 ** depth:
        raise ValueError(f"input sides {input_shape[:2]} must divide by 2**depth = {2 ** depth}")
    if width < 1:
        raise ValueError(f"width must be a positive number of filters, got {width}")
    inputs = keras.Input(shape=input_shape, name="mri")
    x, skips = inputs, []
    for level in range(depth):
        skip, x = down_block(x, width * 2 ** level)
        skips.append(skip)
    x = layers.Conv2D(width * 2 ** depth, 3, padding="same", activation="relu")(x)
    x = layers.Conv2D(width * 2 ** depth, 3, padding="same", activation="relu")(x)
    for level in reversed(range(depth)):
        x = up_block(x, skips[level], width * 2 ** level)
    # float32 head whatever the policy: softmax probabilities and the loss need its range.
    outputs = layers.Conv2D(n_classes, 1, activation="softmax", name="classes", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=f"unet_f{width}")


def plot_unet(model: keras.Model, path="model.png", dpi: int = 48):
    """Write the graph of the model to ``path`` with ``keras.utils.plot_model`` (needs graphviz). Ex 6.

    Layer types and output shapes, without the generated layer names, top to bottom, at a
    resolution whose text stays readable when the image is shown at its own size.
    """
    keras.utils.plot_model(model, to_file=str(path), show_shapes=True, show_layer_names=False,
                           rankdir="TB", dpi=dpi)
    return path
