"""The precision models compute in (Ex 7, 11): 16-bit maths where the hardware is fast at it,
float32 for prediction on any machine.

:func:`precision` is the kit's one way to choose it (``training.precision`` in the notebooks);
:func:`dtype_policy` builds models under a Keras dtype policy; :func:`as_float32` gives a model
trained in mixed precision its float32 twin (prediction, the kit's model file).

Ex 7   ``precision``
Ex 11  ``as_float32`` (a mixed-precision model computing in float32 for prediction)
"""

from __future__ import annotations

import contextlib

import keras

from .runtime import resolve_precision


@contextlib.contextmanager
def precision(requested: str | None = None):
    """Ex 7 (and :func:`train`): build models in the block at the precision ``requested``
    (``auto``, ``float32``, ``bfloat16``, ``float16``; default :data:`tp3.settings.PRECISION`
    or ``$TP3_PRECISION``), the kit's one way to choose it. Prints the Keras dtype policy and
    why (:func:`tp3.runtime.resolve_precision`) and yields it (``"float32"``,
    ``"mixed_bfloat16"`` or ``"mixed_float16"``); models built after the block are float32
    again. Mixed precision computes in 16 bits; the weights, the softmax head, the loss and
    the metrics stay float32.
    """
    policy, why = resolve_precision(requested)
    print(f"Precision: {policy} ({why})")
    with dtype_policy(policy):
        yield policy


@contextlib.contextmanager
def dtype_policy(policy: str):
    """Build models under the Keras dtype ``policy`` (``"float32"``, ``"mixed_bfloat16"``...)
    inside the block, then restore the previous one."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def as_float32(model: keras.Model) -> keras.Model:
    """The same network computing in float32, for prediction on any machine. Ex 11.

    A model trained in mixed precision (``mixed_bfloat16``/``mixed_float16``) keeps its
    weights in float32 but would compute in 16 bits, which a CPU without bfloat16
    instructions emulates slowly; its float32 copy shares nothing with it but the weights.
    """
    if all(layer.dtype_policy.name == "float32" for layer in model.layers):
        return model

    def float32_layer(layer):
        return layer.__class__.from_config({**layer.get_config(), "dtype": "float32"})

    copy = keras.models.clone_model(model, clone_function=float32_layer)
    copy.set_weights(model.get_weights())
    return copy
