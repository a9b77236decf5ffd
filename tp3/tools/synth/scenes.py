"""Scenes: what a synthetic case is made of (tissue fractions, tumour regions, mimics), kept at
the course's resolution without any contrast, so that training can draw the images afresh for
every batch (:mod:`.randomise`; the pretrained model, ``python -m tp3 pretrain``).

A scene is the generator's :func:`~.cases.build_scene` (wide tumour variety by default,
:data:`TUMOUR_VARIETIES`), each map placed
in the ``(155, 240, 240)`` volume and brought to the course grid exactly as an image is
(:func:`tp3.preprocessing.resize_image`: crop, anti-aliased linear resize to ``(77, 96, 96)``),
and its labels exactly as labels are (:func:`tp3.preprocessing.resize_labels`). So a scene
rendered and z-scored is what the course preprocessing makes of a scan of that brain, up to
what rendering after the resize changes (texture and noise are drawn at the course's scale).

On disk: ``scene_<index>.npz`` (``maps`` uint8 ``(13, 77, 96, 96)``, fractions x 255 in the
order of :data:`MAPS`; ``classes`` uint8 ``(77, 96, 96)`` in 0-3; about 0.5 MB compressed).
The same ``(seed, index)`` always gives the same scene.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...files import atomic_file, exclusive, write_text_atomic
from ...preprocessing import COURSE_SHAPE, labels_to_classes, resize_image, resize_labels
from .anatomy import in_full_volume
from .cases import build_scene
from .recipe import COURSE_VARIETY, GENERATOR_VERSION, WIDE_VARIETY, TumourVariety, case_grade

#: The maps of a scene, in their order in ``maps``. ``visible``: what the skull stripping kept.
MAPS = ("gm", "wm", "csf", "necrosis", "edema", "enhancing", "vessels", "plexus", "periventricular", "wmh",
        "rim", "shell", "visible")
MIMIC_MAPS = MAPS[6:12]
#: Recorded in the scene folder; a folder never mixes two streams.
RECORD = ".tp3-scenes.json"
#: The tumours a scene stream draws: ``wide`` (issue 33's failures on real scans) or ``course``
#: (the course data's own).
TUMOUR_VARIETIES = {"wide": WIDE_VARIETY, "course": COURSE_VARIETY}


def tumour_variety(name: str) -> TumourVariety:
    """The variety of :data:`TUMOUR_VARIETIES` called ``name``; any other name is refused."""
    if name not in TUMOUR_VARIETIES:
        raise ValueError(f"tumours {name!r}: not one of {', '.join(TUMOUR_VARIETIES)}")
    return TUMOUR_VARIETIES[name]


@dataclass
class CourseScene:
    """One scene on the course grid: ``maps`` uint8 ``(13, 77, 96, 96)`` (:data:`MAPS`, fractions x 255),
    ``classes`` uint8 ``(77, 96, 96)`` in 0-3 (background, NCR/NET, edema, enhancing), ``grade``."""

    maps: np.ndarray
    classes: np.ndarray
    grade: str

    def fraction(self, name: str) -> np.ndarray:
        """Map ``name`` as float32 in [0, 1]."""
        return self.maps[MAPS.index(name)].astype(np.float32) * np.float32(1 / 255)


def _on_course_grid(box_array, box) -> np.ndarray:
    return resize_image(in_full_volume(box_array.astype(np.float32), box))


def _quantised(fraction, round_up: bool = False) -> np.ndarray:
    scaled = np.clip(fraction, 0, 1) * 255
    # round_up: a voxel the resize touched at all stays non-zero (the brain mask of a real scan).
    return (np.ceil(scaled) if round_up else np.round(scaled)).astype(np.uint8)


def course_scene(seed: int, index: int, variety: TumourVariety = WIDE_VARIETY) -> CourseScene:
    """Scene ``index`` of the stream ``seed``, on the course grid. Deterministic."""
    rng = np.random.default_rng([seed, index])
    grade = case_grade(index)
    scene = build_scene(rng, grade, variety)
    box, mimics = scene.box, scene.mimics
    regions = {"necrosis": scene.labels == 1, "edema": scene.labels == 2, "enhancing": scene.labels == 4}
    inside = scene.brain.astype(np.float32)
    fractions = {"gm": scene.gm * inside, "wm": scene.wm * inside, "csf": scene.csf * inside, **regions}
    fractions.update({name: getattr(mimics, name) for name in MIMIC_MAPS})
    maps = [_quantised(_on_course_grid(fractions[name], box)) for name in MAPS[:-1]]
    maps.append(_quantised(_on_course_grid(scene.visible, box), round_up=True))
    classes = labels_to_classes(resize_labels(in_full_volume(scene.labels, box)))
    return CourseScene(np.stack(maps), classes.astype(np.uint8), grade)


def scene_path(folder, index: int) -> Path:
    return Path(folder) / f"scene_{index:05d}.npz"


def save_scene(scene: CourseScene, path: Path) -> Path:
    with atomic_file(path) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, maps=scene.maps, classes=scene.classes, grade=scene.grade)
    return path


def load_scene(path) -> CourseScene:
    """Read a scene written by :func:`save_scene`; a damaged or foreign file is named."""
    try:
        with np.load(path, allow_pickle=False) as saved:
            scene = CourseScene(saved["maps"], saved["classes"], str(saved["grade"]))
    except (OSError, ValueError, KeyError) as error:
        raise ValueError(f"{path}: not a readable scene ({error}); delete it and rerun to make it again") from None
    if scene.maps.shape != (len(MAPS),) + COURSE_SHAPE or scene.classes.shape != COURSE_SHAPE:
        raise ValueError(f"{path}: maps {scene.maps.shape} and classes {scene.classes.shape}, expected "
                         f"{(len(MAPS),) + COURSE_SHAPE} and {COURSE_SHAPE}; delete it and rerun")
    return scene


def _make_and_save(job):
    seed, index, folder, tumours = job
    save_scene(course_scene(seed, index, tumour_variety(tumours)), scene_path(folder, index))
    return index


def generate_scenes(folder, stop: int, seed: int, workers: int = 1, start: int = 1, progress: bool = True,
                    tumours: str = "wide") -> list[Path]:
    """Write scenes ``start`` .. ``stop`` of stream ``seed`` (tumours of the variety named
    ``tumours``, :data:`TUMOUR_VARIETIES`) into ``folder`` (those already there are kept: a rerun
    completes an interrupted one). Returns the paths of scenes 1 .. ``stop``."""
    from tqdm.auto import tqdm

    from ..workers import parallel

    tumour_variety(tumours)  # before the folder is made
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with exclusive(folder, f"scenes in {folder}"):
        wanted = {"generator": GENERATOR_VERSION, "seed": seed, "tumours": tumours}
        record = folder / RECORD
        # Folders written before the variety could be chosen hold wide tumours.
        if record.exists() and {"tumours": "wide", **json.loads(record.read_text())} != wanted:
            raise FileExistsError(f"{folder} holds scenes of {record.read_text().strip()}, not {wanted}; "
                                  "one folder never mixes two streams: choose another folder")
        write_text_atomic(record, json.dumps(wanted) + "\n")
        jobs = [(seed, i, folder, tumours) for i in range(start, stop + 1) if not scene_path(folder, i).exists()]
        with tqdm(total=len(jobs), desc="scenes", unit="scene", disable=not progress) as bar, \
                parallel(_make_and_save, jobs, workers) as made:
            for _ in made:
                bar.update()
    return [scene_path(folder, i) for i in range(1, stop + 1)]
