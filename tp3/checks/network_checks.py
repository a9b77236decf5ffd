"""Self-checks of Part 2, the network (Ex 5-6).

Ex 5 judges the blocks by what they compute, not only by their shapes: each block, built on a
known input, gets the weights of the handout's block (:mod:`tp3.unet`) and must give the same
output — which a missing or other activation, a skip taken after the first convolution or
another pooling do not.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..settings import N_CLASSES, UNET_DEPTH
from .common import attempt, expect, first_line, ok, self_check, shape

#: The blocks are tried on these: (input), then (input from below, skip), and this many filters.
DOWN_INPUT, UP_INPUTS, FILTERS = (96, 96, 4), ((48, 48, 16), (96, 96, 8)), 8
CONVOLUTION = "Conv2D"


def _from_the_kit(function) -> bool:
    return str(getattr(function, "__module__", "")).split(".")[0] == "tp3"


def _down_model(down_block):
    import keras

    x = keras.Input(DOWN_INPUT)
    result = down_block(x, FILTERS)
    expect(isinstance(result, (tuple, list)) and len(result) == 2, "Ex 5",
           "DownConvBlock should return two tensors", "return skip, pooled")
    return keras.Model(x, list(result), name="student_down")


def _up_model(up_block):
    import keras

    x, skip = keras.Input(UP_INPUTS[0]), keras.Input(UP_INPUTS[1])
    return keras.Model([x, skip], up_block(x, skip, FILTERS), name="student_up")


def _ex5(down_block, up_block) -> dict:
    from ..unet import build_unet

    down = attempt("Ex 5", "DownConvBlock", lambda: _down_model(down_block), "it takes (x, filters) and returns (skip, pooled)")
    up = attempt("Ex 5", "UpConvBlock", lambda: _up_model(up_block),
                 "the up-convolution must double the size to match the skip: Conv2DTranspose(filters, 2, "
                 "strides=2, padding='same'), then Concatenate()([skip, x])")
    try:  # judged after the blocks' own shapes, which name the slip better
        unet = build_unet(4, down_block=down_block, up_block=up_block)
    except Exception as error:  # the student's code
        unet = first_line(error)[:300]
    imported = [name for name, f in (("DownConvBlock", down_block), ("UpConvBlock", up_block)) if _from_the_kit(f)]
    return dict(down=down, up=up, unet=unet, imported=imported)


def _unet_parameters(width: int) -> int:
    """Parameters of the handout's U-Net (depth 4, 4 inputs, 4 classes), counted by hand."""
    def conv(k, c_in, c_out):
        return k * k * c_in * c_out + c_out

    total, channels = 0, 4
    for level in range(UNET_DEPTH):
        f = width * 2 ** level
        total += conv(3, channels, f) + conv(3, f, f)
        channels = f
    bottom = width * 2 ** UNET_DEPTH
    total += conv(3, channels, bottom) + conv(3, bottom, bottom)
    for level in reversed(range(UNET_DEPTH)):
        f = width * 2 ** level
        total += conv(2, 2 * f, f) + conv(3, 2 * f, f) + conv(3, f, f)
    return total + conv(1, width, N_CLASSES)


def _reference(kind: str):
    import keras

    from .. import unet

    if kind == "down":
        x = keras.Input(DOWN_INPUT)
        return keras.Model(x, list(unet.DownConvBlock(x, FILTERS)))
    x, skip = keras.Input(UP_INPUTS[0]), keras.Input(UP_INPUTS[1])
    return keras.Model([x, skip], unet.UpConvBlock(x, skip, FILTERS))


def _run(model, inputs) -> list:
    import keras

    with warnings.catch_warnings():  # a model of one input called with it alone: Keras warns, and is right
        warnings.simplefilter("ignore", UserWarning)
        outputs = model(inputs, training=False)
    return [keras.ops.convert_to_numpy(o) for o in (outputs if isinstance(outputs, (list, tuple)) else [outputs])]


def _behaves_as_reference(student, kind: str, rng) -> tuple[bool, object]:
    """``(same, reference)``: the student's block given the reference block's
    weights (random, biases too), on a random input; the concatenation's two orders are both right."""
    reference = _reference(kind)
    weights = [rng.normal(0, 0.3, w.shape).astype("float32") for w in reference.get_weights()]
    reference.set_weights(weights)
    shapes = [tuple(w.shape) for w in student.get_weights()]
    inputs = [rng.normal(0, 1, (2,) + s).astype("float32") for s in ((DOWN_INPUT,) if kind == "down" else UP_INPUTS)]
    inputs = inputs[0] if kind == "down" else inputs
    expected = _run(reference, inputs)
    variants = [weights]
    if kind == "up":  # [x, skip] instead of [skip, x]: the next kernel's input channels swapped
        swapped = list(weights)
        swapped[2] = np.concatenate([weights[2][:, :, FILTERS:], weights[2][:, :, :FILTERS]], axis=2)
        variants.append(swapped)
    for variant in variants:
        if shapes != [tuple(w.shape) for w in variant]:
            return False, reference
        student.set_weights(variant)
        got = _run(student, inputs)
        if len(got) == len(expected) and all(np.allclose(g, e, atol=1e-4, rtol=1e-4) for g, e in zip(got, expected)):
            return True, reference
    return False, reference


def _activation_slip(model, block: str) -> None:
    convolutions = [layer for layer in model.layers if type(layer).__name__ == CONVOLUTION]
    activations = {str(layer.get_config().get("activation")) for layer in convolutions}
    separate = [layer for layer in model.layers if type(layer).__name__ in ("Activation", "ReLU", "LeakyReLU", "ELU")]
    other = sorted(activations - {"relu", "linear"})
    expect(not other, "Ex 5", f"{block}'s convolutions use {', '.join(other)}, not ReLU",
           "activation='relu' in each Conv2D (the handout's 'conv 3x3, ReLU')")
    expect(not ("linear" in activations and not separate), "Ex 5", f"{block} has convolutions without activation",
           "each 3x3 Conv2D needs activation='relu': without it, stacked convolutions are one linear map")


def _skip_slip(model, reference, rng_inputs) -> None:
    """The skip taken after the first convolution instead of the second."""
    import keras

    first = next(layer for layer in reference.layers if type(layer).__name__ == CONVOLUTION)
    after_first = _run(keras.Model(reference.inputs, first.output), rng_inputs)[0]
    skip = _run(model, rng_inputs)[0]
    expect(not np.allclose(skip, after_first, atol=1e-4), "Ex 5",
           "DownConvBlock's skip is the output of its first convolution",
           "the skip connection is the second convolution's output, the one that is then pooled")


@self_check("ex5", _ex5)
def check_ex5(down, up, unet, imported) -> None:
    """Ex 5: the two blocks, tried on known inputs with the handout's weights, and a U-Net of them."""
    import keras

    try:
        _judge_blocks(down, up, unet, imported)
    finally:
        # Keras numbers layers across models: without this, the student's model.summary() in Ex 6
        # would start at conv2d_22 (the blocks built by the check). Models already built are unaffected.
        keras.backend.clear_session()
    ok("Ex 5", "both blocks compute what the handout's do, and a U-Net of them has the right parameter count")


def _judge_blocks(down, up, unet, imported) -> None:
    for name in imported:
        expect(False, "Ex 5", f"{name} is the kit's own (tp3.unet), imported: it is not your answer",
               f"write {name} yourself in the cell, with the layers of keras.layers")
    skip_shape, pooled_shape = (shape(o)[1:] for o in down.outputs)
    expect(not (skip_shape == (48, 48, 8) and pooled_shape == (96, 96, 8)), "Ex 5",
           "DownConvBlock returns (pooled, skip)", "return the skip connection first: return skip, pooled")
    expect(skip_shape == (96, 96, 8) and pooled_shape == (48, 48, 8), "Ex 5",
           f"DownConvBlock gave skip {skip_shape} and pooled {pooled_shape}, expected (96, 96, 8) and (48, 48, 8)",
           "two Conv2D(filters, 3, padding='same', activation='relu'), then MaxPooling2D(2)")
    up_shape = shape(up.outputs[0])[1:]
    expect(up_shape == (96, 96, 8), "Ex 5", f"UpConvBlock gave {up_shape}, expected (96, 96, 8)",
           "Conv2DTranspose(filters, 2, strides=2), concatenate with the skip, then two 3x3 Conv2D(filters)")
    expect(not isinstance(unet, str), "Ex 5", f"a U-Net built from your blocks failed: {unet}",
           "each block must work at every level (sizes 96 to 6, any number of filters)")
    params, expected = unet.count_params(), _unet_parameters(4)
    expect(params == expected, "Ex 5", f"a width-4 U-Net of your blocks has {params:,} parameters, expected {expected:,}",
           "check kernel sizes (3x3 convolutions, 2x2 up-convolution) and that every convolution has a bias")
    rng = np.random.default_rng(0)
    for block, model, kind in (("DownConvBlock", down, "down"), ("UpConvBlock", up, "up")):
        same, reference = _behaves_as_reference(model, kind, rng)
        if same:
            continue
        _activation_slip(model, block)
        if kind == "down":
            expect(any(type(layer).__name__ == "MaxPooling2D" for layer in model.layers), "Ex 5",
                   "DownConvBlock does not pool with the maximum", "layers.MaxPooling2D(2) after the two convolutions")
            _skip_slip(model, reference, rng.normal(0, 1, (2,) + DOWN_INPUT).astype("float32"))
        expect(False, "Ex 5", f"{block} computes something else than the handout's block (same weights, same input)",
               "Conv2D 3x3 + ReLU twice, then MaxPooling2D(2) (down); Conv2DTranspose(filters, 2, strides=2), "
               "Concatenate()([skip, x]), Conv2D 3x3 + ReLU twice (up)")


def _ex6(model, n_conv_layers, n_params, smallest_shape) -> dict:
    width = attempt("Ex 6", "reading the model's width", lambda: int(model.layers[1].filters),
                    "model = tp3.unet.build_unet(WIDTH, down_block=DownConvBlock, up_block=UpConvBlock)")
    return dict(width=width, n_conv_layers=n_conv_layers, n_params=n_params, smallest_shape=smallest_shape)


@self_check("ex6", _ex6)
def check_ex6(width, n_conv_layers, n_params, smallest_shape) -> None:
    """Ex 6: the questions about ``model.summary()`` (answers counted independently of your code)."""
    expected_convs = 2 * UNET_DEPTH + 2 + 3 * UNET_DEPTH + 1  # down blocks, bottom, up blocks, 1x1 head
    expected_params = _unet_parameters(width)
    side = 96 // 2 ** UNET_DEPTH
    expect(n_conv_layers != expected_convs - UNET_DEPTH, "Ex 6",
           f"{n_conv_layers} convolution layers: the up-convolutions are missing",
           "Conv2DTranspose layers are convolutions too (the green up-conv arrows)")
    expect(n_conv_layers != expected_convs - 1, "Ex 6", f"{n_conv_layers} convolution layers: one is missing",
           "the final 1x1 convolution (the softmax output) counts too")
    expect(n_conv_layers == expected_convs, "Ex 6", f"{n_conv_layers} convolution layers, the model has {expected_convs}",
           "count the Conv2D and Conv2DTranspose lines of model.summary() (the 1x1 output convolution too)")
    expect(n_params == expected_params, "Ex 6", f"{n_params:,} parameters, the model has {expected_params:,}",
           "read 'Total params' at the bottom of model.summary()")
    found = shape(smallest_shape) if not isinstance(smallest_shape, (int, np.integer)) else (int(smallest_shape),)
    found = tuple(v for v in found if v is not None) if found else found  # a layer's (None, 6, 6, C) is fine
    expect(found is not None and len(found) >= 2, "Ex 6",
           f"smallest shape {smallest_shape!r}: give it as (height, width)",
           "a tuple of two numbers, as in the Output Shape column of model.summary() without the batch and channels")
    expect(found[:2] == (side, side), "Ex 6", f"smallest shape {found}, expected ({side}, {side})",
           f"96 is halved by each of the {UNET_DEPTH} max-poolings")
    ok("Ex 6", f"{n_conv_layers} convolutions, {n_params:,} parameters, smallest map ({side}, {side})")
