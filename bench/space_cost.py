"""What the op-group space costs in trials: the search over it against the search over the fixed 14-op space.

The op-group space (six groups searched, RandAugment or TrivialAugmentWide
drawing from the chosen ones, ops that do nothing on the data left out) has
more parameters than the space before it (RandAugment or TrivialAugmentWide
over torchvision's 14 ops, N from 0). A wider space can need more trials to
find as good a policy. This bench runs ``policysearch run`` as a user would
(the default proxy: Fashion-MNIST, pretrained EfficientNet-Lite0 at 32 px,
500/500 images x 4 epochs, TPE, the percentile pruner; no rung, no verdict)
over each space, for several seeds (each seed its own splits and sampler
seed, the same for both spaces: paired), and prints per seed the best proxy
value after each trial and the trials each space needed to come within 0.5
points of the best either space found on that seed. The first four trials
are the baselines, the same in both spaces.

    python bench/space_cost.py                     # 3 seeds x 16 trials x 2 spaces (about 40 minutes of one core)
    python bench/space_cost.py --seeds 1 --trials 8
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
from dataclasses import replace
from pathlib import Path

import optuna

from policysearch.augment.ops import TORCHVISION_OPS
from policysearch.search.configuration.config import RunConfig
from policysearch.search.outputs.export import best_proxy_trial, trial_policy
from policysearch.search.run import run_search
from policysearch.search.strategy.space import SearchSpace
from policysearch.search.study.storage import load_existing_study

WITHIN = 0.005  # "as good": within half a point of the best proxy value found on that seed
SPACES = {
    "fixed 14 ops": SearchSpace(groups=(), ops=TORCHVISION_OPS),  # the space before op groups
    "op groups": SearchSpace(),  # today's default
}


def curve(space: SearchSpace, seed: int, trials: int, folder: Path) -> tuple[list[float], str]:
    """The best proxy value after each trial of one search (its trials in order, failed ones left out), and
    its best trial in a few words."""
    config = RunConfig(space=space, seed=seed, trials=trials, final=False, rung_candidates=0,
                       storage=f"sqlite:///{folder / 'space_cost.db'}", output_dir=str(folder),
                       study=f"space-{len(space.groups)}-seed{seed}")
    run_search(config, io.StringIO())
    study = load_existing_study(config.study_name, config.storage_url)
    best, values = float("-inf"), []
    for trial in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        if trial.state == optuna.trial.TrialState.COMPLETE:
            best = max(best, trial.value)
        if trial.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED):
            values.append(best)
    return values, describe(best_proxy_trial(study.get_trials(deepcopy=False)))


def describe(trial: optuna.trial.FrozenTrial) -> str:
    """``#9 no augmentation, head 3.1e-03`` or ``#5 randaugment N=1 M=4 (flips, crop)``."""
    policy = trial_policy(trial)
    groups = [name.removeprefix("group_") for name, on in trial.params.items() if name.startswith("group_") and on]
    what = ("no augmentation" if not policy.augments else
            f"{policy.kind}" + (f" N={policy.num_ops} M={policy.magnitude}" if policy.kind == "randaugment" else "")
            + (f" ({', '.join(groups)})" if groups else f" ({len(policy.ops)} ops)"))
    return f"#{trial.number} {what}, head {policy.transfer.head_lr:.1e}"


def reached(values: list[float], level: float) -> int | None:
    """The number of trials after which the best value first reached ``level``."""
    return next((n + 1 for n, value in enumerate(values) if value >= level - 1e-12), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--first-seed", type=int, default=0)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    needed: dict[str, list[int | None]] = {name: [] for name in SPACES}
    finals: dict[str, list[float]] = {name: [] for name in SPACES}
    with tempfile.TemporaryDirectory(prefix="space-cost-") as tmp:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            found = {name: curve(space, seed, args.trials, Path(tmp)) for name, space in SPACES.items()}
            curves = {name: values for name, (values, _) in found.items()}
            level = max(values[-1] for values in curves.values()) - WITHIN
            print(f"seed {seed}: best proxy value after each trial; 'as good' = {level:.4f} or more", flush=True)
            for name, values in curves.items():
                n = reached(values, level)
                needed[name].append(n)
                finals[name].append(values[-1])
                print(f"  {name:<13} " + " ".join(f"{v:.3f}" for v in values)
                      + f"  -> as good after {n if n is not None else 'never'}; best {found[name][1]}", flush=True)
    print(f"\n{'space':<13} {'final best (mean)':>18} {'trials to as good (per seed)':>30}")
    for name in SPACES:
        cells = ", ".join("never" if n is None else str(n) for n in needed[name])
        print(f"{name:<13} {statistics.fmean(finals[name]):>18.4f} {cells:>30}")


if __name__ == "__main__":
    main()
