"""The settings of the kit: the values a course may change, and nothing else.

The seed, the labels and regions, the splits, the size of the default sample, the
network's width and depth, the training hyper-parameters and precision, the augmentation
ranges, the prediction batch size. How they apply on this machine (smoke mode, a GPU,
bfloat16, the environment variables that override them) is :mod:`tp3.runtime`; where the
course's files live is :mod:`tp3.layout`; the synthetic generator's own recipe (contrasts,
tumour shapes) is :mod:`tp3.tools.synth.recipe`, the one place that uses it.
"""

#: The one seed of the kit: data synthesis, splits and training all derive from it.
SEED = 2020

#: Labels of BraTS 2019: background, NCR/NET, edema, enhancing tumour.
BRATS_LABELS = (0, 1, 2, 4)

#: Network classes: 0 background, 1 NCR/NET, 2 edema, 3 enhancing tumour (label 4).
N_CLASSES = 4
#: BraTS label -> network class (the network's classes are contiguous).
LABEL_TO_CLASS = {label: index for index, label in enumerate(BRATS_LABELS)}
#: The evaluated tumour regions as sets of BraTS labels: whole tumour, tumour core,
#: enhancing tumour (Ex 13). Their network classes follow from LABEL_TO_CLASS.
REGIONS = {"WT": (1, 2, 4), "TC": (1, 4), "ET": (4,)}
REGION_NAMES = {"WT": "whole tumour", "TC": "tumour core", "ET": "enhancing tumour"}

#: Fractions of patients in the train / validation / test splits.
SPLIT_FRACTIONS = {"train": 0.7, "validation": 0.15, "test": 0.15}
#: Number of validation patients whose original volumes go to ``origin_data/``.
N_ORIGIN_PATIENTS = 5

FULL_SAMPLE_PATIENTS = 40
SMOKE_SAMPLE_PATIENTS = 10


# --- The network (Ex 5-6) ------------------------------------------------------------
#: Base width of the U-Net (filters of its first level). 16 (1.9 M parameters) trains an
#: epoch of the 40-case sample in about 13 s on 2 CPU cores in bfloat16 (docs/speed.md); 64
#: (31 M) is the paper's network, the default when a GPU is visible (Colab).
UNET_WIDTH_CPU = 16
UNET_WIDTH_GPU = 64
SMOKE_WIDTH = 4
#: Number of poolings of the U-Net: 96 -> 48 -> 24 -> 12 -> 6.
UNET_DEPTH = 4

# --- Training (Ex 7, 9) ---------------------------------------------------------------
EPOCHS = 10
SMOKE_EPOCHS = 2
BATCH_SIZE = 32
LEARNING_RATE = 1e-3
#: Leave out of the training batches the slices without any brain (all four modalities 0,
#: at the ends of the volume: 4.6 of a patient's 77 on average in the sample, 0 to 12).
#: Off: Ex 7 ran 2 % faster without them, and ended with a higher validation loss (0.0110
#: against 0.0090) and ET Dice 0.014 lower (docs/speed.md). Validation never skips them.
SKIP_EMPTY_SLICES = False
#: TensorFlow's deterministic kernels (tf.config.experimental.enable_op_determinism): the
#: same seed gives the same run on one machine, for about 4 % of Ex 7's time on a CPU.
OP_DETERMINISM = True
#: tf.data's autotuning of the input pipeline. Off: at the end of an epoch, Keras deletes the
#: epoch's iterator, and the deletion waits for the autotuner's thread, which waits out a
#: timer of up to ~10 s; all cores stay idle meanwhile (seen with gdb; TensorFlow 2.16, 2.20
#: and 2.21; every other epoch or so: Ex 7's epochs took 20 s instead of 12). Off, the same
#: batches come as fast (docs/speed.md).
DATA_AUTOTUNE = False
#: The learning rate is multiplied by LR_DECAY every LR_DECAY_EVERY epochs: a no-op in
#: the notebooks' short runs, it lets long runs (Ex 10's references) settle.
LR_DECAY = 0.5
LR_DECAY_EVERY = 50
#: Prediction images are written to TensorBoard at most this many times per run (every
#: epoch of a short run; geometrically spaced epochs of a long one). TensorBoard keeps 10
#: images per tag by default: more would hide the early epochs.
N_PREVIEW_EPOCHS = 10
#: Validation slices shown in TensorBoard (those with the most tumour, one per patient).
N_PREVIEW_SLICES = 4
#: ``make demo`` trains briefly: a narrow U-Net for a few epochs (minutes on 2 CPU cores).
DEMO_WIDTH = 8
DEMO_EPOCHS = 6

# --- Ex 7 and 9 sized to the machine (tp3.sizing) ---------------------------------------
#: Ex 7's ten epochs should take about this long wherever they run: on a machine where the
#: default run would take longer, tp3.sizing.size_run serves fewer slices an epoch (EPOCH_SHARES).
TARGET_SECONDS = 180
#: The shares of the training slices served each epoch that are tried on a CPU, in order, at
#: UNET_WIDTH_CPU, until one fits TARGET_SECONDS (those with tumour first, drawn afresh every
#: epoch; in the 40-case sample 45 % of the slices hold tumour). Fewer slices, not a narrower
#: network: at the same time per epoch, width 16 on 35 % of the slices reached validation Dice
#: 0.88/0.89/0.48 after Ex 7, width 12 on half of them 0.88/0.72/0.33, width 8 learnt neither
#: TC nor ET in ten epochs (docs/speed.md). The last share is the floor (0.83/0.80/0.29).
EPOCH_SHARES = (1.0, 0.75, 0.5, 0.35, 0.25, 0.15)

# --- Data augmentation (Ex 8-9): ranges of the random transforms ------------------------
MAX_ROTATION_DEG = 15.0
SCALE_RANGE = (0.9, 1.1)
FLIP_PROBABILITY = 0.5
#: Per-channel intensity gain and offset (in z-score units) and Gaussian noise.
GAIN_RANGE = (0.9, 1.1)
OFFSET_RANGE = (-0.1, 0.1)
NOISE_STD = 0.03

# --- Prediction (Ex 11-13) -------------------------------------------------------------
#: Slices per ``model.predict`` batch when a whole patient (77 slices) is predicted.
PREDICT_BATCH_SIZE = 16


#: Numeric precision of training (Ex 7, 9). ``auto`` follows the hardware:
#: ``mixed_float16`` on a GPU of compute capability >= 7.0 (tensor cores),
#: ``mixed_bfloat16`` on a CPU with AVX512-BF16 or AMX-BF16 (about 2x float32 there),
#: ``float32`` otherwise (bfloat16 without hardware support is emulated, slower than float32).
#: Mixed precision computes in 16 bits and keeps the weights, the softmax head, the loss
#: and the metrics in float32.
PRECISION = "auto"
PRECISIONS = ("auto", "float32", "bfloat16", "float16")
#: Keras dtype policy of each explicit precision.
PRECISION_POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
#: CPU flags (Linux ``/proc/cpuinfo``) that make bfloat16 fast.
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


# --- Grading (python -m tp3 grade) -------------------------------------------------------
#: Points of each self-check, by its nbgrader ``grade_id`` (the check's name without
#: ``check_``: ``check_ex12_truth`` -> ``ex12_truth``). Each notebook totals 10, the course 50.
#: ``python -m tp3 notebooks strip`` and ``students`` write them into the notebooks' metadata.
POINTS = {"ex1": 2, "ex2": 2, "ex3": 3, "ex4": 3,          # 01_data
          "ex5": 6, "ex6": 4,                              # 02_network
          "ex7": 10,                                       # 03_training
          "ex8": 4, "ex9": 6,                              # 04_augmentation
          "ex11": 3, "ex12_truth": 2, "ex12": 2, "ex13": 2, "ex13_loop": 1}  # 05_prediction_evaluation
#: Seconds a submitted notebook may run when graded (smoke mode: the solutions take 0.5-2 min).
GRADING_TIMEOUT_S = 600
