"""Is the search's answer worth its wait? The search, then its verdict at a real target, per dataset.

For each dataset the bench runs ``policysearch run`` as a user would (its
proxy, its rung, its verdict), at a target of a real training budget, and
reports what the verdict measured on the held-out test split the search never
saw, over 3 paired seeds (each its own draw of training images):

* the answer against the four standard baselines (no augmentation; flip +
  padded crop; RandAugment N=2 M=9; TrivialAugmentWide, all at the default
  learning rates) and against its ablation (its own learning rates without
  augmentation), test accuracy mean ± sd;
* the total gain over the best standard baseline and the augmentation's own
  gain, each with one-sided 90% Student's t bounds and the outcome;
* the search's cost in target trainings: the image-epochs of every proxy trial
  (pruned ones their part) and of every rung training, over the target's.

Design datasets: Fashion-MNIST (5,000 x 10) and the animal silhouettes
(3,000 x 10). ``--holdout`` runs the one dataset the design never looked at
(ELPV solar cells), once, to report as it comes.

Every training lands in ``bench/results/search_quality.db`` (the studies, and
the target results the verdict reuses), so ``--cached`` prints the tables
again without training and an interrupted run resumes.

    python bench/search_quality.py                       # both design datasets (hours on 2 CPU cores)
    python bench/search_quality.py --datasets fashion-mnist
    python bench/search_quality.py --holdout             # the held-out dataset, once
    python bench/search_quality.py --cached              # the tables from the stored studies
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from optuna.trial import TrialState

from policysearch.errors import StorageError
from policysearch.policy import Policy
from policysearch.search.configuration.config import RunConfig
from policysearch.search.outputs.export import best_trial, search_image_epochs, trial_policy
from policysearch.search.run import run_search
from policysearch.search.study.schema import read_verdict
from policysearch.search.study.storage import load_existing_study
from policysearch.search.verdict.verdict import format_table, verdict_text

RESULTS = Path(__file__).parent / "results"
STORAGE = f"sqlite:///{RESULTS / 'search_quality.db'}"


@dataclass(frozen=True)
class Case:
    """One dataset's search, as data: the proxy, the rung and the target."""

    dataset: str
    target: tuple[int, int]  # training images, epochs
    train_size: int = 600
    val_size: int = 500
    trials: int = 14
    rung_candidates: int = 2  # plus the leader's ablation when it augments
    rung_train_size: int = 1000
    image_size: int = 32
    model: str = "efficientnet-lite0"
    weights: str | None = "DEFAULT"


# The search recipe per dataset: small proxies and a 2-seed rung keep the search's cost near 2-3 targets.
CASES = {
    "fashion-mnist": Case("fashion-mnist", (5000, 10)),
    "animal-silhouettes": Case("animal-silhouettes", (3000, 10), train_size=500, val_size=400, trials=12,
                               rung_train_size=800),
}
HOLDOUT = Case("elpv", (1500, 10), train_size=400, val_size=300, trials=12, rung_train_size=600)


def config_for(case: Case, seed: int) -> RunConfig:
    """``policysearch run``'s configuration for one case (pretrained EfficientNet-Lite0, CPU or GPU)."""
    images, epochs = case.target
    values = dict(dataset=case.dataset, model=case.model, weights=case.weights, image_size=case.image_size,
                  train_size=case.train_size, val_size=case.val_size, trials=case.trials, target_train_size=images,
                  target_epochs=epochs, rung_candidates=case.rung_candidates, rung_train_size=case.rung_train_size,
                  final_seeds=3, seed=seed, storage=STORAGE, output_dir=str(RESULTS / "search_quality"),
                  test_size=None, study=f"quality-{case.dataset}-{images}x{epochs}-seed{seed}")
    # every key named, as a TOML file would: a study stored by an earlier release keeps these, not its defaults
    return RunConfig(**values, explicit=tuple(values))


def describe(policy: Policy) -> str:
    """A policy in a few words: its augmentation and its learning rates.

    Example:
        >>> describe(Policy(num_ops=0))
        'no augmentation, head 1.0e-03 / backbone 1.0e-04'
    """
    parts = [name for name, on in (("flip", policy.flip), ("crop", policy.crop > 0)) if on]
    if policy.num_ops > 0:
        ops = ",".join(policy.ops) if len(policy.ops) <= 5 else f"{len(policy.ops)} ops"
        parts.append("TrivialAugmentWide" + f"({ops})" if policy.kind == "trivialaugment"
                     else f"RandAugment N={policy.num_ops} M={policy.magnitude} ({ops})")
    rates = f"head {policy.transfer.head_lr:.1e}" + (f" / backbone {policy.transfer.backbone_lr:.1e}"
                                                      if policy.transfer.backbone_lr else " (frozen backbone)")
    return f"{' + '.join(parts) or 'no augmentation'}, {rates}"


def run_case(case: Case, seed: int, cached: bool) -> dict[str, Any]:
    """The search and its verdict (or, ``cached``, what the stored study holds)."""
    config = config_for(case, seed)
    start = time.perf_counter()
    if not cached:
        # ``run`` runs ``trials`` more each time: an interrupted bench runs only the trials it still owes
        # (none: the rung and the verdict, whose stored trainings are reused).
        run_search(replace(config, trials=max(0, case.trials - _trials_done(config))), sys.stderr)
    study = load_existing_study(config.study_name, STORAGE)
    verdict = read_verdict(study).value
    images, epochs = case.target
    return {"case": case, "verdict": verdict, "answer": describe(trial_policy(best_trial(study))),
            "cost": search_image_epochs(study) / (images * epochs),
            "seconds": None if cached else time.perf_counter() - start}


def _trials_done(config: RunConfig) -> int:
    """Proxy trials the case's study already holds (completed or pruned); 0 before its first run."""
    try:
        study = load_existing_study(config.study_name, STORAGE)
    except StorageError:
        return 0
    return sum(trial.state in (TrialState.COMPLETE, TrialState.PRUNED) for trial in study.get_trials(deepcopy=False))


def report(result: dict[str, Any]) -> str:
    case, verdict = result["case"], result["verdict"]
    images, epochs = case.target
    took = "" if result["seconds"] is None else f", {result['seconds']:.0f} s in all"
    return "\n".join([
        f"== {case.dataset}: target {images} images x {epochs} epochs, test accuracy over "
        f"{verdict.get('seeds', '?')} paired seeds ==",
        f"answer: {result['answer']}",
        format_table(verdict["table"]),
        verdict_text(verdict),
        f"search cost: {result['cost']:.2f} target trainings (proxy {case.train_size} images, {case.trials} trials; "
        f"rung {case.rung_train_size} images x 2 seeds){took}",
        ""])


def summary(results: list[dict[str, Any]]) -> str:
    lines = [f"{'dataset':<20} {'target':>9} {'total gain, points [90% bounds]':>36} {'outcome':>20} "
             f"{'augmentation own gain':>32} {'x target':>9}"]
    for result in results:
        verdict, (images, epochs) = result["verdict"], result["case"].target
        gain = verdict.get("augmentation") or {}
        own = "none: no augmentation" if "none:" in gain.get("line", "") else _bounds(gain)
        lines.append(f"{result['case'].dataset:<20} {f'{images}x{epochs}':>9} {_bounds(verdict):>36} "
                     f"{verdict.get('outcome', '?'):>20} {own:>32} {result['cost']:>9.2f}")
    return "\n".join(lines)


def _bounds(comparison: dict[str, Any]) -> str:
    if not comparison:
        return "-"
    if comparison.get("lower") is None:
        return f"{comparison['difference']:+.2f}"
    return f"{comparison['difference']:+.2f} [{comparison['lower']:+.2f}, {comparison['upper']:+.2f}]"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(CASES), help=f"comma-separated, of {list(CASES)}")
    parser.add_argument("--holdout", action="store_true", help=f"run the held-out dataset ({HOLDOUT.dataset}) only")
    parser.add_argument("--cached", action="store_true", help="print the stored results; train nothing")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    cases = [HOLDOUT] if args.holdout else [CASES[name] for name in args.datasets.split(",")]
    RESULTS.mkdir(exist_ok=True)
    results = []
    for case in cases:
        results.append(run_case(case, args.seed, args.cached))
        print(report(results[-1]), flush=True)
    print(summary(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
