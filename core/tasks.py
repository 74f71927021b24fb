"""Tasks as data: one `Task` entry per task (what a row's `task` field names) says everything the
rooms need to know about it, so no module branches on a task's name.

The registry validates a row's dataset, method and published metrics against its task; eval
imports the task's `evaluation` module (the protocol below) to find the data, run and score;
flops and bench take its default input and loop defaults; reports and figures its titles, labels
and accuracy metric. A fourth task is one `register_task(Task(...))` (or a `Task` named by an
entry point in the group `vzoo.tasks`) plus its evaluation module, which defines:

- `find_data(root: Path, ann_file: str | None = None, *, quick: bool = False) -> layout`: the
  dataset under `root`, checked (a missing piece: `UserInputError` naming it); `quick`: only that
  the files are there (`vzoo doctor`);
- `data_fingerprint(layout) -> str`: what identifies the evaluated data in a stored result;
- `measured_metrics(row, tta: bool) -> tuple[str, ...]`: the metrics one run of the row records;
- `check_installed() -> None`: the extra the task needs is installed (else `UserInputError`);
- `evaluate(run) -> (metrics, is_main_process)`: one row's run (`evaluation.runner.RowRun`: the
  row, its data, the options, weights, work dir, config and random-init seed).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import TypeVar

from vzoo.core.errors import UserInputError, VzooError
from vzoo.core.metrics import METRICS, Metric

Declared = TypeVar("Declared")


def entry_point_objects(group: str, kind: str, expected: type[Declared]) -> list[Declared]:
    """The object each entry point of `group` names, which must be an `expected`; a plugin that
    fails to load or names something else is one `VzooError` naming it (`kind`: "family")."""
    from importlib.metadata import entry_points

    found = []
    for ep in entry_points(group=group):
        try:
            obj = ep.load()
        except Exception as e:  # a broken plugin is named, not a traceback
            raise VzooError(f"{kind} plugin '{ep.name}' ({ep.value}) failed to load: {e}") from e
        if not isinstance(obj, expected):
            raise VzooError(
                f"{kind} plugin '{ep.name}' ({ep.value}) is not a vzoo {expected.__name__}"
            )
        found.append(obj)
    return found


ENTRY_POINT_GROUP = "vzoo.tasks"
# Counted, not scored: a row of any task may publish its params and FLOPs.
COUNTED_METRICS = ("params_m", "flops_g")


@dataclass(frozen=True)
class Method:
    """A detection/segmentation method: mmdet's / mmseg's own (on their `Task`) or one a family
    brings (on its card)."""

    name: str
    task: str  # the task it solves (a method of one task cannot be a row of another)
    iou_types: tuple[str, ...] = ()  # detection: what COCO scores ("bbox", "segm")
    label: str = ""  # how reports and plots name it
    framework: str | None = None  # charted with the rows of this method (one head swapped)


@dataclass(frozen=True)
class LoopDefaults:
    """`vzoo bench`'s default batch size and pass counts."""

    batch_size: int
    warmup: int
    iters: int


@dataclass(frozen=True)
class Task:
    """Everything about one task that is not a family's: its dataset, metrics, labels, defaults."""

    name: str  # the registry's `task` value
    dataset: str  # the registry's `dataset` value of its rows
    dataset_dir: str  # where the dataset is looked for under $VZOO_DATA (or ./data)
    metrics: tuple[str, ...]  # the scored metrics a row may publish (METRICS names)
    accuracy_metric: str  # the one figures plot a row by
    accuracy_label: str  # the figures' y-axis label of `accuracy_metric`
    accuracy_word: str  # what chart titles and legends call it ("box AP vs FLOPs")
    dataset_label: str  # short dataset name in chart titles and file names ("COCO")
    report_title: str  # the heading of the task's table in `vzoo compare`
    evaluation: str  # the module that evaluates its rows (the protocol in this module's doc)
    # The library whose MODELS build a row's model from its config ("mmdet", "mmseg"); None: the
    # model is the family's classifier, built by its card from the row's arch.
    model_library: str | None
    default_input: tuple[int, int, int]  # (C, H, W) flops and bench use when a row gives none
    loop_defaults: Mapping[str, LoopDefaults]  # device kind (cpu, cuda) -> `vzoo bench` loop
    methods: tuple[Method, ...] = ()  # the library's own methods rows of this task may name
    # Metrics this task brings that `core.metrics.METRICS` does not define (registered with it).
    new_metrics: tuple[Metric, ...] = ()

    @property
    def published_metrics(self) -> tuple[str, ...]:
        """Every metric a row of this task may publish: its scored ones, then the counted."""
        return (*self.metrics, *COUNTED_METRICS)

    @property
    def builds_classifier(self) -> bool:
        """A row's model is its family's classifier (no config; the card builds it by arch)."""
        return self.model_library is None

    def evaluation_module(self) -> ModuleType:
        """The task's evaluation module (imports it: torch, mmdet/mmseg as the task needs)."""
        return importlib.import_module(self.evaluation)

    def loop_for(self, device: str) -> LoopDefaults:
        """`vzoo bench`'s loop on `device` ("cpu", "cuda", "cuda:1")."""
        return self.loop_defaults["cuda" if device.startswith("cuda") else "cpu"]


# CUDA: Swin's throughput() exactly (bs 128, 50 warm-up, 30 timed) for classifiers; detectors and
# segmentors at bs 1 with the same pass counts (a forward at the paper's input takes ~0.1 s).
# CPU (2 cores here): bs 1 (single-image latency is what CPU inference serves; images/s at bs 1
# is 1/latency) and 3 + 10 passes, so a T classifier (~0.1 s a pass) takes about 1.5 s and a B one
# ~5 s; detectors at the paper's input (~2-4 s a pass for T) 1 + 3 passes.
CLASSIFIER_LOOPS = {"cuda": LoopDefaults(128, 50, 30), "cpu": LoopDefaults(1, 3, 10)}
DENSE_LOOPS = {"cuda": LoopDefaults(1, 50, 30), "cpu": LoopDefaults(1, 1, 3)}

BUILTIN_TASKS = (
    Task(
        name="classification",
        dataset="imagenet-1k",
        dataset_dir="imagenet",
        metrics=("top1", "top5"),
        accuracy_metric="top1",
        accuracy_label="ImageNet-1K top-1 (%)",
        accuracy_word="top-1",
        dataset_label="ImageNet-1K",
        report_title="ImageNet-1K classification (val, 224²)",
        evaluation="vzoo.evaluation.classification",
        model_library=None,
        default_input=(3, 224, 224),
        loop_defaults=CLASSIFIER_LOOPS,
        methods=(Method("classifier", "classification"),),
    ),
    Task(
        name="detection",
        dataset="coco2017",
        dataset_dir="coco",
        metrics=("box_ap", "mask_ap"),
        accuracy_metric="box_ap",
        accuracy_label="COCO box AP",
        accuracy_word="box AP",
        dataset_label="COCO",
        report_title="COCO 2017 detection / instance segmentation (val2017)",
        evaluation="vzoo.evaluation.detection",
        model_library="mmdet",
        default_input=(3, 1280, 800),
        loop_defaults=DENSE_LOOPS,
        methods=(
            Method("mask-rcnn", "detection", ("bbox", "segm"), "Mask R-CNN"),
            Method("sparse-rcnn", "detection", ("bbox",), "Sparse R-CNN"),
        ),
    ),
    Task(
        name="segmentation",
        dataset="ade20k",
        dataset_dir="ade/ADEChallengeData2016",
        metrics=("miou_ss", "miou_ms"),
        accuracy_metric="miou_ss",
        accuracy_label="ADE20K mIoU (%, single-scale)",
        accuracy_word="mIoU",
        dataset_label="ADE20K",
        report_title="ADE20K semantic segmentation (val)",
        evaluation="vzoo.evaluation.segmentation",
        model_library="mmseg",
        default_input=(3, 512, 2048),
        loop_defaults=DENSE_LOOPS,
        methods=(Method("upernet", "segmentation", label="UperNet"),),
    ),
)

_registered: dict[str, Task] = {}
# task name -> the metrics its registration added to METRICS (removed with it)
_added_metrics: dict[str, tuple[str, ...]] = {}


def _problems(task: Task) -> list[str]:
    """What does not fit in a task's entry (its metrics, accuracy metric, methods)."""
    problems = [
        f"metric '{m.name}' is defined differently"
        for m in task.new_metrics
        if METRICS.get(m.name, m) != m
    ]
    brought = {m.name for m in task.new_metrics}
    unknown = [m for m in task.metrics if m not in METRICS and m not in brought]
    problems += [f"metric '{m}' is not defined (add it to new_metrics)" for m in unknown]
    if task.accuracy_metric not in task.metrics:
        problems.append(f"accuracy metric '{task.accuracy_metric}' is not one of its metrics")
    problems += [
        f"method '{m.name}' is of task '{m.task}'" for m in task.methods if m.task != task.name
    ]
    return problems


def _admit(task: Task) -> tuple[str, ...]:
    """Check a task's entry (`VzooError` naming what does not fit) and add the metrics it
    brings; returns the names of those that were new."""
    problems = _problems(task)
    if problems:
        raise VzooError(f"task {task.name}: " + "; ".join(problems))
    added = tuple(m.name for m in task.new_metrics if m.name not in METRICS)
    METRICS.update({m.name: m for m in task.new_metrics})
    return added


def register_task(task: Task) -> Task:
    """Add a task (and the metrics it brings). A name taken, a metric defined differently, or a
    method or accuracy metric that does not fit: `VzooError`."""
    if task.name in tasks():
        raise VzooError(f"task '{task.name}' is registered already")
    _added_metrics[task.name] = _admit(task)
    _registered[task.name] = task
    _clear()
    return task


def unregister_task(name: str) -> None:
    """Forget a registered task and the metrics it brought (tests that add a toy task)."""
    if _registered.pop(name, None) is None:
        raise VzooError(f"task '{name}' was not registered with register_task")
    for metric in _added_metrics.pop(name, ()):
        METRICS.pop(metric, None)
    _clear()


# Bumped whenever the tasks change: rows validated against the old ones are stale.
_generation = [0]


def _clear() -> None:
    tasks.cache_clear()
    _generation[0] += 1


def tasks_generation() -> int:
    """A number that changes whenever a task is registered or unregistered (a cache key)."""
    return _generation[0]


def _plugin_tasks() -> list[Task]:
    return entry_point_objects(ENTRY_POINT_GROUP, "task", Task)


@functools.lru_cache(maxsize=1)
def tasks() -> dict[str, Task]:
    """Task name -> Task: the built-in ones, then plugins' (`vzoo.tasks`), then registered."""
    out: dict[str, Task] = {}
    plugins = _plugin_tasks()
    for task in plugins:
        _admit(task)
    for task in (*BUILTIN_TASKS, *plugins, *_registered.values()):
        if task.name in out:
            raise VzooError(f"task '{task.name}' is declared twice")
        out[task.name] = task
    return out


def task_names() -> tuple[str, ...]:
    """The registry's valid `task` values, in table order (how reports order their tables)."""
    return tuple(tasks())


def get_task(name: str) -> Task:
    """The task called `name` (an unknown name is a programming error: rows are validated)."""
    try:
        return tasks()[name]
    except KeyError:
        raise VzooError(f"unknown task '{name}' (known: {', '.join(tasks())})") from None


def check_task(name: str | None) -> None:
    """A `--task` value from the user: None (every task) or a known task, else exit 2."""
    if name is not None and name not in tasks():
        raise UserInputError(f"unknown task '{name}'; choose one of {', '.join(tasks())}")


def generic_methods() -> dict[str, Method]:
    """mmdet's / mmseg's own methods (and the classifier), by name, from every task."""
    return {m.name: m for task in tasks().values() for m in task.methods}


def dataset_dirs() -> dict[str, str]:
    """Dataset id -> where it is looked for under $VZOO_DATA (or ./data)."""
    return {task.dataset: task.dataset_dir for task in tasks().values()}


def task_for_dataset(dataset: str) -> Task:
    """The (first) task whose rows are evaluated on `dataset`."""
    for task in tasks().values():
        if task.dataset == dataset:
            return task
    raise VzooError(f"no task evaluates dataset '{dataset}'")
