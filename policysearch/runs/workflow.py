"""``policysearch train`` and ``distill``: from a policy to a trained model in a run directory.

A :class:`RunSpec` says what to train: the policy, the data, the model, and
optionally teachers (run directories of earlier runs: knowledge distillation)
and unlabeled images (pseudo labels from the teachers; without teachers, a
first model trained on the labeled images is the teacher: self-training).
:func:`train_run` loads everything, labels the unlabeled images, and hands
the work to :func:`policysearch.training.fit`, which makes it resumable.

Example (a small teacher, then a student of it; about 5 s on two CPU cores):
    >>> import io, tempfile
    >>> from policysearch.policy import Policy
    >>> work = tempfile.mkdtemp()
    >>> spec = RunSpec(Policy(num_ops=1, magnitude=5), output=f"{work}/teacher", dataset="digits", model="tiny-cnn",
    ...                weights=None, train_size=200, val_size=100, epochs=1, device="cpu")
    >>> teacher = train_run(spec, stream=io.StringIO())
    >>> student = RunSpec(spec.policy, output=f"{work}/student", model="tiny-cnn", weights=None, train_size=200,
    ...                   val_size=100, epochs=1, device="cpu", teachers=(f"{work}/teacher",))
    >>> 0 <= train_run(student, stream=io.StringIO()).test_accuracy <= 1
    True
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping, TextIO

import numpy as np
import torch

from policysearch._checks import COUNT, Rule, check_fields
from policysearch.data import IMAGE_SIZE, load_source, make_splits
from policysearch.data.unlabeled import load_unlabeled
from policysearch.distill import (
    ALPHA,
    DEFAULT_ALPHA,
    DEFAULT_TEMPERATURE,
    TEACHER_VIEWS,
    TEMPERATURE,
    PseudoLabels,
    Teaching,
    agreement_with_truth,
    balance_classes,
    teacher_logits,
    vote_pseudo_labels,
)
from policysearch.distill.pseudo import PSEUDO_MODES
from policysearch.errors import ConfigError
from policysearch.models import build_model
from policysearch.training import (
    TRAINING_FIELDS,
    FitConfig,
    FitResult,
    TrainingSet,
    check_teacher,
    fit,
    load_teacher,
    resolve_device,
)

__all__ = ["RunSpec", "train_run", "SPEC_FIELDS", "DEFAULT_THRESHOLD"]

DEFAULT_THRESHOLD = {"hard": 0.9, "soft": None}  # None keeps every row
MAX_DEFAULT_VAL = 5000

# Field -> rule: the same rules as the search's configuration for the fields both have.
SPEC_FIELDS = {
    **{name: TRAINING_FIELDS[name] for name in ("epochs", "batch_size", "seed", "device")},
    **{name: COUNT.or_none() for name in ("train_size", "val_size", "test_size", "unlabeled_size", "per_class")},
    "image_size": IMAGE_SIZE.or_none(),
    "teacher_view": Rule("choice", choices=TEACHER_VIEWS),
    "pseudo": Rule("choice", choices=PSEUDO_MODES),
    "threshold": Rule("number", low=0, high=1, optional=True),
    "temperature": TEMPERATURE.or_none(),
    "alpha": ALPHA.or_none(),
}
DEFAULT_DATASET, DEFAULT_MODEL, DEFAULT_IMAGE_SIZE = "fashion-mnist", "efficientnet-lite0", 32


@dataclass(frozen=True)
class RunSpec:
    """One train or distill run. ``None`` fields take their defaults from
    the teachers' run (dataset, image size) or the policy's provenance,
    then from the built-in default job."""

    policy: Any
    output: str
    dataset: str | None = None
    model: str | None = None
    weights: str | None = "DEFAULT"
    image_size: int | None = None
    train_size: int | None = None  # None: the whole training pool less validation
    val_size: int | None = None  # None: a tenth of the pool, at most 5,000
    test_size: int | None = None  # None: the whole test split
    epochs: int = 10
    batch_size: int = 64
    seed: int = 0
    device: str = "auto"
    teachers: tuple[str, ...] = ()
    temperature: float | None = None  # None: the policy's distillation block, else 4
    alpha: float | None = None  # None: the policy's distillation block, else 0.9
    teacher_view: str = "augmented"
    unlabeled: str | None = None
    unlabeled_size: int | None = None
    pseudo: str = "hard"
    threshold: float | None = None  # None: 0.9 for hard labels, keep all soft ones
    per_class: int | None = None  # balance the pseudo labels: this many rows of every class

    def __post_init__(self) -> None:

        object.__setattr__(self, "teachers", tuple(str(t) for t in self.teachers))
        if isinstance(self.weights, str) and self.weights.lower() == "none":
            object.__setattr__(self, "weights", None)
        check_fields(self, SPEC_FIELDS, error=ConfigError)
        if not self.output:
            raise ConfigError("output should name a run directory, but got ''")

    @property
    def kind(self) -> str:
        return "distill" if self.teachers else "train"


def train_run(spec: RunSpec, stream: TextIO | None = None) -> FitResult:
    """Train (or resume) the run ``spec`` describes; progress goes to ``stream`` (stderr)."""
    return _train_run(spec, stream or sys.stderr, source=None)


def _train_run(spec: RunSpec, stream: TextIO, source: Any) -> FitResult:
    """:func:`train_run`, reusing ``source`` when the caller has the dataset loaded already."""

    teachers = [load_teacher(path) for path in spec.teachers]
    spec = _with_defaults(spec, [info for _, info in teachers])
    source = source or load_source(spec.dataset, image_size=spec.image_size)
    splits = _splits(source, spec)
    for (_, info), path in zip(teachers, spec.teachers):
        check_teacher(info, path, splits.classes)
    device = resolve_device(spec.device)
    models = [model.to(device) for model, _ in teachers]
    train = TrainingSet(splits.train.images, splits.train.labels)
    # Each teacher runs once over each image it sees clean: the logits serve
    # the pseudo labels and the cached soft targets alike.
    clean = spec.teacher_view == "clean"
    logits = [teacher_logits(m, train.images, device=device) for m in models] if clean else None
    notes: dict[str, Any] = {}
    if spec.unlabeled is not None:
        same = spec.unlabeled == spec.dataset
        unlabeled = load_unlabeled(spec.unlabeled, image_size=spec.image_size, size=spec.unlabeled_size,
                                   exclude=_labelled(splits, source) if same else (), seed=spec.seed,
                                   source=source if same else None)
        labelers = models or [_self_teacher(spec, stream, source).to(device)]
        extra = [teacher_logits(m, unlabeled.images, device=device) for m in labelers]
        train, kept, notes = _add_pseudo_labels(train, unlabeled, extra, spec, splits.num_classes)
        print(_describe_pseudo(notes["pseudo_labels"]), file=stream, flush=True)
        if logits is not None:
            logits = [torch.cat([mine, theirs[torch.as_tensor(kept)]]) for mine, theirs in zip(logits, extra)]
    model = _student(spec, splits.num_classes)
    teaching = None
    if teachers:

        teaching = Teaching(tuple(models), temperature=spec.temperature, alpha=spec.alpha,
                            view=spec.teacher_view, clean_logits=tuple(logits) if logits else None,
                            clean_images=train.images if logits else None)
    description = _description(spec, splits)
    config = FitConfig(epochs=spec.epochs, batch_size=spec.batch_size, seed=spec.seed, device=spec.device)
    return fit(model, spec.policy, train, splits.val, splits.test, config, spec.output, teaching=teaching,
               description=description, notes=notes, on_start=_header(stream, spec, len(train.rows)),
               on_epoch=_progress(stream, spec.epochs))


def _with_defaults(spec: RunSpec, teacher_infos: list[dict[str, Any]]) -> RunSpec:
    """Fill unset fields from the first teacher, then the policy's provenance, then the defaults."""
    provenance = spec.policy.provenance
    first = teacher_infos[0] if teacher_infos else {}
    block = getattr(spec.policy, "distillation", None)

    return replace(
        spec,
        dataset=spec.dataset or first.get("dataset") or (provenance and provenance.dataset) or DEFAULT_DATASET,
        model=spec.model or (provenance and provenance.model) or DEFAULT_MODEL,
        image_size=spec.image_size or first.get("image_size") or (provenance and provenance.image_size)
        or DEFAULT_IMAGE_SIZE,
        temperature=spec.temperature or (block.temperature if block else DEFAULT_TEMPERATURE),
        alpha=spec.alpha if spec.alpha is not None else (block.alpha if block else DEFAULT_ALPHA),
        threshold=spec.threshold if spec.threshold is not None else DEFAULT_THRESHOLD[spec.pseudo],
    )


def _splits(source: Any, spec: RunSpec) -> Any:

    pool = len(source.train)
    val_size = spec.val_size or min(MAX_DEFAULT_VAL, max(round(pool / 10), 2 * source.num_classes))
    train_size = spec.train_size or pool - val_size
    return make_splits(source, train_size=train_size, val_size=val_size, test_size=spec.test_size, seed=spec.seed)


def _self_teacher(spec: RunSpec, stream: TextIO, source: Any) -> Any:
    """Self-training: first train the same model on the labeled images alone (resumable too)."""
    path = str(Path(spec.output) / "teacher")
    print(f"self-training: training the teacher on the labeled images first -> {path}", file=stream, flush=True)
    _train_run(replace(spec, output=path, unlabeled=None, unlabeled_size=None), stream, source)
    return load_teacher(path)[0]


def _add_pseudo_labels(train: TrainingSet, unlabeled: Any, logits: list[Any], spec: RunSpec,
                       num_classes: int) -> tuple[TrainingSet, Any, dict[str, Any]]:
    """Labeled rows as one-hot, then the kept unlabeled rows with their pseudo targets;
    also which unlabeled rows were kept (repeats included), and the counts for metrics.json."""

    probs = [torch.softmax(one, dim=1).numpy() for one in logits]
    kept = vote_pseudo_labels(probs, mode=spec.pseudo, threshold=spec.threshold)
    if spec.per_class is not None:
        kept = balance_classes(kept, spec.per_class, seed=spec.seed)
    targets = kept.targets.astype(np.float32) if kept.soft else np.eye(num_classes, dtype=np.float32)[kept.targets]
    images = np.concatenate([train.images, unlabeled.images[kept.indices]])
    rows = np.concatenate([np.eye(num_classes, dtype=np.float32)[train.rows], targets])
    agreement = None
    if unlabeled.truth is not None:  # over distinct images: balancing may repeat some
        _, first = np.unique(kept.indices, return_index=True)
        distinct = PseudoLabels(kept.indices[first], kept.targets[first], kept.confidence[first])
        agreement = agreement_with_truth(distinct, unlabeled.truth)
    notes = {"pseudo_labels": {
        "source": unlabeled.name, "offered": len(unlabeled.images), "kept": int(len(np.unique(kept.indices))),
        "rows": len(kept), "classes": int(len(np.unique(kept.labels))), "per_class": spec.per_class,
        "mode": spec.pseudo, "threshold": spec.threshold, "teachers": len(logits),
        "agreement_with_truth": None if agreement is None or agreement != agreement else agreement,
    }}
    return TrainingSet(images, rows), kept.indices, notes


def _describe_pseudo(stats: Mapping[str, Any]) -> str:
    agreement = stats["agreement_with_truth"]
    truth = f"; {agreement:.1%} agree with the true labels" if agreement is not None else ""
    balanced = f", balanced to {stats['rows']} rows" if stats["per_class"] else ""
    return (f"pseudo labels ({stats['mode']}, threshold {stats['threshold']}): kept {stats['kept']} of "
            f"{stats['offered']} unlabeled images{balanced}{truth}")


def _student(spec: RunSpec, num_classes: int) -> Any:

    return build_model(spec.model, num_classes, image_size=spec.image_size, weights=spec.weights, seed=spec.seed)


def _description(spec: RunSpec, splits: Any) -> dict[str, Any]:
    """What the run is (run.json): the same description resumes it, another is refused."""
    return {
        "kind": spec.kind, "dataset": spec.dataset, "classes": list(splits.classes), "model": spec.model,
        "weights": spec.weights, "image_size": spec.image_size, "train_size": len(splits.train),
        "val_size": len(splits.val), "test_size": len(splits.test),
        "teachers": [str(Path(t).resolve()) for t in spec.teachers],
        "temperature": spec.temperature if spec.teachers else None,
        "alpha": spec.alpha if spec.teachers else None,
        "teacher_view": spec.teacher_view if spec.teachers else None,
        "unlabeled": spec.unlabeled, "unlabeled_size": spec.unlabeled_size,
        "pseudo": spec.pseudo if spec.unlabeled else None,
        "threshold": spec.threshold if spec.unlabeled else None,
        "per_class": spec.per_class if spec.unlabeled else None,
    }


def _header(stream: TextIO, spec: RunSpec, images: int) -> Any:
    def start(epoch: int) -> None:
        resuming = f", resuming after epoch {epoch}" if epoch else ""
        print(f"{spec.kind} {spec.model} on {images} images ({spec.dataset}, {spec.epochs} epochs{resuming}) "
              f"-> {spec.output}", file=stream, flush=True)

    return start


def _progress(stream: TextIO, epochs: int) -> Any:
    def report(epoch: int, metrics: Mapping[str, float]) -> None:
        print(f"  epoch {epoch}/{epochs}: train loss {metrics['train_loss']:.4f}, "
              f"val accuracy {metrics['val_accuracy']:.4f} ({metrics['seconds']:.0f} s)", file=stream, flush=True)

    return report


def _labelled(splits: Any, source: Any) -> tuple[Any, ...]:
    """The splits drawn from the training pool (a dataset's own val/ is not part of it)."""
    return (splits.train,) if source is not None and source.val is not None else (splits.train, splits.val)
