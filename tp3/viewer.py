"""Ex 12 without leaving the notebook: the MRI with the ground truth and the prediction in 3D,
and the three files in one download for 3D Slicer.

Ex 12  ``view3d(patient, prediction)``: two NiiVue views side by side (ground truth | prediction,
       each over the patient's MRI in the kit's label colours): three orthogonal planes and a 3D
       rendering, to turn and scroll with the mouse. NiiVue (``ipyniivue``, an anywidget whose
       JavaScript is inside the Python package) needs no network. Where no browser draws widgets
       (``nbconvert``, CI's smoke mode) or ipyniivue is missing, the same three planes are drawn
       with Matplotlib, and one line says why.
       ``slicer_bundle(patient, prediction)``: MRI, ground truth and prediction in one zip file
       (downloaded at once on Colab), for 3D Slicer.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from . import runtime
from .data import load_original, origin_path
from .layout import MODALITIES, PREDICTIONS, course_root
from .viz import CLASS_COLOURS, CLASS_NAMES, class_overlay

__all__ = ["view3d", "niivue_views", "plot_planes", "slicer_bundle", "widget_unavailable"]

#: BraTS label -> class of the kit (label 3 does not exist), for the viewer's colour table.
LABEL_CLASSES = {0: 0, 1: 1, 2: 2, 4: 3}


def widget_unavailable() -> str | None:
    """Why the 3D widget cannot be shown here (one line), or None when it can."""
    try:
        import ipyniivue  # noqa: F401
    except ImportError:
        return "ipyniivue is not installed (pip install 'ipyniivue>=2.3')"
    try:
        from IPython import get_ipython
    except ImportError:
        return "not in a Jupyter notebook"
    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return "not in a Jupyter notebook"
    if runtime.smoke_mode():
        return "smoke mode (TP3_SMOKE): the notebook runs without a browser to draw the widget"
    return None


def _label_table():
    """NiiVue's colour table for BraTS labels 0-4: the kit's class colours, background and 3 clear."""
    from ipyniivue import LUT

    rgba = []
    for label in range(5):
        cls = LABEL_CLASSES.get(label)
        rgba += [0, 0, 0, 0] if not cls else [*map(int, CLASS_COLOURS[cls]), 255]
    names = [CLASS_NAMES[LABEL_CLASSES[label]] if label in LABEL_CLASSES else "" for label in range(5)]
    return LUT(lut=rgba, min=0, max=4, labels=names)


def _prediction_file(patient: str, prediction, root: Path) -> Path:
    if isinstance(prediction, (str, Path)):
        path = Path(prediction)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such prediction file (write it with numpy2nifti first)")
        return path
    from .predict import numpy2nifti

    labels = np.asarray(prediction)
    # A file the viewer owns, replaced at each call: the student's own exports are never touched.
    return numpy2nifti(labels.astype(np.uint8), origin_path(patient, "flair", root),
                       root / PREDICTIONS / f".view3d_{patient}.nii.gz", overwrite=True)


def _panel(title: str, mri: Path, labels: Path, height: int, centre: tuple):
    import ipywidgets
    from ipyniivue import NiiVue, ShowRender, SliceType

    # A blue crosshair: red, green and yellow are the labels'.
    view = NiiVue(height=height, multiplanar_show_render=ShowRender.ALWAYS, back_color=(0, 0, 0, 1),
                  show_3d_crosshair=True, crosshair_color=(0.25, 0.6, 1.0, 1.0))
    # Dictionaries: ipyniivue 2.3 takes only these (2.4 also Volume objects).
    view.load_volumes([{"path": str(mri)},
                       {"path": str(labels), "opacity": 0.6, "colormap_label": _label_table()}])
    view.set_slice_type(SliceType.MULTIPLANAR)
    if getattr(view, "scene", None) is not None:  # ipyniivue >= 2.4: the planes cross in the tumour
        view.scene.crosshair_pos = list(centre)
    return ipywidgets.VBox([ipywidgets.HTML(f"<b>{title}</b>"), view],
                           layout=ipywidgets.Layout(width="50%"))


def _legend_html() -> str:
    swatches = "".join(f'<span style="background:rgb{tuple(int(v) for v in CLASS_COLOURS[c])};'
                       f'padding:0 0.6em;margin:0 0.3em 0 1em"></span>{CLASS_NAMES[c]}' for c in range(1, 4))
    return f"<div>{swatches} &nbsp;— drag to turn the 3D view, click a plane to move the others</div>"


def view3d(patient: str, prediction, root=None, modality: str = "flair", height: int = 400, widget: bool | None = None):
    """Ex 12: show ``patient``'s MRI (``modality``) with its ground truth and ``prediction`` in 3D.

    ``prediction``: the labels ``(155, 240, 240)`` in {0,1,2,4} (``get_mask2original_shape``'s),
    or the NIfTI file ``numpy2nifti`` wrote. ``widget``: None chooses (the 3D widget where it can
    be drawn, else Matplotlib's planes, saying why); True requires the widget; False draws
    Matplotlib's planes. Returns the widget (displayed when it is a cell's last value) or the
    Matplotlib figure.
    """
    root = Path(root) if root is not None else course_root()
    if modality not in MODALITIES:
        raise ValueError(f"modality {modality!r}: one of {', '.join(MODALITIES)}")
    reason = widget_unavailable() if widget is not False else "asked for (widget=False)"
    if widget and reason:
        raise RuntimeError(f"the 3D widget cannot be shown: {reason}")
    if reason is None:
        _enable_colab_widgets()
        return niivue_views(patient, prediction, root, modality, height)
    print(f"3D view unavailable ({reason}): the three planes through the tumour with Matplotlib instead.")
    labels = _read_labels(prediction)
    return plot_planes(load_original(patient, modality, root), load_original(patient, "seg", root), labels,
                       title=f"{patient} ({modality.upper()})")


def niivue_views(patient: str, prediction, root, modality: str = "flair", height: int = 400):
    """:func:`view3d`'s widget: a legend over two NiiVue views (ground truth | prediction), each
    the MRI with the labels in the kit's colours, three planes and a 3D rendering."""
    import ipywidgets

    predicted = _prediction_file(patient, prediction, Path(root))
    mri, truth = origin_path(patient, modality, root), origin_path(patient, "seg", root)
    labels = load_original(patient, "seg", root)
    # NiiVue places the crosshair in fractions of the volume along the NIfTI axes (x, y, z),
    # which run against the array's (z, y, x) and, for x and y, against its direction (LPS).
    z, y, x = tumour_centre(labels)
    depth, rows, columns = labels.shape
    centre = (1 - (x + 0.5) / columns, 1 - (y + 0.5) / rows, (z + 0.5) / depth)
    return ipywidgets.VBox([ipywidgets.HTML(_legend_html()),
                            ipywidgets.HBox([_panel(f"{patient}: ground truth", mri, truth, height, centre),
                                             _panel(f"{patient}: prediction", mri, predicted, height, centre)])])


def _read_labels(prediction) -> np.ndarray:
    if isinstance(prediction, (str, Path)):
        import SimpleITK as sitk

        return sitk.GetArrayFromImage(sitk.ReadImage(str(prediction)))
    return np.asarray(prediction)


def _enable_colab_widgets() -> None:
    """Colab draws third-party widgets only once its custom widget manager is on."""
    try:
        from google.colab import output
    except ImportError:
        return
    output.enable_custom_widget_manager()


def tumour_centre(labels: np.ndarray) -> tuple[int, int, int]:
    """``(z, y, x)`` voxel at the centre of the tumour's bounding box (of the volume if none)."""
    where = np.nonzero(labels)
    if not len(where[0]):
        return tuple(n // 2 for n in labels.shape)
    return tuple(int((w.min() + w.max()) // 2) for w in where)


def plot_planes(mri: np.ndarray, truth: np.ndarray, prediction: np.ndarray, title: str = ""):
    """Matplotlib's stand-in for :func:`view3d`: axial, coronal and sagittal planes through the
    tumour (the ground truth's, else the prediction's), ground truth above, prediction below.
    ``mri``, ``truth``, ``prediction``: ``(155, 240, 240)``; labels in {0,1,2,4}. Returns the figure."""
    import matplotlib.pyplot as plt

    from .preprocessing import labels_to_classes
    from .viz import legend_handles

    for name, labels in (("ground truth", truth), ("prediction", prediction)):
        if np.shape(labels) != np.shape(mri):
            raise ValueError(f"{name} {np.shape(labels)} and MRI {np.shape(mri)} differ in shape; "
                             "bring the prediction back with get_mask2original_shape")
    z, y, x = tumour_centre(truth if np.any(truth) else prediction)
    planes = {"axial": lambda v: v[z], "coronal": lambda v: v[::-1, y, :], "sagittal": lambda v: v[::-1, :, x]}
    fig, axes = plt.subplots(2, 3, figsize=(11, 7.5))
    for row, (name, labels) in enumerate((("ground truth", truth), ("prediction", prediction))):
        classes = labels_to_classes(np.asarray(labels))
        for col, (plane, cut) in enumerate(planes.items()):
            axes[row, col].imshow(class_overlay(cut(mri), cut(classes)))
            axes[row, col].set_title(f"{name}, {plane}")
            axes[row, col].axis("off")
    fig.legend(handles=legend_handles(), loc="lower center", ncol=3)
    fig.suptitle(title)
    return fig


def slicer_bundle(patient: str, prediction, root=None, out=None, download: bool | None = None) -> Path:
    """Ex 12: the patient's MRI (the four modalities), ground truth and ``prediction`` (labels or
    the NIfTI file of ``numpy2nifti``) in one zip file for 3D Slicer, ``out`` (default
    ``ROOT/predictions/<patient>_slicer.zip``). On Colab (``download`` None or True) the browser
    downloads it at once. Returns its path."""
    root = Path(root) if root is not None else course_root()
    predicted = _prediction_file(patient, prediction, root)
    out = Path(out) if out else root / PREDICTIONS / f"{patient}_slicer.zip"
    out.parent.mkdir(parents=True, exist_ok=True)
    from .files import atomic_file

    with atomic_file(out) as tmp, zipfile.ZipFile(tmp, "w") as bundle:
        for name in (*MODALITIES, "seg"):
            path = origin_path(patient, name, root)
            bundle.write(path, f"{patient}/{path.name}")
        bundle.write(predicted, f"{patient}/{patient}_prediction.nii.gz")
        bundle.writestr(f"{patient}/README.txt", SLICER_HOWTO.format(patient=patient))
    print(f"{out} ({out.stat().st_size / 1e6:.1f} MB): in 3D Slicer, File > Add Data, the folder's files; "
          "_seg and _prediction as segmentations")
    if download is not False:
        try:
            from google.colab import files
        except ImportError:
            if download:
                raise RuntimeError("download=True needs Colab; elsewhere the zip file is already on your disk") from None
        else:
            files.download(str(out))
    return out


SLICER_HOWTO = """{patient}: MRI (t1, t1ce, t2, flair), ground truth (_seg) and the network's prediction.
3D Slicer (https://www.slicer.org/): File > Add Data, choose the files; tick "Show options" and
load {patient}_seg.nii.gz and {patient}_prediction.nii.gz as "Segmentation" (labels 1 NCR/NET,
2 edema, 4 enhancing tumour). The Segmentations module shows them in 3D ("Show 3D").
"""
