"""Self-checks for the exercise notebooks: one function per exercise.

Each check compares the student's answer with what the kit computes itself. It prints
``✅ Ex N: ...`` when the answer is right; otherwise it raises :class:`SelfCheckError`
whose message says, in plain words, what is wrong and where to look.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import data
from .config import MODALITIES


class SelfCheckError(AssertionError):
    """A wrong answer; the message is meant for the student."""


def _ok(exercise: str, message: str) -> bool:
    print(f"✅ {exercise}: {message}")
    return True


def _expect(condition: bool, exercise: str, problem: str, hint: str) -> None:
    if not condition:
        raise SelfCheckError(f"❌ {exercise}: {problem}\n   Hint: {hint}")


def check_ex1(train, validation, test, root=None) -> bool:
    """Ex 1: the three split lists, read from ``datasets/``."""
    splits = data.load_splits(root)
    for name, answer in (("train", train), ("validation", validation), ("test", test)):
        _expect(isinstance(answer, (list, tuple)), "Ex 1", f"{name} should be a list of patient IDs, got {type(answer).__name__}",
                "read the file line by line, e.g. f.read().splitlines()")
        _expect([str(p).strip() for p in answer] == splits[name], "Ex 1",
                f"your {name} list has {len(answer)} entries, datasets/{name}.txt lists {len(splits[name])}",
                f"open datasets/{name}.txt and keep one ID per line, without the newline characters")
    return _ok("Ex 1", f"train {len(train)}, validation {len(validation)}, test {len(test)} patients")


def check_ex2(patients, n_images: int, n_slices: int, root=None) -> bool:
    """Ex 2: the content of ``data/`` (patients, files of one patient, z slices)."""
    expected = data.list_patients(root)
    _expect(sorted(patients) == expected, "Ex 2", f"found {len(patients)} patients, data/ holds {len(expected)}",
            "list data/ with os.listdir, keep only the folders (data/ also holds README.md and "
            "a hidden .tp3-prepare.json), and sort the list")
    files = len(data.list_images(expected[0], root))
    _expect(n_images == files, "Ex 2", f"{n_images} images per patient, expected {files}",
            "count the .nii.gz files of one patient folder: one per modality and per slice, plus the labels")
    _expect(n_slices == 77, "Ex 2", f"{n_slices} z slices, expected 77",
            "count the files of a single modality (e.g. the names containing '_flair_')")
    return _ok("Ex 2", f"{len(patients)} patients, {n_images} files each, {n_slices} slices")


def check_ex3(image_path, size, spacing, origin, direction) -> bool:
    """Ex 3: the header of a medical image, read with SimpleITK."""
    info = data.describe_image(image_path)
    for name, answer in (("size", size), ("spacing", spacing), ("origin", origin), ("direction", direction)):
        _expect(np.allclose(tuple(answer), info[name], atol=1e-3), "Ex 3",
                f"{name} {tuple(answer)} differs from the file's {info[name]}",
                f"use image.Get{name.capitalize()}() on the image read with sitk.ReadImage")
    return _ok("Ex 3", f"size {info['size']}, spacing {info['spacing']} mm, origin {info['origin']} mm")


def check_ex4(original_shape, processed_shape) -> bool:
    """Ex 4: the shapes of an original volume and of a processed slice."""
    _expect(tuple(original_shape) == (155, 240, 240), "Ex 4", f"original shape {tuple(original_shape)}, expected (155, 240, 240)",
            "sitk.GetArrayFromImage gives (z, y, x): 155 slices of 240 x 240")
    _expect(tuple(processed_shape) == (96, 96), "Ex 4", f"processed slice shape {tuple(processed_shape)}, expected (96, 96)",
            "each file of data/<ID>/ is one z slice of 96 x 96")
    return _ok("Ex 4", "original (155, 240, 240), processed slices (96, 96), 77 of them")


def check_ex5(down_block, up_block) -> bool:
    """Ex 5: the two blocks, tried on small inputs and inside the whole U-Net."""
    import keras

    from .unet import build_unet

    try:
        skip, pooled = down_block(keras.Input((96, 96, 4)), 8)
    except Exception as error:  # the student's code: report whatever it raised
        raise SelfCheckError(f"❌ Ex 5: DownConvBlock failed: {error}\n   Hint: it should return (skip, pooled)") from None
    _expect(tuple(skip.shape[1:]) == (96, 96, 8) and tuple(pooled.shape[1:]) == (48, 48, 8), "Ex 5",
            f"DownConvBlock gave skip {tuple(skip.shape[1:])} and pooled {tuple(pooled.shape[1:])}, expected (96, 96, 8) and (48, 48, 8)",
            "two Conv2D(filters, 3, padding='same', activation='relu'), then MaxPooling2D(2)")
    up = up_block(keras.Input((48, 48, 16)), keras.Input((96, 96, 8)), 8)
    _expect(tuple(up.shape[1:]) == (96, 96, 8), "Ex 5", f"UpConvBlock gave {tuple(up.shape[1:])}, expected (96, 96, 8)",
            "Conv2DTranspose(filters, 2, strides=2), concatenate with the skip, then two 3x3 Conv2D")
    params = build_unet(4, down_block=down_block, up_block=up_block).count_params()
    expected = 7574 * 16 + 147 * 4 + 4
    _expect(params == expected, "Ex 5", f"a width-4 U-Net of your blocks has {params:,} parameters, expected {expected:,}",
            "check kernel sizes (3x3 convolutions, 2x2 up-convolution) and that every convolution has a bias")
    return _ok("Ex 5", "both blocks have the right shapes and parameter counts")


def check_ex6(model, n_conv_layers: int, n_params: int, smallest_shape) -> bool:
    """Ex 6: the questions about ``model.summary()``."""
    from .unet import count_conv_layers, smallest_feature_map

    _expect(n_conv_layers == count_conv_layers(model), "Ex 6", f"{n_conv_layers} convolution layers, the model has {count_conv_layers(model)}",
            "count the Conv2D and Conv2DTranspose lines of model.summary() (the 1x1 output convolution too)")
    _expect(n_params == model.count_params(), "Ex 6", f"{n_params:,} parameters, the model has {model.count_params():,}",
            "read 'Total params' at the bottom of model.summary()")
    _expect(tuple(smallest_shape)[:2] == smallest_feature_map(model), "Ex 6",
            f"smallest shape {tuple(smallest_shape)}, expected {smallest_feature_map(model)}",
            "96 is halved by each of the 4 max-poolings")
    return _ok("Ex 6", f"{n_conv_layers} convolutions, {n_params:,} parameters, smallest map {smallest_feature_map(model)}")


def check_ex7(history) -> bool:
    """Ex 7: a training run whose loss went down."""
    loss = history.history["loss"] if hasattr(history, "history") else history["loss"]
    _expect(len(loss) >= 1, "Ex 7", "no epoch was trained", "call model.fit(..., epochs=...)")
    _expect(loss[-1] < loss[0] or len(loss) == 1, "Ex 7", f"the loss went from {loss[0]:.3f} to {loss[-1]:.3f}",
            "check the learning rate and that the labels are one-hot (categorical cross-entropy)")
    return _ok("Ex 7", f"training loss {loss[0]:.3f} -> {loss[-1]:.3f} over {len(loss)} epochs")


def check_ex8(images, classes, augmented_images, augmented_classes) -> bool:
    """Ex 8: augmentation keeps shapes and invents no label."""
    _expect(augmented_images.shape == images.shape and augmented_classes.shape == classes.shape, "Ex 8",
            f"shapes changed: {images.shape} -> {augmented_images.shape}", "augment, do not crop or resize")
    for before, after in zip(classes, augmented_classes):
        invented = set(np.unique(after)) - set(np.unique(before)) - {0}
        _expect(not invented, "Ex 8", f"the augmented labels contain {sorted(invented)}, absent before",
                "labels must be moved with nearest-neighbour interpolation, never blended")
    _expect(not np.array_equal(images, augmented_images), "Ex 8", "the augmented images equal the originals",
            "apply a transform (flip, rotation, scaling) before comparing")
    return _ok("Ex 8", "same shapes, no label invented, images changed")


def check_ex11(X, prediction, mask) -> bool:
    """Ex 11: the shapes along load_image -> predict -> get_mask2original_shape."""
    _expect(tuple(X.shape) == (77, 96, 96, len(MODALITIES)), "Ex 11", f"X has shape {tuple(X.shape)}, expected (77, 96, 96, 4)",
            "load_image returns one patient: 77 slices, 96 x 96, 4 modalities")
    _expect(tuple(prediction.shape) == (77, 96, 96, 4), "Ex 11", f"prediction {tuple(prediction.shape)}, expected (77, 96, 96, 4)",
            "model.predict(X) gives one probability per class (4) for every pixel")
    _expect(tuple(mask.shape) == (155, 240, 240), "Ex 11", f"mask {tuple(mask.shape)}, expected (155, 240, 240)",
            "get_mask2original_shape resizes, takes the argmax and pads back")
    _expect(set(np.unique(mask)) <= {0, 1, 2, 4}, "Ex 11", f"mask labels {sorted(np.unique(mask))}",
            "class 3 of the network is label 4 in BraTS")
    return _ok("Ex 11", "X (77, 96, 96, 4) -> prediction (77, 96, 96, 4) -> mask (155, 240, 240)")


def check_ex12(exported_path, reference_path) -> bool:
    """Ex 12: the exported NIfTI overlays the MRI (same size, spacing, origin, direction)."""
    exported, reference = data.describe_image(exported_path), data.describe_image(reference_path)
    for key in ("size", "spacing", "origin", "direction"):
        _expect(exported[key] == reference[key], "Ex 12", f"{key} {exported[key]} differs from the MRI's {reference[key]}",
                "numpy2nifti copies spacing, origin and direction from the reference image")
    return _ok("Ex 12", f"{Path(exported_path).name} has the MRI's geometry: open both in 3D Slicer")


def check_ex13(results: dict, prediction, ground_truth) -> bool:
    """Ex 13: the metrics of one patient, as evalAllSample computes them."""
    from .metrics import evalAllSample

    expected = evalAllSample(prediction, ground_truth)
    _expect(set(results) == set(expected), "Ex 13", f"regions {sorted(results)}, expected {sorted(expected)}",
            "evalAllSample returns WT, TC and ET")
    for region, values in expected.items():
        for metric, value in values.items():
            _expect(np.isclose(results[region][metric], value), "Ex 13",
                    f"{region} {metric} = {results[region][metric]:.4f}, expected {value:.4f}",
                    "pass the prediction first and the ground truth second, both (155, 240, 240)")
    return _ok("Ex 13", "Dice " + ", ".join(f"{r} {v['dice']:.3f}" for r, v in expected.items()))
