"""How many proxy epochs each search method needs to find a good policy.

One proxy task (EfficientNet-Lite0 linear probe at 32x32 on 1,000 Fashion-MNIST
training images, 3 epochs, head LR fixed), one search space (RandAugment N in
0..4, M in 0..30), three methods run one after the other in this process:

* grid: the RandAugment paper's protocol, every N by every third M (55 trials);
* random search;
* TPE with median pruning from the first epoch (this bench's own setting:
  ``policysearch run`` prunes with the percentile pruner by default, the
  bottom quarter from half way through a trial's epochs, see
  ``policysearch.search.strategy.pruner.make_pruner``).

For each, the best validation accuracy reached as a function of proxy epochs
spent, and the epochs needed to come within 0.5 points of the grid's best.
Target: TPE with pruning needs at most a fifth of the grid's epochs.

    python bench/search_efficiency.py          # about 15 minutes on 2 CPU cores
    python bench/search_efficiency.py --quick  # a smaller grid, a few minutes
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import optuna

from policysearch.search.configuration.config import RunConfig
from policysearch.search.strategy.space import SearchSpace
from policysearch.search.study.schema import trial_epochs_run
from policysearch.search.trials.inputs import load_splits, make_model_factory
from policysearch.search.trials.objective import Objective
from policysearch.training import TrainConfig

HEAD_LR = 1e-2
WITHIN = 0.005  # "within 0.5 points" of the grid's best accuracy
TARGET_FRACTION = 1 / 5


def run_method(name: str, sampler: Any, pruner: Any, trials: int, objective: Objective) -> list[tuple[int, float]]:
    """The best value so far after each trial, against cumulative epochs spent."""
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)
    curve: list[tuple[int, float]] = []
    spent = 0
    start = time.perf_counter()

    def track(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        nonlocal spent
        spent += trial_epochs_run(trial)
        try:
            curve.append((spent, study.best_value))
        except ValueError:
            pass

    study.optimize(objective, n_trials=trials, callbacks=[track])
    pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials)
    print(f"  {name:<12} {trials:>3} trials ({pruned} pruned), {spent:>4} epochs, "
          f"best {study.best_value:.4f} (N={study.best_params['num_ops']}, M={study.best_params['magnitude']}), "
          f"{time.perf_counter() - start:.0f} s", flush=True)
    return curve


def epochs_to_reach(curve: list[tuple[int, float]], level: float) -> int | None:
    return next((epochs for epochs, best in curve if best >= level), None)


def best_at(curve: list[tuple[int, float]], epochs: int) -> float | None:
    reached = [best for spent, best in curve if spent <= epochs]
    return reached[-1] if reached else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every sixth M and fewer trials")
    parser.add_argument("--trials", type=int, default=20, help="trials for random and TPE (default 20)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    config = RunConfig(epochs=3, train_size=1000)  # the proxy it was measured with: fashion-mnist, lite0, 1000/500
    space = SearchSpace(kinds=("randaugment",), approaches=("linear_probe",), head_lr=(HEAD_LR, HEAD_LR))
    splits = load_splits(config)
    objective = Objective(space, splits, make_model_factory(config, splits.num_classes),
                          TrainConfig(epochs=config.epochs, batch_size=config.batch_size, seed=config.seed))
    grid = space.grid(magnitude_step=6 if args.quick else 3)
    grid_trials = len(grid["num_ops"]) * len(grid["magnitude"])
    print(f"proxy: {config.model} linear probe, {config.image_size}x{config.image_size}, "
          f"{config.train_size}/{config.val_size} train/val, {config.epochs} epochs; "
          f"space N {space.num_ops}, M {space.magnitude}")
    curves = {
        "grid": run_method("grid", optuna.samplers.GridSampler(grid, seed=args.seed), optuna.pruners.NopPruner(),
                           grid_trials, objective),
        "random": run_method("random", optuna.samplers.RandomSampler(seed=args.seed), optuna.pruners.NopPruner(),
                             args.trials, objective),
        "tpe+pruning": run_method(
            "tpe+pruning",
            optuna.samplers.TPESampler(seed=args.seed, multivariate=True, n_startup_trials=6),
            optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=0),
            args.trials, objective),
    }
    grid_best = curves["grid"][-1][1]
    grid_epochs = curves["grid"][-1][0]
    level = grid_best - WITHIN
    budgets = sorted({grid_epochs // k for k in (20, 10, 5, 3, 2, 1)})
    print(f"\nbest val accuracy reached by epochs spent (grid's best {grid_best:.4f})")
    print(f"{'method':<12}" + "".join(f"{b:>8}" for b in budgets) + f"   epochs to {level:.4f}")
    for name, curve in curves.items():
        cells = "".join(f"{_fmt(best_at(curve, b)):>8}" for b in budgets)
        reach = epochs_to_reach(curve, level)
        print(f"{name:<12}{cells}   {reach if reach is not None else 'not reached'}")
    tpe = epochs_to_reach(curves["tpe+pruning"], level)
    verdict = "ok" if tpe is not None and tpe <= grid_epochs * TARGET_FRACTION else "MISSED"
    print(f"\nTPE+pruning epochs / grid epochs to reach it: "
          f"{'-' if tpe is None else f'{tpe} / {grid_epochs} = {tpe / grid_epochs:.2f}'} "
          f"(target <= {TARGET_FRACTION:.2f}) {verdict}")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


if __name__ == "__main__":
    main()
