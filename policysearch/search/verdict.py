"""The verdict: does a policy beat the baselines when trained at the budget it is meant for?

The target budget is the training the user will run with the policy (its
training images, epochs, and optionally another backbone or image size). The
policy and each standard baseline (no augmentation, torchvision's default
RandAugment N=2 M=9, TrivialAugmentWide, all at the default learning rates)
are trained there through the shared training loop, on the same images, with
the same seeds, and scored on the held-out test split the search never saw.
The verdict line compares the policy with the best baseline by the mean of the
per-seed differences: it "beats" it when that mean is positive and larger than
its spread.

Example:
    >>> spec = TargetSpec(dataset="digits", model="tiny-cnn", weights=None, image_size=8, train_size=200,
    ...                   epochs=1, seeds=2, device="cpu")
    >>> result = measure({"mine": STANDARD_BASELINES["trivialaugment_wide"]}, spec)
    >>> sorted(result["table"]), result["line"].startswith(("beats the best baseline", "does not beat"))
    (['mine', 'no_augmentation', 'randaugment_n2_m9', 'trivialaugment_wide'], True)
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable, Mapping

from policysearch._checks import COUNT, check_fields
from policysearch.data import IMAGE_SIZE, Source, load_source, stratified_indices
from policysearch.errors import ConfigError
from policysearch.models import model_factory
from policysearch.policy import Policy
from policysearch.training import TRAINING_FIELDS, TrainConfig, train_and_score

__all__ = ["TargetSpec", "STANDARD_BASELINES", "VERDICT_SEED_OFFSET", "measure", "verdict_line", "format_table",
           "spec_for_policy"]

# What every policy is measured against, at the default learning rates (head 1e-3, backbone 1e-4).
STANDARD_BASELINES: Mapping[str, Policy] = {
    "no_augmentation": Policy(num_ops=0, magnitude=0),
    "randaugment_n2_m9": Policy(num_ops=2, magnitude=9),
    "trivialaugment_wide": Policy(kind="trivialaugment"),
}
# Verdict seeds differ from the search's, so the verdict is a fresh draw.
VERDICT_SEED_OFFSET = 1000


@dataclass(frozen=True)
class TargetSpec:
    """The target budget and where it trains: dataset, backbone, images, epochs, seeds."""

    dataset: str = "fashion-mnist"
    model: str = "efficientnet-lite0"
    weights: str | None = "DEFAULT"
    image_size: int = 32
    train_size: int = 2000
    epochs: int = 4
    seeds: int = 2
    batch_size: int = 64
    seed: int = 0  # which training images; training seeds are VERDICT_SEED_OFFSET + 0, 1, ...
    device: str = "auto"
    test_size: int | None = None
    augment_on: str = "auto"

    def __post_init__(self) -> None:
        if isinstance(self.weights, str) and self.weights.lower() == "none":
            object.__setattr__(self, "weights", None)  # "none" = random initialisation
        check_fields(self, {"train_size": COUNT, "seeds": COUNT, "image_size": IMAGE_SIZE,
                            "test_size": COUNT.or_none()}, error=ConfigError)
        # The one rule per field: the training layer's for the run, the data layer's for the images.
        check_fields(self, {k: TRAINING_FIELDS[k] for k in ("epochs", "batch_size", "seed", "device", "augment_on")},
                     error=ConfigError)

    @property
    def image_epochs(self) -> int:
        """Images seen in one training at this budget: the unit search costs are counted in."""
        return self.train_size * self.epochs

    def describe(self) -> dict[str, Any]:
        """Plain data, as stored in the study and the policy JSON."""
        return {k: v for k, v in asdict(self).items() if k not in ("device", "weights", "augment_on")}


def measure(policies: Mapping[str, Policy], spec: TargetSpec, *, source: Source | None = None,
            factory: Callable[[], Any] | None = None, progress: Callable[[str], None] | None = None,
            teaching_for: Callable[[Policy], Any] | None = None) -> dict[str, Any]:
    """Train ``policies`` and the standard baselines at ``spec``; the table and the verdict.

    ``source`` and ``factory`` reuse a dataset and a backbone already loaded
    at the target's image size and model. Each distinct policy trains once per
    seed (a policy equal to a baseline is not trained twice). The verdict
    compares the first of ``policies`` with the best baseline.
    """
    source = source or load_source(spec.dataset, image_size=spec.image_size)
    factory = factory or model_factory(spec.model, source.num_classes, image_size=spec.image_size,
                                       weights=spec.weights, seed=spec.seed)
    # A pool smaller than the target (a default target on a small dataset) trains on all of it;
    # the budget stored says how many images the verdict really used.
    size = min(spec.train_size, len(source.train))
    if size < spec.train_size and progress is not None:
        progress(f"verdict: the training pool has {size} images, fewer than the target's {spec.train_size}: "
                 f"training on all of them")
    spec = replace(spec, train_size=size)
    train = source.train.take(stratified_indices(source.train.labels, [size], seed=spec.seed)[0])
    test = source.test
    if spec.test_size is not None:
        test = test.take(stratified_indices(test.labels, [spec.test_size], seed=spec.seed)[0])
    candidates = {**policies, **{k: v for k, v in STANDARD_BASELINES.items() if k not in policies}}
    table: dict[str, dict[str, Any]] = {}
    measured: list[tuple[Policy, dict[str, Any]]] = []
    for label, policy in candidates.items():
        row = next((r for p, r in measured if _same_recipe(p, policy)), None)
        if row is None:
            values = []
            for k in range(spec.seeds):
                if progress is not None:
                    progress(f"verdict: {label}, seed {k + 1}/{spec.seeds} ({spec.train_size} images x {spec.epochs} "
                             f"epochs)")
                teaching = teaching_for(policy) if teaching_for is not None else None
                values.append(_train_and_test(policy, factory, train, test, spec, VERDICT_SEED_OFFSET + k, teaching))
            row = _summary(values)
            measured.append((policy, row))
        table[label] = row
    first = next(iter(policies))
    return {"budget": spec.describe(), "table": table, **verdict_line(table, first)}


def _same_recipe(a: Policy, b: Policy) -> bool:
    return {k: v for k, v in a.to_json().items() if k not in ("score", "provenance")} == \
        {k: v for k, v in b.to_json().items() if k not in ("score", "provenance")}


def _train_and_test(policy: Policy, factory: Callable[[], Any], train: Any, test: Any, spec: TargetSpec, seed: int,
                    teaching: Any) -> float:
    """Test accuracy after a training at the target budget (0 if it diverged)."""
    config = TrainConfig(epochs=spec.epochs, batch_size=spec.batch_size, seed=seed, device=spec.device,
                         augment_on=spec.augment_on)
    return train_and_score(factory, policy, train, test, config, teaching=teaching)


def _summary(values: list[float]) -> dict[str, Any]:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": statistics.fmean(values), "std": std, "values": values}


def verdict_line(table: Mapping[str, Mapping[str, Any]], label: str) -> dict[str, Any]:
    """``label`` against the best standard baseline in ``table``: the paired difference and one line.

    Example:
        >>> table = {"best": {"values": [0.90, 0.91]}, "no_augmentation": {"values": [0.88, 0.885]},
        ...          "randaugment_n2_m9": {"values": [0.87, 0.88]}, "trivialaugment_wide": {"values": [0.86, 0.87]}}
        >>> verdict_line(table, "best")["line"]
        'beats the best baseline, no_augmentation, by +2.25 ± 0.35 points'
    """
    baselines = [name for name in STANDARD_BASELINES if name in table and name != label]
    best = max(baselines, key=lambda name: statistics.fmean(table[name]["values"]))
    pairs = [a - b for a, b in zip(table[label]["values"], table[best]["values"])]
    diff = 100 * statistics.fmean(pairs)
    spread = 100 * statistics.stdev(pairs) if len(pairs) > 1 else 0.0
    beats = diff > 0 and diff > spread
    if beats:
        line = f"beats the best baseline, {best}, by +{diff:.2f} ± {spread:.2f} points"
    else:
        line = f"does not beat {best} ({diff:+.2f} ± {spread:.2f} points)"
    return {"best_baseline": best, "difference": diff, "spread": spread, "beats": beats, "line": line}


def format_table(table: Mapping[str, Mapping[str, Any]]) -> str:
    """A small text table: policy, mean test accuracy, spread, runs.

    Example:
        >>> print(format_table({"best": {"mean": 0.9, "std": 0.01, "values": [0.89, 0.91]}}))
        policy                test acc   ± std  runs
        best                    0.9000  0.0100     2
    """
    lines = [f"{'policy':<20} {'test acc':>9} {'± std':>7} {'runs':>5}"]
    for label, row in table.items():
        lines.append(f"{label:<20} {row['mean']:>9.4f} {row['std']:>7.4f} {len(row['values']):>5}")
    return "\n".join(lines)


def spec_for_policy(policy: Policy, **overrides: Any) -> TargetSpec:
    """A :class:`TargetSpec` for checking a policy file: its provenance's dataset, model and image
    size unless ``overrides`` (None values ignored) say otherwise.

    Example:
        >>> spec_for_policy(Policy(), train_size=5000, epochs=10, model=None).model
        'efficientnet-lite0'
    """
    provenance = policy.provenance
    found = {} if provenance is None else {"dataset": provenance.dataset, "model": provenance.model,
                                            "image_size": provenance.image_size}
    values = {k: v for k, v in found.items() if v is not None}
    values.update({k: v for k, v in overrides.items() if v is not None})
    return TargetSpec(**values)
