"""Every self-check rejects plausible wrong answers with a hint that names the mistake.

Each test feeds a check the answer a student could really write (a copy-paste slip, the
wrong axis, unnormalised input, a label mapping forgotten, arguments swapped, zeros...)
and asserts the hint; the right answer passes and the check returns nothing.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from tp3 import checks, data
from tp3.checks import SelfCheckError


def rejects(call, *needles):
    with pytest.raises(SelfCheckError) as caught:
        call()
    message = str(caught.value)
    assert caught.value._render_traceback_() == message.splitlines()  # what a notebook shows
    assert "Hint:" in message
    for needle in needles:
        assert needle in message, message
    return message


# --- Ex 1-4: the data -----------------------------------------------------------------

def test_ex1(course_root, capsys):
    splits = data.load_splits(course_root)
    assert checks.check_ex1(splits["train"], splits["validation"], splits["test"], course_root) is None
    assert "✅ Ex 1" in capsys.readouterr().out
    rejects(lambda: checks.check_ex1(splits["train"], splits["train"], splits["test"], course_root),
            "validation list is the content of datasets/train.txt")
    lines = (course_root / "datasets" / "train.txt").open().readlines()
    rejects(lambda: checks.check_ex1(lines, splits["validation"], splits["test"], course_root), "newline")
    text = (course_root / "datasets" / "train.txt").read_text()
    rejects(lambda: checks.check_ex1(text, splits["validation"], splits["test"], course_root), "list")


def test_ex2(course_root):
    patients = data.list_patients(course_root)
    files = len(data.list_images(patients[0], course_root))
    checks.check_ex2(patients, files, 77, course_root)
    rejects(lambda: checks.check_ex2(patients + ["README.md"], files, 77, course_root), "not patient folders")
    rejects(lambda: checks.check_ex2(patients, files, files, course_root), "number of files")
    rejects(lambda: checks.check_ex2(patients, 77, 77, course_root), f"expected {files}")


def test_ex3(course_root):
    patient = data.list_patients(course_root)[0]
    path = course_root / "data" / patient / data.list_images(patient, course_root)[0]
    image = sitk.ReadImage(str(path))
    size, spacing, origin, direction = image.GetSize(), image.GetSpacing(), image.GetOrigin(), image.GetDirection()
    checks.check_ex3(path, size, spacing, origin, direction)
    rejects(lambda: checks.check_ex3(path, size, spacing, origin[::-1], direction), "reverse order")
    rejects(lambda: checks.check_ex3(path, size, (1.0, 1.0), origin, direction), "GetSpacing")


def test_ex4(two_origin_root):
    course_root = two_origin_root
    patient, other = data.list_origin_patients(course_root)[:2]
    original = data.load_original(patient, "flair", course_root)
    processed = data.read_slices(patient, "flair", course_root)[45]
    check = lambda *answer, p=patient, z=45: checks.check_ex4(*answer, p, z, course_root)
    check(original, processed, original[90])
    check(original, processed, original[91])  # the exact height of slice 45
    rejects(lambda: check(original, processed, original[:, :, 90]), "not an axial", "original[2 * z]")
    rejects(lambda: check(original, processed, original[:, 90]), "not an axial")
    rejects(lambda: check(original[::2], processed, original[90]), "(155, 240, 240)")
    rejects(lambda: check(original, original[90], original[90]), "(96, 96)")
    # the slips a shape cannot see: the wrong height, modality or patient
    rejects(lambda: check(original, processed, original[45]), "at height 45", "original[2 * z]")
    t1ce = data.load_original(patient, "t1ce", course_root)
    rejects(lambda: check(t1ce, processed, t1ce[90]), "the t1ce volume")
    elsewhere = data.load_original(other, "flair", course_root)
    rejects(lambda: check(elsewhere, processed, elsewhere[90]), f"{other}'s volume")
    rejects(lambda: check(original, data.read_slices(patient, "flair", course_root)[44], original[90]),
            "it is slice 44")
    rejects(lambda: check(original, data.read_slices(patient, "t2", course_root)[45], original[90]),
            "not " + patient)
    rejects(lambda: check(original, processed, original[90], p="nobody"), "not a patient")


# --- Ex 5-6: the network ----------------------------------------------------------------

def test_ex5():
    from keras import layers

    from tp3 import unet
    from tp3.unet import build_unet

    def DownConvBlock(x, filters):  # noqa: N802 (the kit's blocks, as a student would type them in the cell)
        return unet.DownConvBlock(x, filters)

    def UpConvBlock(x, skip, filters):  # noqa: N802
        return unet.UpConvBlock(x, skip, filters)

    checks.check_ex5(DownConvBlock, UpConvBlock)
    # the models the check built do not number the student's next model's layers (Ex 6's summary)
    assert next(layer.name for layer in build_unet(4).layers if isinstance(layer, layers.Conv2D)) == "conv2d"

    def up_without_stride(x, skip, filters):
        x = layers.Conv2DTranspose(filters, 2, padding="same")(x)
        x = layers.Concatenate()([skip, x])
        return layers.Conv2D(filters, 3, padding="same", activation="relu")(x)

    rejects(lambda: checks.check_ex5(DownConvBlock, up_without_stride), "UpConvBlock failed", "strides=2")

    def down_swapped(x, filters):
        skip, pooled = DownConvBlock(x, filters)
        return pooled, skip

    rejects(lambda: checks.check_ex5(down_swapped, UpConvBlock), "returns (pooled, skip)")

    def up_one_conv(x, skip, filters):
        x = layers.Conv2DTranspose(filters, 2, strides=2, padding="same")(x)
        x = layers.Concatenate()([skip, x])
        return layers.Conv2D(filters, 3, padding="same", activation="relu")(x)

    rejects(lambda: checks.check_ex5(DownConvBlock, up_one_conv), "parameters")

    def down(activation="relu", skip_after_first=False, pool=layers.MaxPooling2D):
        def block(x, filters):
            first = layers.Conv2D(filters, 3, padding="same", activation=activation)(x)
            second = layers.Conv2D(filters, 3, padding="same", activation=activation)(first)
            skip = first if skip_after_first else second
            return skip, pool(2)(second)
        return block

    def up(order="skip first"):
        def block(x, skip, filters):
            x = layers.Conv2DTranspose(filters, 2, strides=2, padding="same")(x)
            x = layers.Concatenate()([skip, x] if order == "skip first" else [x, skip])
            x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
            return layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        return block

    checks.check_ex5(down(), up())  # written by the student: passes
    checks.check_ex5(down(), up("x first"))  # either concatenation order is right
    rejects(lambda: checks.check_ex5(down(activation=None), up()), "without activation", "activation='relu'")
    rejects(lambda: checks.check_ex5(down(activation="sigmoid"), up()), "sigmoid", "ReLU")
    rejects(lambda: checks.check_ex5(down(skip_after_first=True), up()), "skip is the output of its first")
    rejects(lambda: checks.check_ex5(down(pool=layers.AveragePooling2D), up()), "maximum")
    rejects(lambda: checks.check_ex5(unet.DownConvBlock, unet.UpConvBlock), "the kit's own", "yourself")


def test_ex6():
    from tp3.unet import build_unet

    model = build_unet(4)
    params = model.count_params()
    checks.check_ex6(model, 23, params, (6, 6))
    checks.check_ex6(model, 23, params, (None, 6, 6, 64))  # a layer's output shape is accepted too
    rejects(lambda: checks.check_ex6(model, 23, params, 6), "(height, width)")
    rejects(lambda: checks.check_ex6(model, 19, params, (6, 6)), "up-convolutions are missing")
    rejects(lambda: checks.check_ex6(model, 22, params, (6, 6)), "1x1 convolution")
    rejects(lambda: checks.check_ex6(model, 23, params - 4, (6, 6)), "Total params")
    rejects(lambda: checks.check_ex6(model, 23, params, (12, 12)), "max-poolings")


# --- Ex 7-9: training and augmentation ------------------------------------------------------

def test_ex7(tmp_path):
    good = {"loss": [1.2, 0.6], "val_loss": [1.0, 0.7], "val_dice_wt": [0.1, 0.5]}
    checks.check_ex7(good)
    rejects(lambda: checks.check_ex7({"loss": [1.2, 0.6]}), "validation_data")
    rejects(lambda: checks.check_ex7({"loss": [1.2, 0.6], "val_loss": [1.0, 0.7]}), "region_dice_metrics")
    rejects(lambda: checks.check_ex7({**good, "loss": [0.6, 1.2]}), "one-hot")
    rejects(lambda: checks.check_ex7({**good, "learning_rate": [1.0, 1.0]}), "learning rate of 1", "cfg.learning_rate")
    checks.check_ex7({**good, "learning_rate": [1e-3, 1e-3]})
    rejects(lambda: checks.check_ex7(good, tmp_path), "callbacks=callbacks")
    import tensorflow as tf

    def log_losses(values):  # what Keras' TensorBoard callback writes for the training loss
        with tf.summary.create_file_writer(str(tmp_path / "train")).as_default():
            for epoch, value in enumerate(values):
                tf.summary.scalar("epoch_loss", value, step=epoch)

    log_losses([1.5, 0.9])  # an earlier run's logs, left in the folder
    rejects(lambda: checks.check_ex7(good, tmp_path), "not those of this run")
    log_losses(good["loss"])
    rejects(lambda: checks.check_ex7(good, tmp_path), "PredictionImages")


class _History:
    """What model.fit returns: the curves, and the run's parameters (batches per epoch)."""

    def __init__(self, history, steps):
        self.history, self.params = history, {"epochs": len(history["loss"]), "steps": steps, "verbose": 0}


def test_ex7_judges_the_data_trained_on(course_root, tmp_path):
    from tp3.checks.training_checks import _steps_slip

    splits = data.load_splits(course_root)
    (tmp_path / "config.json").write_text(json.dumps({"batch_size": 16}))
    batches = lambda split: -(-len(splits[split]) * 77 // 16)
    _steps_slip(batches("train"), tmp_path, course_root)
    if batches("validation") != batches("train"):
        rejects(lambda: _steps_slip(batches("validation"), tmp_path, course_root), "fitted on the validation set")
    rejects(lambda: _steps_slip(batches("train") * 2, tmp_path, course_root), "training split makes")


def test_ex7_judges_the_batches_at_the_runs_epoch_share(course_root, tmp_path):
    """A share of the slices per epoch (sized to the machine) that the dataset did not follow is named."""
    from tp3 import training
    from tp3.checks.training_checks import _steps_slip

    x_train, y_train = training.load_split("train", course_root, progress=False)
    (tmp_path / "config.json").write_text(json.dumps({"batch_size": 16, "epoch_share": 0.4}))
    sized = training.make_dataset(x_train, y_train, 16, shuffle=True, epoch_share=0.4)
    _steps_slip(int(sized.cardinality()), tmp_path, course_root)
    every_slice = training.make_dataset(x_train, y_train, 16, shuffle=True)
    rejects(lambda: _steps_slip(int(every_slice.cardinality()), tmp_path, course_root),
            "pass epoch_share=cfg.epoch_share")


def test_ex7_judges_the_loss_and_the_model_file(course_root, tiny_model, tmp_path):
    import shutil

    from tp3.checks.training_checks import validation_loss

    cross_entropy = validation_loss(tiny_model, course_root)
    model_path = tmp_path / "best.weights.h5"
    shutil.copy(tiny_model, model_path)
    history = {"loss": [1.2, 0.6], "val_loss": [cross_entropy * 1.3, cross_entropy], "val_dice_wt": [0.1, 0.5]}
    checks.check_ex7(history, model_path=model_path, root=course_root)
    # binary cross-entropy logs other values than the saved model's categorical cross-entropy
    binary = {**history, "val_loss": [cross_entropy, cross_entropy / 4]}
    rejects(lambda: checks.check_ex7(binary, model_path=model_path, root=course_root), "categorical_crossentropy")
    rejects(lambda: checks.check_ex7(history, model_path=tmp_path / "none.weights.h5", root=course_root),
            "SaveBestModel")
    (tmp_path / "broken.weights.h5").write_bytes(b"not a weights file")
    rejects(lambda: checks.check_ex7(history, model_path=tmp_path / "broken.weights.h5", root=course_root),
            "load_model")


@pytest.fixture(scope="module")
def tumour_slices(tiny_data):
    (_, _), (images, classes) = tiny_data
    return images[:3], classes[:3]


def test_ex8(tumour_slices):
    from scipy import ndimage

    from tp3.augment import augment_numpy

    images, classes = tumour_slices
    checks.check_ex8(images, classes, *augment_numpy(images, classes, seed=0))
    # the image flipped left-right (axis 2), its labels up-down (axis 1): the classic axis slip
    rejects(lambda: checks.check_ex8(images, classes, np.flip(images, 2), np.flip(classes, 1)),
            "no longer sit on the tumour")
    # image and labels augmented with two different draws
    rejects(lambda: checks.check_ex8(images, classes, augment_numpy(images, classes, seed=0)[0],
                                     augment_numpy(images, classes, seed=1)[1]), "same transform")
    # labels rotated with linear interpolation, then rounded
    blended = np.round(ndimage.rotate(classes.astype(np.float32), 20, axes=(1, 2), reshape=False, order=1))
    rotated = ndimage.rotate(images, 20, axes=(1, 2), reshape=False, order=1)
    rejects(lambda: checks.check_ex8(images, classes, rotated, blended.astype(np.uint8)), "nearest-neighbour")
    rejects(lambda: checks.check_ex8(images, classes, rotated, blended), "nearest-neighbour")
    rejects(lambda: checks.check_ex8(images, classes, images, classes), "equal the originals")


def test_ex9(tmp_path):
    history = {"loss": [1.0, 0.5]}
    (tmp_path / "config.json").write_text(json.dumps({"augment": False}))
    rejects(lambda: checks.check_ex9(history, tmp_path), "without augmentation", "augment=True")
    (tmp_path / "config.json").write_text(json.dumps({"augment": True}))
    checks.check_ex9(history, tmp_path)
    rejects(lambda: checks.check_ex9(history, tmp_path / "missing"), "config.json")


# --- Ex 11-13: prediction and evaluation --------------------------------------------------

@pytest.fixture(scope="module")
def predicted(course_root, tiny_model):
    from tp3.predict import get_mask2original_shape, load_image, load_model

    patient = data.list_origin_patients(course_root)[0]
    X = load_image(patient, course_root)  # noqa: N806 (handout's name)
    prediction = load_model(tiny_model).predict(X, verbose=0)
    return patient, X, prediction, get_mask2original_shape(prediction)


def test_ex11(course_root, predicted):
    patient, X, prediction, mask = predicted  # noqa: N806
    checks.check_ex11(patient, X, prediction, mask, course_root)
    raw = np.stack([data.read_slices(patient, m, course_root) for m in ("t1", "t1ce", "t2", "flair")], axis=-1)
    rejects(lambda: checks.check_ex11(patient, raw, prediction, mask, course_root), "not normalised")
    rejects(lambda: checks.check_ex11(patient, np.zeros_like(X), prediction, mask, course_root), "load_image")
    rejects(lambda: checks.check_ex11(patient, X, np.zeros_like(prediction), mask, course_root), "probabilities")
    classes = prediction.argmax(-1)
    rejects(lambda: checks.check_ex11(patient, X, classes, mask, course_root), "one probability per class")
    rejects(lambda: checks.check_ex11(patient, X, prediction, np.zeros_like(mask), course_root),
            "get_mask2original_shape")
    unmapped = np.where(mask == 4, 3, mask)
    if (mask == 4).any():
        rejects(lambda: checks.check_ex11(patient, X, prediction, unmapped, course_root), "label 4")


def test_ex12(course_root, predicted, tmp_path):
    from tp3.predict import numpy2nifti

    patient, _, _, mask = predicted
    reference = data.origin_path(patient, "flair", course_root)
    exported = numpy2nifti(mask, reference, tmp_path / "pred.nii.gz")
    truth = data.load_original(patient, "seg", course_root)
    checks.check_ex12_truth(truth, patient, course_root)
    checks.check_ex12(exported, reference, mask, patient, course_root)
    as_truth = numpy2nifti(truth, reference, tmp_path / "truth.nii.gz")
    rejects(lambda: checks.check_ex12(as_truth, reference, mask, patient, course_root), "holds the ground truth")
    rejects(lambda: checks.check_ex12(exported, reference, np.zeros_like(mask), patient, course_root),
            "not predict_mask")
    slices = data.read_slices(patient, "seg", course_root)
    rejects(lambda: checks.check_ex12_truth(slices, patient, course_root), "not the 96 x 96 slices")
    rejects(lambda: checks.check_ex12_truth(mask, patient, course_root), "origin_data seg")
    wrong_geometry = sitk.GetImageFromArray(mask)
    sitk.WriteImage(wrong_geometry, str(tmp_path / "bare.nii.gz"))
    rejects(lambda: checks.check_ex12(tmp_path / "bare.nii.gz", reference, mask, patient, course_root), "numpy2nifti")


def test_ex13(course_root, predicted):
    from tp3.metrics import evalAllSample

    patient, _, _, mask = predicted
    truth = data.load_original(patient, "seg", course_root)
    # a prediction that differs from the truth in both directions, so swapping shows
    prediction = truth.copy()
    prediction[:, :120][prediction[:, :120] == 2] = 0
    prediction[80, 100:110, 100:110] = 2
    checks.check_ex13(evalAllSample(prediction, truth), prediction, truth, patient, course_root)
    rejects(lambda: checks.check_ex13(evalAllSample(truth, prediction), prediction, truth), "swapped")
    as_classes = np.where(prediction == 4, 3, prediction)
    rejects(lambda: checks.check_ex13(evalAllSample(as_classes, truth), as_classes, truth), "label 4")
    rejects(lambda: checks.check_ex13(evalAllSample(prediction, truth), prediction, prediction, patient, course_root),
            "ground truth is not")
    rejects(lambda: checks.check_ex13(evalAllSample(prediction, truth)["WT"], prediction, truth), "WT, TC and ET")


def test_ex13_loop(two_origin_root, tiny_model):
    from tp3.checks.evaluation_checks import kit_results
    from tp3.predict import load_model

    course_root = two_origin_root
    model = load_model(tiny_model)
    patients = data.list_origin_patients(course_root)
    all_results = {p: kit_results(model, p, course_root) for p in patients}
    checks.check_ex13_loop(all_results, model, course_root)
    same = {p: all_results[patients[0]] for p in patients}  # one patient's volumes at every turn
    rejects(lambda: checks.check_ex13_loop(same, model, course_root), "same metrics")
    swapped = dict(all_results)
    swapped[patients[1]] = {r: {**v, "dice": v["dice"] / 2 + 0.01} for r, v in all_results[patients[1]].items()}
    rejects(lambda: checks.check_ex13_loop(swapped, model, course_root), patients[1], "the prediction first")
    rejects(lambda: checks.check_ex13_loop({patients[0]: all_results[patients[0]]}, model, course_root),
            "one entry per patient")
