"""Does the proxy rank policies the way the target training does?

Fashion-MNIST, ImageNet-pretrained EfficientNet-Lite0 at 32x32. Ten
policies spread over RandAugment N and M, TrivialAugmentWide, op subsets and
learning rates are each trained

* at each proxy budget (the search's validation accuracy after a proxy trial):
  ``old`` 1,000 images x 3 epochs (the search before the target budget),
  ``regime`` 1,000 images x the target's epochs (AutoAugment's reduced data at the
  target's training length, what ``policysearch run`` now does by default);
* at the target budget, 5,000 images x 10 epochs, scored on the 10,000 held-out
  test images the search never sees,

two seeds each. It prints, per proxy, Spearman's and Kendall's rank correlation
with the target and the regret (target accuracy of the target's best policy
minus that of the proxy's pick). ``--searches`` then runs the search before and
after the target budget as ``policysearch run`` would and trains each exported
policy and the baselines at the target, with each search's cost in image-epochs.

Every training result is cached in ``bench/results/proxy_fidelity.json`` (keyed
by policy, budget and seed), so an interrupted run continues where it stopped.

    python bench/proxy_fidelity.py               # the fidelity table (about an hour on 2 CPU cores)
    python bench/proxy_fidelity.py --searches    # then the two searches and their verdicts
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scipy import stats

from policysearch.data import load_source, make_splits, stratified_indices
from policysearch.policy import Policy, Transfer, load_policy
from policysearch.search.configuration.config import RunConfig, load_config
from policysearch.search.outputs.export import default_path, search_image_epochs
from policysearch.search.run import run_search
from policysearch.search.study.storage import load_existing_study
from policysearch.search.trials.inputs import make_model_factory
from policysearch.training import TrainConfig, proxy_finetune

CACHE = Path(__file__).parent / "results" / "proxy_fidelity.json"
DEFAULT_LR = Transfer("finetune", head_lr=1e-3, backbone_lr=1e-4)
FOUND_LR = Transfer("finetune", head_lr=0.011, backbone_lr=3.2e-4)  # what the 1,000 x 3 search found
MID_LR = Transfer("finetune", head_lr=3e-3, backbone_lr=3e-4)
FLIP_CROP = ("HorizontalFlip", "RandomCrop")


@dataclass(frozen=True)
class Budget:
    name: str
    train_size: int
    epochs: int

    @property
    def image_epochs(self) -> int:
        return self.train_size * self.epochs


TARGET = Budget("target", 5000, 10)
PROXIES = (Budget("old", 1000, 3), Budget("regime", 1000, 10))
SEEDS = (0, 1)

# name -> policy: spread over N, M, TrivialAugment, op sets and learning rates.
POLICIES: dict[str, Policy] = {
    "none@default": Policy(num_ops=0, magnitude=0, transfer=DEFAULT_LR),
    "none@found": Policy(num_ops=0, magnitude=0, transfer=FOUND_LR),
    "ra2m9@default": Policy(num_ops=2, magnitude=9, transfer=DEFAULT_LR),
    "ra2m9@found": Policy(num_ops=2, magnitude=9, transfer=FOUND_LR),
    "ra2m2@found": Policy(num_ops=2, magnitude=2, transfer=FOUND_LR),
    "ra1m5@mid": Policy(num_ops=1, magnitude=5, transfer=MID_LR),
    "ra3m20@default": Policy(num_ops=3, magnitude=20, transfer=DEFAULT_LR),
    "ta@default": Policy(kind="trivialaugment", transfer=DEFAULT_LR),
    "ta@found": Policy(kind="trivialaugment", transfer=FOUND_LR),
    "flipcrop1m8@found": Policy(num_ops=1, magnitude=8, ops=FLIP_CROP, transfer=FOUND_LR),
}


def _load_cache() -> dict[str, Any]:
    return json.loads(CACHE.read_text()) if CACHE.is_file() else {}


def _save_cache(cache: dict[str, Any]) -> None:
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    tmp = CACHE.with_suffix(".tmp")
    tmp.write_text(json.dumps(cache, indent=1, sort_keys=True))
    tmp.replace(CACHE)


class Bench:
    """Loads the data and the backbone once; trains policies at budgets, cached."""

    def __init__(self) -> None:
        self.config = RunConfig()
        source = load_source(self.config.dataset, image_size=self.config.image_size)
        # One split for everything: proxy train/val and the target's training images come from the pool;
        # the test split is Fashion-MNIST's own 10,000 images, used only for target scores.
        self.splits = make_splits(source, train_size=TARGET.train_size, val_size=500, seed=0)
        self.factory = make_model_factory(self.config, source.num_classes)
        self.cache = _load_cache()

    def subset(self, size: int) -> Any:
        if size == len(self.splits.train):
            return self.splits.train
        return self.splits.train.take(stratified_indices(self.splits.train.labels, [size], seed=0)[0])

    def score(self, name: str, policy: Policy, budget: Budget, seed: int) -> float:
        """Validation accuracy for a proxy budget; held-out test accuracy for the target."""
        key = self.key(name, budget, seed)
        if key not in self.cache:
            began = time.perf_counter()
            test = self.splits.test if budget.name == "target" else None
            result = proxy_finetune(policy, self.factory, self.subset(budget.train_size), self.splits.val,
                                    TrainConfig(epochs=budget.epochs, seed=seed), test=test)
            value = result.test_accuracy if test is not None else result.val_accuracy
            self.cache[key] = {"value": value, "seconds": time.perf_counter() - began,
                               "policy": policy.to_json()}
            _save_cache(self.cache)
            print(f"  {key:<45} {value:.4f}  ({self.cache[key]['seconds']:.0f} s)", flush=True)
        return self.cache[key]["value"]

    @staticmethod
    def key(name: str, budget: Budget, seed: int) -> str:
        return f"{name}|{budget.name}:{budget.train_size}x{budget.epochs}|{seed}"

    def cached(self, name: str, budget: Budget, seed: int) -> bool:
        return self.key(name, budget, seed) in self.cache

    def mean(self, name: str, policy: Policy, budget: Budget) -> tuple[float, float]:
        values = [self.score(name, policy, budget, seed) for seed in SEEDS]
        return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def fidelity(bench: Bench, cached_only: bool = False) -> None:
    # Policy by policy, every budget: an interrupted run leaves whole rows.
    policies = {name: policy for name, policy in POLICIES.items()
                if not cached_only or all(bench.cached(name, b, s) for b in (*PROXIES, TARGET) for s in SEEDS)}
    for name, policy in policies.items():
        for budget in (*PROXIES, TARGET):
            bench.mean(name, policy, budget)
    if len(policies) < 3:
        print(f"only {len(policies)} policies measured at every budget so far")
        return
    target = {name: bench.mean(name, policy, TARGET) for name, policy in policies.items()}
    proxies = {p.name: {name: bench.mean(name, policy, p) for name, policy in policies.items()} for p in PROXIES}
    print(f"\nTarget: {TARGET.train_size} images x {TARGET.epochs} epochs, test accuracy, mean ± sd of {len(SEEDS)}"
          f" seeds; proxies: validation accuracy.\n")
    header = f"{'policy':<20} {'target':>15}" + "".join(f" {p.name + f' {p.train_size}x{p.epochs}':>17}"
                                                        for p in PROXIES)
    print(header)
    for name in sorted(policies, key=lambda n: -target[n][0]):
        row = f"{name:<20} {target[name][0]:.4f} ± {target[name][1]:.4f}"
        row += "".join(f" {proxies[p.name][name][0]:>8.4f} ± {proxies[p.name][name][1]:.4f}" for p in PROXIES)
        print(row)
    best = max(policies, key=lambda n: target[n][0])
    t = [target[n][0] for n in policies]
    print(f"\n{'proxy':<8} {'image-epochs':>12} {'Spearman':>9} {'Kendall':>8} {'pick':>18} {'regret':>7}")
    for p in PROXIES:
        values = [proxies[p.name][n][0] for n in policies]
        pick = max(policies, key=lambda n: proxies[p.name][n][0])
        rho, tau = stats.spearmanr(values, t).statistic, stats.kendalltau(values, t).statistic
        print(f"{p.name:<8} {p.image_epochs:>12} {rho:>9.3f} {tau:>8.3f} {pick:>18} "
              f"{target[best][0] - target[pick][0]:>+7.4f}")
    print(f"\ntarget's best: {best} {target[best][0]:.4f} ({len(policies)} of {len(POLICIES)} policies)")


# The studies' answers and costs are cached with the target scores ("search:LABEL"), so the table can be
# printed again without the searches' databases. Before and regime are the earlier versions' searches:
# median pruning from epoch 1, the linear probe and the wide learning-rate ranges in the space, no rung.
EARLIER_SPACE = {"approaches": ["linear_probe", "finetune"], "head_lr": [1e-4, 3e-2], "backbone_lr_ratio": [1e-3, 1.0]}
SEARCHES = {
    # The search before the target budget: 1,000 images x 3 epochs, RandAugment only, 24 trials.
    "search before (1,000 x 3 proxy)": {"epochs": 3, "space": {**EARLIER_SPACE, "kinds": ["randaugment"]},
                                        "trials": 24, "rung_candidates": 0, "pruner": "median"},
    # The target's regime: 1,000 images at the target's 10 epochs, both kinds; 15 trials.
    "search, target regime (1,000 x 10)": {"trials": 15, "space": EARLIER_SPACE, "rung_candidates": 0,
                                           "pruner": "median"},
    # Now: the measured space and pruner, 11 trials, then a rung of the best 2 and the leader's ablation at
    # 2,000 images x 10 epochs (within 3 target trainings in all).
    "search now (11 trials + rung)": {"trials": 11, "rung_candidates": 2, "rung_train_size": 2000},
}


def searches(bench: Bench) -> None:
    baselines = {"no augmentation": "none@default", "RandAugment(2,9)": "ra2m9@default",
                 "TrivialAugmentWide": "ta@default"}
    rows = [(label, bench.mean(key, POLICIES[key], TARGET), 0) for label, key in baselines.items()]
    for index, (label, overrides) in enumerate(SEARCHES.items()):
        key = f"search:{label}"
        if key not in bench.cache:
            base = {"study": f"bench-search-{index}", "storage": f"sqlite:///{CACHE.parent / 'searches.db'}",
                    "output_dir": str(CACHE.parent), "final": False, "target_train_size": TARGET.train_size,
                    "target_epochs": TARGET.epochs}
            config = load_config(None, {**base, **overrides})
            path = default_path(config.study_name, config.output_dir)
            if not path.is_file():  # a finished search is reused, not resumed with more trials
                run_search(config, sys.stderr)
            cost = search_image_epochs(load_existing_study(config.study_name, config.storage_url))
            bench.cache[key] = {"policy": load_policy(path).to_json(), "cost": cost}
            _save_cache(bench.cache)
        policy = load_policy(bench.cache[key]["policy"])
        print(f"  {label}: exported {policy.to_json()['augmentation']['kind']} {policy.transfer}", flush=True)
        rows.append((label, bench.mean(key, policy, TARGET), bench.cache[key]["cost"]))
    print(f"\nAt the target ({TARGET.train_size} x {TARGET.epochs}), test accuracy, {len(SEEDS)} seeds:\n")
    print(f"{'policy':<40} {'test acc':>16} {'search image-epochs':>20} {'x target':>9}")
    for label, (mean, sd), cost in rows:
        print(f"{label:<40} {mean:.4f} ± {sd:.4f} {cost:>20} {cost / TARGET.image_epochs:>9.2f}")
    best = max(bench.mean(name, policy, TARGET)[0] for name, policy in POLICIES.items())
    print(f"\nthe fidelity table's best at the target: {best:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--searches", action="store_true", help="also run both searches and their target check")
    parser.add_argument("--cached", action="store_true", help="train nothing: the table from the cached results")
    args = parser.parse_args()
    start = time.perf_counter()
    bench = Bench()
    fidelity(bench, cached_only=args.cached)
    if args.searches:
        searches(bench)
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
