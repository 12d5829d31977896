"""Trial -> policy -> proxy fine-tune(s) -> validation accuracy.

The objective reports the validation accuracy after every epoch of the first
seed (``trial.report``) and raises ``TrialPruned`` when the pruner says so; a
diverged run is pruned, not counted. With ``seeds > 1`` the value is the mean
over seeds. Every trial stores, as user attributes the dashboard shows: the
policy JSON, seconds spent, epochs run, the device, and per-seed accuracies.

Example:
    >>> import optuna
    >>> from policysearch.search.study.schema import trial_policy_document
    >>> study = optuna.create_study(direction="maximize")
    >>> objective = Objective(SearchSpace(), tiny_splits(), tiny_factory(), TrainConfig(epochs=1, device="cpu"))
    >>> study.optimize(objective, n_trials=2)
    >>> trial = study.trials[0]
    >>> # the op groups are always asked; augmentation and num_ops only when a group was chosen
    >>> {"group_flips", "approach", "head_lr"} <= set(trial.params), trial_policy_document(trial) is not None
    (True, True)
"""

from __future__ import annotations

import functools
import statistics
import time
from dataclasses import dataclass, replace
from typing import Any, Callable

import optuna

from policysearch.augment.groups import is_grey
from policysearch.search.strategy.space import SearchSpace
from policysearch.search.study.orphans import record_owner
from policysearch.search.study.schema import (
    ABLATION_OF,
    Placement,
    TrialCost,
    ablated_trial,
    set_trial_cost,
    set_trial_failure,
    set_trial_placement,
    write_trial_policy,
)
from policysearch.training import TrainConfig, proxy_finetune

__all__ = ["Objective", "teaching_for", "ABLATION_OF"]  # ABLATION_OF: kept here for earlier importers


@dataclass(frozen=True)
class Objective:
    """The callable handed to ``study.optimize``; holds the data loaded once."""

    space: SearchSpace
    splits: Any  # policysearch.data.Splits
    model_factory: Callable[[], Any]
    proxy: TrainConfig
    seeds: int = 1
    teaching: Any = None  # a policysearch.distill.Teaching: trials then train students of it
    where: Placement | None = None  # the worker process and its GPU: stored on every trial

    @functools.cached_property
    def grey(self) -> bool:
        """Whether the training images are grey (one channel, or three equal ones): checked once, so the
        space leaves out the ops that do nothing on them (Color)."""
        return is_grey(self.splits.train.images)

    def __call__(self, trial: optuna.Trial) -> float:
        record_owner(trial)  # first: a kill from here on is recognised at the next resume
        policy = self.space.suggest(trial, distill=self.teaching is not None, grey=self.grey)
        write_trial_policy(trial, policy.to_json())
        if self.where is not None:
            set_trial_placement(trial, self.where)
        start = time.perf_counter()
        accuracies: list[float] = []
        done: dict[str, Any] = {"epochs": 0, "device": None}
        try:
            for k in range(self.seeds):
                accuracies.append(self._one_seed(trial, policy, k, done))
        except optuna.TrialPruned:  # pruning is not a failure (a divergence stored its reason already)
            raise
        except Exception as exc:  # the study fails this trial and carries on; say why
            set_trial_failure(trial, f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:500])
            _release_device_memory(exc)
            raise
        finally:  # pruned, diverged or failed trials keep their cost too
            set_trial_cost(trial, TrialCost(round(time.perf_counter() - start, 3), done["epochs"], done["device"],
                                            tuple(accuracies)))
        return statistics.fmean(accuracies)

    def _one_seed(self, trial: optuna.Trial, policy: Any, k: int, done: dict[str, Any]) -> float:
        def report(epoch: int, accuracy: float) -> None:
            done["epochs"] += 1
            if k > 0:  # pruning follows the first seed's curve, the one reported
                return
            trial.report(accuracy, step=epoch)
            # A trial the promotion rung asked for runs to the end: its proxy score only ranks it.
            if ablated_trial(trial) is None and trial.should_prune():
                raise optuna.TrialPruned(f"pruned after epoch {epoch} at val accuracy {accuracy:.4f}")

        config = replace(self.proxy, seed=self.proxy.seed + k)
        result = proxy_finetune(policy, self.model_factory, self.splits.train, self.splits.val,
                                config, report=report, teaching=teaching_for(self.teaching, policy))
        done["device"] = result.device
        if result.status != "ok" or result.val_accuracy is None:
            done["epochs"] += 1  # the epoch that diverged was spent too
            set_trial_failure(trial, result.reason)
            raise optuna.TrialPruned(f"diverged: {result.reason}")
        return result.val_accuracy


def teaching_for(teaching: Any, policy: Any) -> Any:
    """``teaching`` at the temperature and alpha of ``policy``'s distillation block.

    None when there is no teaching; ``teaching`` itself, at its own settings,
    when the policy has no distillation block (a baseline, say). The copy
    shares the teacher outputs ``teaching`` keeps for the clean view.

    Example:
        >>> from policysearch import Policy
        >>> from policysearch.distill import Teaching
        >>> from policysearch.models import build_model
        >>> teaching = Teaching(build_model("tiny-cnn", 3, image_size=8, weights=None))
        >>> teaching_for(None, Policy()) is None, teaching_for(teaching, Policy()) is teaching
        (True, True)
    """
    if teaching is None or policy.distillation is None:
        return teaching
    return replace(teaching, temperature=policy.distillation.temperature, alpha=policy.distillation.alpha)


def _release_device_memory(exc: Exception) -> None:
    """After CUDA running out of memory, hand the cached blocks back for the next trial."""
    import torch

    if isinstance(exc, torch.cuda.OutOfMemoryError):
        torch.cuda.empty_cache()
