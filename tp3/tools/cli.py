"""``python -m tp3 <command>``: the kit's command line (a thin layer over the package).

Longer than 300 lines because it holds every command's flags and help in one parser, which
``--help`` shows whole; each command's work is a call into the package.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import signal
import sys
import time
from pathlib import Path

from .. import layout
from ..layout import course_root
from ..config import TrainConfig
from ..runtime import default_workers, sample_patients
from ..settings import DEMO_EPOCHS, DEMO_WIDTH, GRADING_TIMEOUT_S, PRECISIONS, REGIONS, SEED


def _synth(args) -> int:
    from .synth import generate

    start = time.perf_counter()
    cases = generate(args.out, args.patients, args.seed, workers=args.workers, force=args.force)
    grades = [g for _, g in cases]
    print(f"{len(cases)} synthetic case(s) in {args.out} ({grades.count('HGG')} HGG, "
          f"{grades.count('LGG')} LGG) in {time.perf_counter() - start:.1f} s")
    if args.preview:
        from .montage import case_montage

        case_montage([args.out / cid for cid, _ in cases], args.preview)
        print(f"preview of the first {min(len(cases), 8)} case(s): {args.preview}")
    return 0


def _prepare(args) -> int:
    from .preparation import prepare

    summary = prepare(args.brats, args.root, seed=args.seed, workers=args.workers,
                      force=args.force, strict=args.strict, patients=args.patients)
    print(summary)
    return 0


def _sample(args) -> int:
    from ..data import summarise_course
    from .sample import ensure_sample

    root = ensure_sample(args.root, args.patients, args.seed, args.workers)
    print(summarise_course(root))
    return 0


def _convert(args) -> int:
    from ..modelfile import convert, read_settings

    out = convert(args.model, args.out, overwrite=args.force)
    settings = read_settings(out)
    print(f"{out}: U-Net width {settings['width']}, depth {settings['depth']}, written by Keras "
          f"{settings['keras']}; loads on every Keras 3 (tp3.predict.load_model). {args.model} is unchanged.")
    return 0


def _train(args) -> int:
    from ..training import train

    cfg = training_config(args)
    history = train(cfg)
    print(loss_report(history.history))
    print(f"model: {cfg.model_out}\nlogs: {cfg.logdir} (tensorboard --logdir {cfg.logdir})")
    return 0


def add_train_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per :class:`tp3.config.TrainConfig` field but its augmentation ranges (``--model-out``,
    ``--augment/--no-augment``...), its help from the field. Unset flags stay ``None``: the config file or the defaults decide."""
    kinds = {"str": str, "int": int, "float": float}
    for field in _flag_fields():
        flag = "--" + field.name.replace("_", "-")
        help_text = field.metadata.get("help", "")
        if field.type == "bool":
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        elif field.name == "precision":
            parser.add_argument(flag, choices=PRECISIONS, default=None, help=help_text)
        else:
            parser.add_argument(flag, type=kinds[field.type], default=None, help=help_text)


def _flag_fields() -> list:
    """The TrainConfig fields that have a flag: all but the augmentation's ranges (an object, set
    in ``--config``'s file or tp3/settings.py) and the sizing's record (written by tp3.sizing)."""
    return [field for field in dataclasses.fields(TrainConfig) if field.name not in ("augmentation", "sizing")]


def training_config(args) -> TrainConfig:
    """A TrainConfig from ``--config FILE`` (if given) overridden by the flags given."""
    given = {field.name: getattr(args, field.name) for field in _flag_fields() if getattr(args, field.name) is not None}
    if args.config:
        return dataclasses.replace(TrainConfig.load(args.config), **given)
    missing = [f"--{name.replace('_', '-')}" for name in ("logdir", "model_out") if name not in given]
    if missing:
        raise ValueError(f"train needs {' and '.join(missing)} (or --config FILE)")
    return TrainConfig(**given)


def loss_report(history: dict) -> str:
    """'loss 1.20 -> 0.35 over 5 epochs (falling)' and the last validation Dice."""
    loss = history["loss"]
    trend = "one epoch" if len(loss) == 1 else "falling" if loss[-1] < loss[0] else "NOT falling"
    text = f"training loss {loss[0]:.4f} -> {loss[-1]:.4f} over {len(loss)} epochs ({trend})"
    if "val_loss" in history:
        text += (f"; validation loss {history['val_loss'][-1]:.4f}, Dice {'/'.join(REGIONS)} "
                 + "/".join(f"{history[f'val_dice_{r.lower()}'][-1]:.2f}" for r in REGIONS))
    return text


def _pretrain(args) -> int:
    from .pretrain import PretrainConfig, pretrain

    given = {field.name: getattr(args, field.name) for field in dataclasses.fields(PretrainConfig)
             if getattr(args, field.name, None) is not None}
    config = PretrainConfig(**{**given, "work": str(args.work), "model_out": str(args.model_out)})
    history = pretrain(config, progress=not args.quiet, force=args.force)
    print(loss_report(history.history))
    print(f"model: {config.model_out} (the epoch of lowest validation loss)\nlog: {args.work / 'training_log.csv'}")
    return 0


def _evaluate(args) -> int:
    from .evaluation import evaluate
    from ..metrics import metrics_table

    report = evaluate(args.model, args.root, args.patients, args.out, args.json, force=args.force)
    print(metrics_table(report["patients"]))
    return 0


def _notebooks(args) -> int:
    from . import notebooks

    action = {"students": notebooks.generate_students, "strip": notebooks.strip_solutions,
              "refresh": notebooks.refresh_solutions,
              "html": lambda: notebooks.render_html(args.out)}[args.action]
    for path in action():
        print(path)
    return 0


def _grade(args) -> int:
    from .grading.grader import grade

    return grade(args.submissions, args.out, jobs=args.jobs, seconds=args.timeout, sample=args.sample,
                 force=args.force, unsafe=args.unsafe)


def _demo(args) -> int:
    from ..runtime import quiet_tensorflow_import

    quiet_tensorflow_import()  # a newcomer's first screen: the kit's lines, not TensorFlow's
    from ..data import summarise_course
    from ..training import train
    from .sample import ensure_sample

    root = ensure_sample(args.root)
    print(summarise_course(root))
    model_out, logdir = layout.run_paths(root, "demo")
    cfg = TrainConfig(root=root, logdir=logdir, model_out=model_out, epochs=DEMO_EPOCHS, width=DEMO_WIDTH)
    print(f"\nTraining a U-Net of width {cfg.width} for {cfg.epochs} epochs (logs in {cfg.logdir})")
    print(loss_report(train(cfg).history))

    from .evaluation import evaluate
    from ..metrics import metrics_table

    print(f"\nEvaluating {cfg.model_out} on origin_data/ (original space, BraTS metrics)")
    report = evaluate(cfg.model_out, root, out_dir=root / layout.PREDICTIONS / "demo", force=True)
    print(metrics_table(report["patients"]))
    print(f"What to expect: after {cfg.epochs} short epochs at width {cfg.width}, the network has learnt "
          "where the whole tumour (WT) is, not yet its core (TC) and enhancing rim (ET), which are small "
          "and come later in training: their Dice is often 0 here and their HD95 the largest distance in "
          "the volume. The pretrained model below trained longer on more cases.")
    pretrained = layout.shipped(root, layout.MODELS, layout.PRETRAINED)
    if pretrained.is_file():
        print(f"\nFor comparison, the pretrained model of Ex 11-13 ({pretrained}; models/README.md says how "
              "it was trained) on the same patients:")
        report = evaluate(pretrained, root, out_dir=root / layout.PREDICTIONS / "demo-pretrained", force=True)
        print(metrics_table(report["patients"]))
    return 0


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tp3", description="TP3 U-Net course kit")
    commands = parser.add_subparsers(dest="command", required=True)

    synth = commands.add_parser("synth", help="write synthetic BraTS-like cases (BraTS 2019 layout)")
    synth.add_argument("--out", type=Path, required=True, help="output folder")
    synth.add_argument("--patients", type=_at_least_one, default=sample_patients())
    synth.add_argument("--seed", type=int, default=SEED)
    synth.add_argument("--workers", type=_at_least_one, default=default_workers(),
                       help="processes side by side (at most one per CPU core is used)")
    synth.add_argument("--force", action="store_true", help="write into a non-empty folder")
    synth.add_argument("--preview", type=Path, metavar="PNG",
                       help="also draw a montage of the cases (4 modalities and labels at the "
                            "tumour's largest slice) into this PNG")
    synth.set_defaults(run=_synth)

    prep = commands.add_parser("prepare", help="BraTS cases -> course layout (data/, datasets/, origin_data/)")
    prep.add_argument("--brats", type=Path, required=True, help="folder of BraTS cases (2017-2024 releases, or MSD Task01_BrainTumour)")
    prep.add_argument("--root", type=Path, default=None, help="course root (default: %(default)s -> TP3_ROOT, Colab or repo)")
    prep.add_argument("--seed", type=int, default=SEED, help="seed of the split")
    prep.add_argument("--workers", type=_at_least_one, default=default_workers(),
                      help="processes side by side (at most one per CPU core is used)")
    prep.add_argument("--force", action="store_true", help="replace existing course data")
    prep.add_argument("--strict", action="store_true", help="stop at the first bad case")
    prep.add_argument("--patients", type=int, default=None, metavar="N",
                      help="prepare N cases of the release (chosen by --seed, each grade in its share), "
                           "e.g. 300 of BraTS 2024's 1,251")
    prep.set_defaults(run=_prepare)

    sample = commands.add_parser("sample", help="build the default synthetic sample if absent")
    sample.add_argument("--root", type=Path, default=None)
    sample.add_argument("--patients", type=_at_least_one, default=None)
    sample.add_argument("--seed", type=int, default=SEED)
    sample.add_argument("--workers", type=_at_least_one, default=None)
    sample.set_defaults(run=_sample)

    train = commands.add_parser("train", help="train the U-Net (Ex 7, Ex 9 with --augment)")
    train.add_argument("--config", type=Path, help="replay a run: its logdir/config.json (flags given override it)")
    add_train_flags(train)
    train.set_defaults(run=_train)

    pre = commands.add_parser("pretrain", help="train the pretrained model of Ex 11-13 from synthetic scenes, "
                                               "images drawn afresh every batch (maintainers; models/README.md)")
    pre.add_argument("--work", type=Path, required=True, help="work folder (scenes, validation cases, log); resumable")
    pre.add_argument("--model-out", type=Path, required=True)
    pre.add_argument("--quiet", action="store_true", help="one line per epoch, no progress bars (logs)")
    pre.add_argument("--force", action="store_true", help="replace an existing --model-out")
    from .pretrain import PretrainConfig

    for field in dataclasses.fields(PretrainConfig):
        if field.name not in ("work", "model_out"):
            pre.add_argument("--" + field.name.replace("_", "-"), type=type(field.default), default=None,
                             help=f"default {field.default}")
    pre.set_defaults(run=_pretrain)

    evaluation = commands.add_parser("evaluate", help="predict, export and score patients (Ex 11-13)")
    evaluation.add_argument("--root", type=Path, default=None)
    evaluation.add_argument("--model", type=Path, required=True, help="trained model (.weights.h5, the kit's model file, or .keras)")
    evaluation.add_argument("--patients", nargs="+", help="patient IDs (default: all of origin_data/)")
    evaluation.add_argument("--out", type=Path, help="folder for the predicted NIfTI files (default ROOT/predictions)")
    evaluation.add_argument("--json", type=Path, help="write the metrics as JSON here")
    evaluation.add_argument("--force", action="store_true", help="overwrite earlier predictions")
    evaluation.set_defaults(run=_evaluate)

    conversion = commands.add_parser("convert", help="a .keras model (any Keras 3) -> the kit's model file "
                                                     "(.weights.h5), which loads on every Keras 3")
    conversion.add_argument("model", type=Path, help="a .keras archive, or a .weights.h5 without the kit's settings")
    conversion.add_argument("--out", type=Path, required=True, help="the kit's model file to write (.weights.h5)")
    conversion.add_argument("--force", action="store_true", help="replace --out if it exists")
    conversion.set_defaults(run=_convert)

    books = commands.add_parser("notebooks", help="instructor tools for the exercise notebooks")
    books.add_argument("action", choices=["students", "strip", "refresh", "html"],
                       help="students: regenerate notebooks/students/ from the solutions; strip: store "
                            "the solutions clean; refresh: execute them and keep the checked outputs; "
                            "html: render the executed solutions")
    books.add_argument("--out", type=Path, default=Path("build/html"), help="folder for html")
    books.set_defaults(run=_notebooks)

    grading = commands.add_parser("grade", help="grade a class's notebooks: grades.csv and feedback (instructors)")
    grading.add_argument("submissions", type=Path, help="folder of SUBMISSIONS/<student>/<notebook>.ipynb")
    grading.add_argument("--out", type=Path, required=True, help="folder for grades.csv, totals.csv, "
                         "summary.md and feedback/")
    grading.add_argument("--jobs", type=_at_least_one, default=2, help="notebooks run at a time (default 2)")
    grading.add_argument("--timeout", type=_at_least_one, default=GRADING_TIMEOUT_S,
                         help=f"seconds a notebook may run (default {GRADING_TIMEOUT_S})")
    grading.add_argument("--sample", type=Path, default=None,
                         help="a course root to copy for each notebook (default: the smoke sample, built once)")
    grading.add_argument("--force", action="store_true", help="replace the grades already in --out")
    grading.add_argument("--unsafe", action="store_true",
                         help="run the notebooks without the bubblewrap sandbox (a class you trust, a machine "
                              "without bwrap): student code can then read and write what you can")
    grading.set_defaults(run=_grade)

    demo = commands.add_parser("demo", help="the kit's main job on the default sample (make demo)")
    demo.add_argument("--root", type=Path, default=None)
    demo.set_defaults(run=_demo)
    return parser


#: Commands whose interrupted run the same command finishes (their writes are atomic).
RESUMABLE = {"synth", "prepare", "sample"}
INTERRUPTED = "interrupted: rerun the same command to finish (nothing is lost)"
_OS_HINTS = {errno.ENOSPC: "free some space, then rerun the same command (finished cases are kept)",
             errno.EDQUOT: "free some space, then rerun the same command (finished cases are kept)",
             errno.EROFS: "choose a folder on a writable disk",
             errno.EACCES: "choose a folder you may write to (or change its permissions)",
             errno.EPERM: "choose a folder you may write to (or change its permissions)"}


def describe_os_error(error: OSError) -> str:
    """One line for an operating-system error: the file, what happened, what to do."""
    if error.errno is None or not error.filename:
        return str(error)  # the kit's own message, which names its file
    hint = _OS_HINTS.get(error.errno)
    return f"{error.filename}: {error.strerror}" + (f"; {hint}" if hint else "")


def _stop_on_sigterm(signum, frame):
    raise KeyboardInterrupt


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.command != "train" and getattr(args, "root", "unset") is None:
        args.root = course_root()
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm)  # kill <pid> stops cleanly too
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print(INTERRUPTED if args.command in RESUMABLE else "interrupted", file=sys.stderr)
        return 130
    except OSError as error:
        print(f"error: {describe_os_error(error)}", file=sys.stderr)
        return 1
    except (ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
