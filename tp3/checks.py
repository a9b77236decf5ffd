"""Self-checks for the exercise notebooks: one function per exercise.

Each check compares the student's answer with what the course data says, computed
without the student's code, and recognises the usual mistakes. It prints
``✅ Ex N: ...`` when the answer is right and returns nothing; otherwise it raises
:class:`SelfCheckError` whose message names the mistake and where to look — never a
traceback from inside the kit.

Ex 1 ``check_ex1``, Ex 2 ``check_ex2``, ... Ex 13 ``check_ex13``; Ex 12 has two, the ground
truth (``check_ex12_truth``) and the export (``check_ex12``); Ex 10 is read, not checked.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import data
from .layout import MODALITIES
from .settings import BRATS_LABELS, LEARNING_RATE, N_CLASSES, UNET_DEPTH


class SelfCheckError(AssertionError):
    """A wrong answer; the message is meant for the student."""

    def _render_traceback_(self):
        # IPython's hook: a notebook shows the message alone, not the kit's frames around it.
        return str(self).splitlines()


#: Above this, Adam does not train a U-Net: the self-check of Ex 7 says so.
MAX_SENSIBLE_ADAM_RATE = 0.05


def _ok(exercise: str, message: str) -> None:
    print(f"✅ {exercise}: {message}")


def _expect(condition: bool, exercise: str, problem: str, hint: str) -> None:
    if not condition:
        raise SelfCheckError(f"❌ {exercise}: {problem}\n   Hint: {hint}")


def _shape(value) -> tuple | None:
    """The shape of an array-like (or a shape given as such), ``None`` if it has none."""
    if isinstance(value, (tuple, list)) and all(v is None or isinstance(v, (int, np.integer)) for v in value):
        return tuple(None if v is None else int(v) for v in value)
    shape = getattr(value, "shape", None)
    return tuple(shape) if shape is not None else None


def check_ex1(train, validation, test, root=None) -> None:
    """Ex 1: the three split lists, read from ``datasets/``."""
    splits = data.load_splits(root)
    answers = {"train": train, "validation": validation, "test": test}
    for name, answer in answers.items():
        _expect(isinstance(answer, (list, tuple)), "Ex 1",
                f"{name} should be a list of patient IDs, got {type(answer).__name__}",
                "split the text of the file into lines, e.g. path.read_text().split()")
        ids = [str(p) for p in answer]
        _expect(all(p == p.strip() for p in ids), "Ex 1", f"the IDs of {name} end with a newline or spaces",
                "f.readlines() keeps the '\\n': use read().splitlines() or strip each line")
        for other, content in splits.items():
            if other != name and ids == content and content != splits[name]:
                raise SelfCheckError(f"❌ Ex 1: your {name} list is the content of datasets/{other}.txt\n"
                                     f"   Hint: read datasets/{name}.txt for {name} (a copy-paste slip?)")
        _expect(ids == splits[name], "Ex 1",
                f"your {name} list differs from datasets/{name}.txt ({len(ids)} entries, the file lists "
                f"{len(splits[name])}; first difference at "
                f"{next((i for i, (a, b) in enumerate(zip(ids, splits[name])) if a != b), min(len(ids), len(splits[name])))})",
                f"open datasets/{name}.txt and keep one ID per line, in the file's order")
    _ok("Ex 1", f"train {len(train)}, validation {len(validation)}, test {len(test)} patients")


def check_ex2(patients, n_images: int, n_slices: int, root=None) -> None:
    """Ex 2: the content of ``data/`` (patients, files of one patient, z slices)."""
    expected = data.list_patients(root)
    _expect(isinstance(patients, (list, tuple)), "Ex 2", f"patients should be a list, got {type(patients).__name__}",
            "os.listdir gives a list of names")
    extra = sorted(set(map(str, patients)) - set(expected))
    _expect(not extra, "Ex 2", f"your list holds {extra[:3]}, which are not patient folders",
            "keep only the patient folders of data/ (os.path.isdir, or Path.is_dir)")
    _expect(sorted(patients) == expected, "Ex 2", f"found {len(patients)} patients, data/ holds {len(expected)}",
            "list data/ with os.listdir and keep every folder")
    files = len(data.list_images(expected[0], root))
    slices = data.count_slices(expected[0], root)
    _expect(n_images == files, "Ex 2", f"{n_images} images per patient, expected {files}",
            "count the .nii.gz files of one patient folder: one per modality and per slice, plus the labels")
    _expect(n_slices != files, "Ex 2", f"{n_slices} z slices is the number of files",
            "each z slice has one file per modality and one for the labels: count one modality only")
    _expect(n_slices == slices, "Ex 2", f"{n_slices} z slices, expected {slices}",
            "count the files of a single modality (e.g. the names containing '_flair_')")
    _ok("Ex 2", f"{len(patients)} patients, {n_images} files each, {n_slices} slices")


def check_ex3(image_path, size, spacing, origin, direction) -> None:
    """Ex 3: the header of a medical image, read with SimpleITK."""
    info = data.describe_image(image_path)
    for name, answer in (("size", size), ("spacing", spacing), ("origin", origin), ("direction", direction)):
        values = np.atleast_1d(np.asarray(answer, dtype=float))
        expected = np.asarray(info[name], dtype=float)
        if values.shape == expected.shape and values.size > 1 and np.allclose(values[::-1], expected, atol=1e-3) \
                and not np.allclose(values, expected, atol=1e-3):
            raise SelfCheckError(f"❌ Ex 3: your {name} {tuple(values)} is in reverse order\n"
                                 f"   Hint: read it from the image (x, y order), not from the numpy array (y, x)")
        _expect(values.shape == expected.shape and np.allclose(values, expected, atol=1e-3), "Ex 3",
                f"{name} {tuple(values)} differs from the file's {info[name]}",
                f"use image.Get{name.capitalize()}() on the image read with sitk.ReadImage")
    _ok("Ex 3", f"size {info['size']}, spacing {info['spacing']} mm, origin {info['origin']} mm")


def check_ex4(original, processed, original_slice) -> None:
    """Ex 4: an original volume, a processed slice and the original slice shown beside it.

    ``original`` ``(155, 240, 240)`` from ``origin_data/``, ``processed`` ``(96, 96)`` from
    ``data/``, ``original_slice`` one axial slice of ``original`` ``(240, 240)``.
    """
    original_shape, processed_shape = _shape(original), _shape(processed)
    _expect(original_shape == (155, 240, 240), "Ex 4", f"original shape {original_shape}, expected (155, 240, 240)",
            "read the volume of origin_data/<ID>/<ID>_flair.nii.gz; sitk.GetArrayFromImage gives (z, y, x)")
    _expect(processed_shape == (96, 96), "Ex 4", f"processed slice shape {processed_shape}, expected (96, 96)",
            "each file of data/<ID>/ is one z slice of 96 x 96")
    slice_shape = _shape(original_slice)
    _expect(slice_shape == (240, 240), "Ex 4",
            f"the original slice you show has shape {slice_shape}: it is not an axial (z) slice",
            "the numpy array is ordered (z, y, x): index the first axis, original[2 * z]")
    _expect(any(np.array_equal(original_slice, plane) for plane in np.asarray(original)), "Ex 4",
            "the original slice you show is not a slice of the original volume",
            "take original[k] for k near 2 * z")
    _ok("Ex 4", "original (155, 240, 240), processed slices (96, 96), 77 of them")


def _try_block(exercise: str, block_name: str, call, hint: str):
    try:
        return call()
    except Exception as error:  # the student's code: report whatever it raised, briefly
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise SelfCheckError(f"❌ {exercise}: {block_name} failed: {first_line[:300]}\n   Hint: {hint}") from None


def check_ex5(down_block, up_block) -> None:
    """Ex 5: the two blocks, tried on small inputs and inside the whole U-Net."""
    import keras

    from .unet import build_unet

    result = _try_block("Ex 5", "DownConvBlock", lambda: down_block(keras.Input((96, 96, 4)), 8),
                        "it takes (x, filters) and returns (skip, pooled)")
    _expect(isinstance(result, (tuple, list)) and len(result) == 2, "Ex 5",
            "DownConvBlock should return two tensors", "return skip, pooled")
    skip, pooled = result
    _expect(not (_shape(skip)[1:] == (48, 48, 8) and _shape(pooled)[1:] == (96, 96, 8)), "Ex 5",
            "DownConvBlock returns (pooled, skip)", "return the skip connection first: return skip, pooled")
    _expect(_shape(skip)[1:] == (96, 96, 8) and _shape(pooled)[1:] == (48, 48, 8), "Ex 5",
            f"DownConvBlock gave skip {_shape(skip)[1:]} and pooled {_shape(pooled)[1:]}, expected (96, 96, 8) and (48, 48, 8)",
            "two Conv2D(filters, 3, padding='same', activation='relu'), then MaxPooling2D(2)")
    up = _try_block("Ex 5", "UpConvBlock", lambda: up_block(keras.Input((48, 48, 16)), keras.Input((96, 96, 8)), 8),
                    "the up-convolution must double the size to match the skip: Conv2DTranspose(filters, 2, "
                    "strides=2, padding='same'), then Concatenate()([skip, x])")
    _expect(_shape(up)[1:] == (96, 96, 8), "Ex 5", f"UpConvBlock gave {_shape(up)[1:]}, expected (96, 96, 8)",
            "Conv2DTranspose(filters, 2, strides=2), concatenate with the skip, then two 3x3 Conv2D(filters)")
    model = _try_block("Ex 5", "a U-Net built from your blocks",
                       lambda: build_unet(4, down_block=down_block, up_block=up_block),
                       "each block must work at every level (sizes 96 to 6, any number of filters)")
    params = model.count_params()
    expected = _unet_parameters(4)
    # Keras numbers layers across models: without this, the student's model.summary() in Ex 6
    # would start at conv2d_22 (the layers built here). Models already built are unaffected.
    keras.backend.clear_session()
    _expect(params == expected, "Ex 5", f"a width-4 U-Net of your blocks has {params:,} parameters, expected {expected:,}",
            "check kernel sizes (3x3 convolutions, 2x2 up-convolution) and that every convolution has a bias")
    _ok("Ex 5", "both blocks have the right shapes and parameter counts")


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


def check_ex6(model, n_conv_layers: int, n_params: int, smallest_shape) -> None:
    """Ex 6: the questions about ``model.summary()`` (answers counted independently of your code)."""
    width = model.layers[1].filters
    expected_convs = 2 * UNET_DEPTH + 2 + 3 * UNET_DEPTH + 1  # down blocks, bottom, up blocks, 1x1 head
    expected_params = _unet_parameters(width)
    side = 96 // 2 ** UNET_DEPTH
    _expect(n_conv_layers != expected_convs - UNET_DEPTH, "Ex 6",
            f"{n_conv_layers} convolution layers: the up-convolutions are missing",
            "Conv2DTranspose layers are convolutions too (the green up-conv arrows)")
    _expect(n_conv_layers != expected_convs - 1, "Ex 6", f"{n_conv_layers} convolution layers: one is missing",
            "the final 1x1 convolution (the softmax output) counts too")
    _expect(n_conv_layers == expected_convs, "Ex 6", f"{n_conv_layers} convolution layers, the model has {expected_convs}",
            "count the Conv2D and Conv2DTranspose lines of model.summary() (the 1x1 output convolution too)")
    _expect(n_params == expected_params, "Ex 6", f"{n_params:,} parameters, the model has {expected_params:,}",
            "read 'Total params' at the bottom of model.summary()")
    shape = _shape(smallest_shape) if not isinstance(smallest_shape, (int, np.integer)) else (int(smallest_shape),)
    shape = tuple(v for v in shape if v is not None) if shape else shape  # a layer's (None, 6, 6, C) is fine
    _expect(shape is not None and len(shape) >= 2, "Ex 6",
            f"smallest shape {smallest_shape!r}: give it as (height, width)",
            "a tuple of two numbers, as in the Output Shape column of model.summary() without the batch and channels")
    _expect(shape[:2] == (side, side), "Ex 6", f"smallest shape {shape}, expected ({side}, {side})",
            f"96 is halved by each of the {UNET_DEPTH} max-poolings")
    _ok("Ex 6", f"{n_conv_layers} convolutions, {n_params:,} parameters, smallest map ({side}, {side})")


def _history_dict(history) -> dict:
    values = history.history if hasattr(history, "history") else history
    _expect(isinstance(values, dict) and "loss" in values, "Ex 7",
            "history should be what model.fit returns", "history = model.fit(...)")
    return values


def _logged_losses(logdir: Path) -> list[float]:
    """The training losses TensorBoard holds for ``logdir``, in epoch order (empty if none)."""
    from .tblogs import read_scalars

    curves = read_scalars(logdir).get("train", {})
    return list(curves["loss"][1]) if "loss" in curves else []


def check_ex7(history, logdir=None) -> None:
    """Ex 7: a training run with validation, whose loss went down, logged in ``logdir``."""
    from .tblogs import read_images

    values = _history_dict(history)
    loss = values["loss"]
    _expect(len(loss) >= 1, "Ex 7", "no epoch was trained", "call model.fit(..., epochs=EPOCHS)")
    _expect("val_loss" in values, "Ex 7", "the run has no validation curve",
            "pass validation_data=val_set to model.fit")
    _expect(any(key.startswith("val_dice") for key in values), "Ex 7", "the run has no Dice metric",
            "compile with metrics=['accuracy', *tp3.metrics.region_dice_metrics()]")
    rates = values.get("learning_rate") or [0.0]
    _expect(max(rates) <= MAX_SENSIBLE_ADAM_RATE, "Ex 7", f"the run trained at a learning rate of {max(rates):g}",
            f"Adam's rate is about {LEARNING_RATE:g} (cfg.learning_rate); much larger steps throw the weights "
            "around instead of improving them")
    _expect(len(loss) == 1 or loss[-1] < loss[0], "Ex 7", f"the loss went from {loss[0]:.3f} to {loss[-1]:.3f}",
            "check the learning rate, and that the labels are one-hot (training.make_dataset does it)")
    if logdir is not None:
        logdir = Path(logdir)
        _expect(any((logdir / "train").glob("events.out.tfevents.*")), "Ex 7", f"no TensorBoard logs in {logdir}",
                "pass callbacks=callbacks to model.fit, with training.TensorBoardLogs(cfg) among them")
        logged = _logged_losses(logdir)
        _expect(len(logged) >= len(loss) and np.isclose(logged[-1], loss[-1], rtol=1e-4), "Ex 7",
                f"the TensorBoard logs in {logdir} are not those of this run (an earlier run's?)",
                "pass callbacks=callbacks to model.fit: the TensorBoard callback logs every epoch")
        _expect(bool(read_images(logdir)), "Ex 7", f"no prediction images in {logdir}",
                "add training.PredictionImages(x_val[preview], y_val[preview], logdir, epochs=...) to the callbacks")
    _ok("Ex 7", f"training loss {loss[0]:.3f} -> {loss[-1]:.3f} over {len(loss)} epochs, "
                f"validation loss {values['val_loss'][-1]:.3f}")


def _tumour_contrast(images: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Per slice: mean FLAIR inside the labelled tumour minus mean FLAIR in the rest of the brain."""
    flair = images[..., MODALITIES.index("flair")]
    out = []
    for image, labels in zip(flair, classes):
        tumour, brain = labels > 0, image != 0
        rest = brain & ~tumour
        out.append(image[tumour].mean() - image[rest].mean() if tumour.any() and rest.any() else np.nan)
    return np.array(out)


def _in_between_share(classes: np.ndarray) -> float:
    """Mean share, over slices, of the tumour pixels whose 4 neighbours hold both a lower and a
    higher class: the trace of labels interpolated linearly."""
    shares = []
    for labels in np.asarray(classes).astype(np.int16):
        padded = np.pad(labels, 1, mode="edge")
        neighbours = np.stack([padded[:-2, 1:-1], padded[2:, 1:-1], padded[1:-1, :-2], padded[1:-1, 2:]])
        between = (labels > 0) & (neighbours < labels).any(axis=0) & (neighbours > labels).any(axis=0)
        shares.append(between.sum() / max(np.count_nonzero(labels), 1))
    return float(np.mean(shares))


def check_ex8(images, classes, augmented_images, augmented_classes) -> None:
    """Ex 8: augmentation keeps shapes, moves labels with their image and never blends them."""
    images, classes = np.asarray(images), np.asarray(classes)
    augmented_images, augmented_classes = np.asarray(augmented_images), np.asarray(augmented_classes)
    _expect(augmented_images.shape == images.shape and augmented_classes.shape == classes.shape, "Ex 8",
            f"shapes changed: images {images.shape} -> {augmented_images.shape}, classes {classes.shape} -> "
            f"{augmented_classes.shape}", "augment, do not crop or resize; keep images and classes in that order")
    _expect(not np.array_equal(images, augmented_images), "Ex 8", "the augmented images equal the originals",
            "apply a transform (flip, rotation, scaling) before comparing")
    _expect(np.all(np.mod(augmented_classes, 1) == 0), "Ex 8", "the augmented labels hold fractions",
            "labels must be moved with nearest-neighbour interpolation, never blended")
    for before, after in zip(classes, augmented_classes):
        invented = set(np.unique(after).tolist()) - set(np.unique(before).tolist()) - {0}
        _expect(not invented, "Ex 8", f"the augmented labels contain {sorted(invented)}, absent before",
                "labels must be moved with nearest-neighbour interpolation, never blended")
    # Labels blended linearly leave a band of an in-between class along every border (NCR (1)
    # between edema (2) and background (0)...); nearest neighbour keeps their share.
    blended = _in_between_share(augmented_classes) - _in_between_share(classes)
    _expect(blended < 0.04, "Ex 8",
            f"{blended:.0%} more of the tumour pixels sit between two other classes: a band of in-between labels",
            "labels must be moved with nearest-neighbour interpolation (order=0), never blended")
    # Aligned labels keep the tumour's FLAIR contrast (gain and offset move it by ~10 %);
    # labels moved apart from their image lose most of it on at least one slice.
    before, after = _tumour_contrast(images, classes), _tumour_contrast(augmented_images, augmented_classes)
    visible = before > 0
    aligned = not visible.any() or np.nanmin(after[visible] / before[visible]) > 0.6
    _expect(aligned, "Ex 8", "the augmented labels no longer sit on the tumour of the augmented images",
            "move images and labels with the same transform (same flip axis, angle and seed); the "
            "images have a channel axis that the labels do not")
    _ok("Ex 8", "same shapes, labels aligned and never blended, images changed")


def check_ex9(history, logdir) -> None:
    """Ex 9: a run trained with augmentation (its ``config.json`` says so) whose loss went down."""
    config_path = Path(logdir) / "config.json"
    _expect(config_path.is_file(), "Ex 9", f"no {config_path}", "train with training.train(cfg): it writes config.json")
    _expect(json.loads(config_path.read_text()).get("augment") is True, "Ex 9", "this run was trained without augmentation",
            "create the configuration with augment=True")
    loss = _history_dict(history)["loss"]
    _expect(len(loss) == 1 or loss[-1] < loss[0], "Ex 9", f"the loss went from {loss[0]:.3f} to {loss[-1]:.3f}",
            "keep the other settings of Ex 7")
    _ok("Ex 9", f"augmented run: training loss {loss[0]:.3f} -> {loss[-1]:.3f} over {len(loss)} epochs")


def check_ex11(patient, X, prediction, mask, root=None) -> None:  # noqa: N803 (handout's X)
    """Ex 11: ``X``, the prediction and the mask along load_image -> predict -> get_mask2original_shape."""
    from .predict import get_mask2original_shape, load_image

    expected_x = load_image(patient, root)
    _expect(_shape(X) == expected_x.shape, "Ex 11", f"X has shape {_shape(X)}, expected {expected_x.shape}",
            "load_image returns one patient: 77 slices, 96 x 96, 4 modalities")
    if not np.allclose(X, expected_x, atol=1e-4):
        raw = np.abs(np.asarray(X)).max() > 50
        _expect(False, "Ex 11", f"X differs from load_image({patient!r})" + (": it is not normalised" if raw else ""),
                "give the network exactly what load_image returns: z-scores per modality, as in training")
    prediction = np.asarray(prediction)
    _expect(prediction.shape == expected_x.shape[:3] + (N_CLASSES,), "Ex 11",
            f"prediction {prediction.shape}, expected {expected_x.shape[:3] + (N_CLASSES,)}",
            "model.predict(X) gives one probability per class (4) for every pixel")
    _expect(np.allclose(prediction.sum(axis=-1), 1, atol=1e-2) and prediction.min() >= 0, "Ex 11",
            "the prediction is not a set of probabilities (each pixel's 4 values should sum to 1)",
            "use model.predict(X) as it comes, before any argmax")
    _expect(_shape(mask) == (155, 240, 240), "Ex 11", f"mask {_shape(mask)}, expected (155, 240, 240)",
            "get_mask2original_shape resizes, takes the argmax and pads back")
    found = sorted(np.unique(mask).tolist())
    _expect(set(found) <= set(BRATS_LABELS), "Ex 11", f"mask labels {found}",
            "class 3 of the network is label 4 in BraTS")
    _expect(np.array_equal(mask, get_mask2original_shape(prediction)), "Ex 11",
            "the mask is not get_mask2original_shape(prediction)", "apply get_mask2original_shape to the prediction")
    _ok("Ex 11", "X (77, 96, 96, 4) -> prediction (77, 96, 96, 4) -> mask (155, 240, 240)")


def check_ex12_truth(orig_mask, patient, root=None) -> None:
    """Ex 12: the ground truth of ``patient``, read from ``origin_data/`` (before plotting it)."""
    _expect(_shape(orig_mask) == (155, 240, 240), "Ex 12",
            f"the ground truth has shape {_shape(orig_mask)}, expected (155, 240, 240)",
            "read the original labels, origin_data/<ID>/<ID>_seg.nii.gz, not the 96 x 96 slices of data/")
    _expect(np.array_equal(orig_mask, data.load_original(patient, "seg", root)), "Ex 12",
            f"the ground truth is not {patient}'s origin_data seg volume",
            "read tp3.data.origin_path(patient, 'seg', ROOT) with SimpleITK")
    _ok("Ex 12", f"ground truth of {patient}, (155, 240, 240), labels {sorted(np.unique(orig_mask).tolist())}")


def check_ex12(exported_path, reference_path) -> None:
    """Ex 12: the exported NIfTI overlays the MRI (same size, spacing, origin, direction)."""
    exported, reference = data.describe_image(exported_path), data.describe_image(reference_path)
    for key in ("size", "spacing", "origin", "direction"):
        _expect(exported[key] == reference[key], "Ex 12", f"{key} {exported[key]} differs from the MRI's {reference[key]}",
                "numpy2nifti copies spacing, origin and direction from the reference image")
    _ok("Ex 12", f"{Path(exported_path).name} has the MRI's geometry: open both in 3D Slicer")


def _ex13_hint(results, prediction, ground_truth, close) -> str:
    """What most likely made ``results`` differ (computed only for a wrong answer)."""
    from .metrics import evalAllSample
    from .preprocessing import labels_to_classes

    if close(results, evalAllSample(prediction, labels_to_classes(ground_truth))) or \
            close(results, evalAllSample(labels_to_classes(prediction), ground_truth)):
        return ("one of your volumes holds the network's class 3 where BraTS has label 4: evaluate the "
                "predict_mask of Ex 11 (labels 0, 1, 2, 4) against orig_mask as read from origin_data/")
    return ("compute results from the predict_mask and orig_mask passed to this check, unchanged, both "
            "(155, 240, 240) in the original space: results = evalAllSample(predict_mask, orig_mask)")


def check_ex13(results: dict, prediction, ground_truth, patient=None, root=None) -> None:
    """Ex 13: the metrics of one patient, as evalAllSample computes them."""
    from .metrics import evalAllSample

    for name, volume in (("prediction", prediction), ("ground truth", ground_truth)):
        _expect(_shape(volume) == (155, 240, 240), "Ex 13", f"the {name} has shape {_shape(volume)}",
                "both volumes are in the original space (155, 240, 240)")
        extra = sorted(set(np.unique(volume).tolist()) - set(BRATS_LABELS))
        _expect(not extra, "Ex 13", f"the {name} holds labels {extra}",
                "BraTS labels are 0, 1, 2 and 4: the network's class 3 is label 4")
    if patient is not None:
        _expect(np.array_equal(ground_truth, data.load_original(patient, "seg", root)), "Ex 13",
                f"the ground truth is not {patient}'s", "use the orig_mask of Ex 12")
    _expect(isinstance(results, dict) and set(results) == {"WT", "TC", "ET"}, "Ex 13",
            f"results should map WT, TC and ET to their metrics, got {type(results).__name__}",
            "results = evalAllSample(predict_mask, orig_mask)")
    expected = evalAllSample(prediction, ground_truth)
    close = lambda a, b: all(np.isclose(a[r][m], b[r][m]) for r in b for m in b[r])
    # The swapped order is scored only for a wrong answer: a right one pays one evaluation.
    _expect(close(results, expected) or not close(results, evalAllSample(ground_truth, prediction)), "Ex 13",
            "your results are evalAllSample(ground truth, prediction): the arguments are swapped",
            "evalAllSample(prediction, ground_truth): the prediction first")
    for region, values in expected.items():
        for metric, value in values.items():
            _expect(np.isclose(results[region][metric], value), "Ex 13",
                    f"{region} {metric} = {results[region][metric]:.4f}, expected {value:.4f}",
                    _ex13_hint(results, prediction, ground_truth, close))
    _ok("Ex 13", "Dice " + ", ".join(f"{r} {v['dice']:.3f}" for r, v in expected.items()))
