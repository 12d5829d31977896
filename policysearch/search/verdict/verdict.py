"""The verdict: does a policy beat the standard baselines when trained at the budget it is meant for?

The target budget is the training the user will run with the policy (its
training images, epochs, and optionally another backbone or image size). The
policy, its *ablation* (its own learning rates without augmentation) and each
standard baseline (no augmentation; ``standard``, horizontal flip plus a padded
random crop; torchvision's default RandAugment N=2 M=9; TrivialAugmentWide; all
at the default learning rates) are trained there through the shared training
loop and scored on the held-out test split the search never saw.

Seeds are paired draws: seed ``k`` draws its own training images and its own
training seed, both derived from the spec's ``seed``, and every policy trains
on that same draw. Two comparisons come out (:mod:`.paired`: Student's t on
the per-seed differences, one-sided 90% bounds): the policy against the best
standard baseline (the total gain: learning rates and augmentation), and the
policy against its ablation (what the augmentation itself adds at the same
learning rates). Results already in the storage (:mod:`.target_results`) are
reused and marked cached.

Example:
    >>> spec = TargetSpec(dataset="digits", model="tiny-cnn", weights=None, image_size=8, train_size=200,
    ...                   epochs=1, seeds=2, device="cpu")
    >>> result = measure({"mine": STANDARD_BASELINES["trivialaugment_wide"]}, spec)
    >>> list(result["table"])
    ['mine', 'no_augmentation', 'standard', 'randaugment_n2_m9', 'trivialaugment_wide']
    >>> result["outcome"] in OUTCOMES
    True
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable, Mapping

import numpy as np

from policysearch._checks import COUNT, check_fields
from policysearch.data import IMAGE_SIZE, Source, load_source, stratified_indices
from policysearch.errors import ConfigError
from policysearch.models import model_factory
from policysearch.policy import STANDARD_CROP_BIN, Policy
from policysearch.search.verdict.paired import OUTCOMES, Comparison, compare
from policysearch.search.verdict.target_results import TargetResults, recipe, result_key
from policysearch.training import TRAINING_FIELDS, TrainConfig, resolve_device, train_and_score
from policysearch.training.devices import recipe as recipe_for

__all__ = ["TargetSpec", "STANDARD_BASELINES", "VERDICT_SEED_OFFSET", "ANSWER", "ABLATION", "measure",
           "verdict_line", "verdict_text", "format_table", "seed_draw", "seed_test_split", "without_augmentation",
           "result_budget", "spec_for_policy"]

# What every policy is measured against, at the default learning rates (head 1e-3, backbone 1e-4).
# "standard" is the classic fine-tuning augmentation: horizontal flip and a padded random crop.
STANDARD_BASELINES: Mapping[str, Policy] = {
    "no_augmentation": Policy(num_ops=0, magnitude=0),
    "standard": Policy(num_ops=0, magnitude=0, flip=True, crop=STANDARD_CROP_BIN),
    "randaugment_n2_m9": Policy(num_ops=2, magnitude=9),
    "trivialaugment_wide": Policy(kind="trivialaugment"),
}
# Verdict seeds differ from the search's, so the verdict is a fresh draw.
VERDICT_SEED_OFFSET = 1000
ANSWER, ABLATION = "best", "ablation"  # the labels ``run`` gives the search's answer and its ablation


@dataclass(frozen=True)
class TargetSpec:
    """The target budget and where it trains: dataset, backbone, images, epochs, seeds."""

    dataset: str = "fashion-mnist"
    model: str = "efficientnet-lite0"
    weights: str | None = "DEFAULT"
    image_size: int = 32
    train_size: int = 2000
    epochs: int = 4
    seeds: int = 3
    batch_size: int = 64
    seed: int = 0  # each seed's training images and training seed derive from it (seed_draw)
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


def seed_draw(spec: TargetSpec, index: int) -> tuple[int, int]:
    """Seed ``index``'s (training-image draw, training seed), both derived from ``spec.seed``.

    Example:
        >>> spec = TargetSpec()
        >>> seed_draw(spec, 0) == seed_draw(spec, 0), seed_draw(spec, 0) == seed_draw(spec, 1)
        (True, False)
    """
    state = np.random.SeedSequence([VERDICT_SEED_OFFSET, spec.seed, index]).generate_state(2)
    return int(state[0]), int(state[1])


def without_augmentation(policy: Policy) -> Policy:
    """The policy's ablation: the same learning rates (and distillation), no augmentation, no mixing.

    Example:
        >>> ablation = without_augmentation(Policy(kind="trivialaugment"))
        >>> ablation.kind, ablation.num_ops, ablation.transfer == Policy().transfer
        ('randaugment', 0, True)
    """
    return replace(policy, kind="randaugment", num_ops=0, magnitude=0, flip=False, crop=0, op_bins={}, mixing=None,
                   score=None, provenance=None)


def measure(policies: Mapping[str, Policy], spec: TargetSpec, *, source: Source | None = None,
            factory: Callable[[], Any] | None = None, progress: Callable[[str], None] | None = None,
            teaching_for: Callable[[Policy], Any] | None = None,
            results: TargetResults | None = None) -> dict[str, Any]:
    """Train ``policies`` and the standard baselines at ``spec``; the table and the verdict.

    The first of ``policies`` is the one judged; a policy labelled
    ``ablation`` is its comparison without augmentation. ``source`` and
    ``factory`` reuse a dataset and a backbone already loaded at the target's
    image size and model. Each distinct recipe trains once per seed, and not
    at all when ``results`` (stored target results) already holds it; results
    with a teacher are never stored (they depend on the teacher).
    """
    source = source or load_source(spec.dataset, image_size=spec.image_size)
    factory = factory or model_factory(spec.model, source.num_classes, image_size=spec.image_size,
                                       weights=spec.weights, seed=spec.seed)
    spec = _fit_pool(spec, len(source.train), progress)
    results = results if results is not None and teaching_for is None else TargetResults(None)
    candidates = {**policies, **{k: v for k, v in STANDARD_BASELINES.items() if k not in policies}}
    recipes = {label: json.dumps(recipe(policy), sort_keys=True) for label, policy in candidates.items()}
    distinct = {text: label for label, text in reversed(list(recipes.items()))}  # first label of each recipe
    runs: dict[str, list[tuple[float, bool]]] = {text: [] for text in distinct}
    budget = result_budget(spec)  # once: it probes the device's precision
    for k in range(spec.seeds):
        draw, seed = seed_draw(spec, k)
        train = source.train.take(stratified_indices(source.train.labels, [spec.train_size], seed=draw)[0])
        test = seed_test_split(source.test, spec, draw)
        for text, label in distinct.items():
            policy = candidates[label]
            key = result_key(policy, budget, seed_index=k)
            known = results.get(key)
            if progress is not None:
                progress(f"verdict: seed {k + 1}/{spec.seeds}, {label} ({spec.train_size} images x {spec.epochs} "
                         f"epochs){' (cached)' if known is not None else ''}")
            if known is None:
                teaching = teaching_for(policy) if teaching_for is not None else None
                known = _train_and_test(policy, factory, train, test, spec, seed, teaching)
                results.put(key, known)
                runs[text].append((known, False))
            else:
                runs[text].append((known, True))
    table = {label: _summary(runs[recipes[label]]) for label in candidates}
    first = next(iter(policies))
    return {"budget": spec.describe(), "table": table, **verdict_line(table, first)}


def seed_test_split(test: Any, spec: TargetSpec, draw: int) -> Any:
    """A verdict seed's test images: the whole split, or ``spec.test_size`` of it (stratified) drawn with the
    seed's training-image ``draw``.

    A fresh draw per seed puts the test sample's own noise into each seed's
    paired difference, so the bound over seeds covers it; one subset shared
    by every seed would shift all of them alike, unseen by the bound.

    Example:
        >>> from policysearch.data import load_source
        >>> test = load_source("digits").test
        >>> spec = TargetSpec(dataset="digits", test_size=100)
        >>> a, b = (seed_test_split(test, spec, seed_draw(spec, k)[0]) for k in (0, 1))
        >>> len(a), set(a.indices) == set(b.indices), len(seed_test_split(test, TargetSpec(), 0)) == len(test)
        (100, False, True)
    """
    if spec.test_size is None or spec.test_size >= len(test):
        return test
    return test.take(stratified_indices(test.labels, [spec.test_size], seed=draw)[0])


def result_budget(spec: TargetSpec) -> dict[str, Any]:
    """What of the spec a stored target result depends on: the budget, the data, the device kind, where
    augmentation runs, the weights, and the precision the device's rule trains and evaluates in.

    Example:
        >>> result_budget(TargetSpec(device="cpu"))["device"]
        'cpu'
    """
    device = resolve_device(spec.device)
    precision = recipe_for(device)
    budget = {**spec.describe(), "device": device.type, "augment_on": spec.augment_on, "weights": spec.weights,
              "precision": f"{precision.train_dtype or 'float32'}/{precision.eval_dtype or 'float32'}"}
    if spec.test_size is not None:
        budget["test_draw"] = "per seed"  # earlier releases drew one test subset for every seed
    return budget


def _fit_pool(spec: TargetSpec, pool: int, progress: Callable[[str], None] | None) -> TargetSpec:
    """A pool smaller than the target (a default target on a small dataset) trains on all of it;
    the budget stored says how many images the verdict really used."""
    if pool < spec.train_size and progress is not None:
        progress(f"verdict: the training pool has {pool} images, fewer than the target's {spec.train_size}: "
                 f"training on all of them")
    return replace(spec, train_size=min(spec.train_size, pool))


def _train_and_test(policy: Policy, factory: Callable[[], Any], train: Any, test: Any, spec: TargetSpec, seed: int,
                    teaching: Any) -> float:
    """Test accuracy after a training at the target budget (0 if it diverged)."""
    config = TrainConfig(epochs=spec.epochs, batch_size=spec.batch_size, seed=seed, device=spec.device,
                         augment_on=spec.augment_on)
    return train_and_score(factory, policy, train, test, config, teaching=teaching)


def _summary(runs: list[tuple[float, bool]]) -> dict[str, Any]:
    values = [value for value, _ in runs]
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": statistics.fmean(values), "std": std, "values": values,
            "cached": sum(cached for _, cached in runs)}


_PHRASES = {"beats": "beats", "loses": "loses to", "no clear difference": "no clear difference from",
            "no claim": "no claim from one seed against"}


def verdict_line(table: Mapping[str, Mapping[str, Any]], label: str) -> dict[str, Any]:
    """``label`` against the best standard baseline in ``table`` (and against ``ablation``, if there).

    The best baseline is the one with the highest mean. Returns the total
    comparison's fields (``best_baseline``, ``difference``, ``spread``,
    ``lower``, ``upper``, ``seeds``, ``outcome``, ``beats``, ``line``) and, when the
    table holds the ablation, ``augmentation``: the same fields for the
    augmentation's own gain.

    Example:
        >>> table = {"best": {"values": [0.90, 0.91, 0.92]}, "no_augmentation": {"values": [0.88, 0.885, 0.90]},
        ...          "randaugment_n2_m9": {"values": [0.87, 0.88, 0.88]}}
        >>> verdict_line(table, "best")["line"]
        'beats the best standard baseline, no_augmentation: +2.17 points (one-sided 90% bounds +1.85 to +2.48, 3 seeds)'
    """
    baselines = [name for name in STANDARD_BASELINES if name in table and name != label]
    best = max(baselines, key=lambda name: statistics.fmean(table[name]["values"]))
    total = compare(table[label]["values"], table[best]["values"])
    out: dict[str, Any] = {"best_baseline": best, **_fields(total),
                           "line": f"{_PHRASES[total.outcome]} the best standard baseline, {best}: {total.describe()}"}
    if ABLATION in table and label != ABLATION:
        gain = compare(table[label]["values"], table[ABLATION]["values"])
        same = table[label] is table[ABLATION] or table[label]["values"] == table[ABLATION]["values"]
        text = ("none: the policy has no augmentation" if same
                else f"{gain.describe()}: {_PHRASES[gain.outcome]} its ablation")
        out["augmentation"] = {**_fields(gain), "line": f"augmentation's own gain at the same learning rates: {text}"}
    return out


def _fields(comparison: Comparison) -> dict[str, Any]:
    data = comparison.to_dict()
    return {**data, "beats": comparison.outcome == "beats"}


def verdict_text(result: Mapping[str, Any]) -> str:
    """The verdict's lines as ``run`` and ``verify`` print them: the budget and the total gain, then the
    augmentation's own gain when the ablation was measured.

    Example:
        >>> print(verdict_text({"budget": {"train_size": 500, "epochs": 4}, "seeds": 3, "line": "beats ...",
        ...                     "augmentation": {"line": "augmentation's own gain ..."}}))
        verdict at the target (500 images x 4 epochs, 3 seeds): beats ...
          augmentation's own gain ...
    """
    budget = result["budget"]
    seeds = result.get("seeds") or len(next(iter(result.get("table", {}).values()), {}).get("values", []))
    lines = [f"verdict at the target ({budget['train_size']} images x {budget['epochs']} epochs, {seeds} seeds): "
             f"{result['line']}"]
    if result.get("augmentation"):
        lines.append(f"  {result['augmentation']['line']}")
    return "\n".join(lines)


def format_table(table: Mapping[str, Mapping[str, Any]]) -> str:
    """A small text table: policy, mean test accuracy, spread, runs (and how many were stored results).

    Example:
        >>> print(format_table({"best": {"mean": 0.9, "std": 0.01, "values": [0.89, 0.91]},
        ...                     "standard": {"mean": 0.88, "std": 0.0, "values": [0.88, 0.88], "cached": 2}}))
        policy                test acc   ± std  runs
        best                    0.9000  0.0100     2
        standard                0.8800  0.0000     2  (cached)
    """
    lines = [f"{'policy':<20} {'test acc':>9} {'± std':>7} {'runs':>5}"]
    for label, row in table.items():
        runs, cached = len(row["values"]), int(row.get("cached", 0))
        mark = "" if not cached else "  (cached)" if cached == runs else f"  ({cached} cached)"
        lines.append(f"{label:<20} {row['mean']:>9.4f} {row['std']:>7.4f} {runs:>5}{mark}")
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
