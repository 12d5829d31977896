"""What the storage layer costs per trial, and trials per hour with 1, 2 and 4 workers.

Part 1, in this process: for SQLite (the default), Optuna's JournalStorage on a
file, and PostgreSQL (skipped when no server answers), the time one trial spends
in storage calls as a policysearch trial makes them: create (ask), a report per
epoch, the user attributes, finish (tell). Shown against one real CPU proxy
trial of the default search (EfficientNet-Lite0 linear probe, the cheaper of
the two approaches, so the fraction is the larger).

Part 2: ``policysearch run --jobs K`` for K = 1, 2, 4 on one SQLite study with
a small proxy, and the trials per hour each reaches on this machine.

    python bench/storage_overhead.py      # about 5 minutes on 2 CPU cores
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path

import optuna

from policysearch import Policy
from policysearch.policy import Transfer
from policysearch.search.configuration.config import RunConfig
from policysearch.search.study.schema import TrialCost, set_trial_cost, write_trial_policy
from policysearch.search.study.storage import make_storage
from policysearch.search.trials.inputs import load_splits, make_model_factory
from policysearch.training import TrainConfig, proxy_finetune

TRIALS = 40
EPOCHS = 3
POSTGRES = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
WORKER_TRIALS = 8


def storage_seconds_per_trial(url: str) -> float:
    """Mean wall time of the storage calls of one trial."""
    study = optuna.create_study(study_name=f"bench-{uuid.uuid4().hex[:8]}", storage=make_storage(url),
                                direction="maximize")
    policy_json = Policy().to_json()
    distributions = {"num_ops": optuna.distributions.IntDistribution(0, 4),
                     "magnitude": optuna.distributions.IntDistribution(0, 30)}
    times = []
    for i in range(TRIALS):
        start = time.perf_counter()
        trial = study.ask(distributions)
        for epoch in range(1, EPOCHS + 1):
            trial.report(0.5 + 0.01 * epoch, step=epoch)
            trial.should_prune()
        write_trial_policy(trial, policy_json)  # the attributes a trial stores, as the objective writes them
        set_trial_cost(trial, TrialCost(1.0, EPOCHS, "cpu", (0.5,)))
        study.tell(trial, 0.5 + i * 1e-4)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def proxy_trial_seconds() -> float:
    config = RunConfig(train_size=1000)  # the proxy trial its figures were measured against
    splits = load_splits(config)
    factory = make_model_factory(config, splits.num_classes)
    policy = Policy(num_ops=2, magnitude=9, transfer=Transfer("linear_probe", head_lr=1e-2, backbone_lr=None))
    return proxy_finetune(policy, factory, splits.train, splits.val, TrainConfig(epochs=EPOCHS)).seconds


def trials_per_hour(jobs: int, folder: Path) -> float:
    storage = f"sqlite:///{folder}/workers.db"
    command = [sys.executable, "-m", "policysearch", "run", "--train-size", "500", "--val-size", "200",
               "--epochs", "2", "--trials", str(WORKER_TRIALS), "--jobs", str(jobs), "--no-final",
               "--rung-candidates", "0",
               "--study", f"jobs{jobs}", "--storage", storage, "--output-dir", str(folder)]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return WORKER_TRIALS / (time.perf_counter() - start) * 3600


def main() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # ask/tell outside Study.optimize is what we time; Optuna warns about heartbeats there.
    warnings.filterwarnings("ignore", message="Heartbeat of storage")
    proxy = proxy_trial_seconds()
    print(f"one CPU proxy trial (default search, linear probe, {EPOCHS} epochs): {proxy:.2f} s")
    print(f"storage calls per trial (ask, {EPOCHS} reports, 5 user attributes, tell), median of {TRIALS}:")
    with tempfile.TemporaryDirectory() as folder:
        backends = {"SQLite": f"sqlite:///{folder}/s.db", "JournalStorage": f"journal:{folder}/j.log",
                    "PostgreSQL": POSTGRES}
        for name, url in backends.items():
            try:
                seconds = storage_seconds_per_trial(url)
            except Exception as exc:  # noqa: BLE001 - a missing server is reported, not fatal
                print(f"  {name:<15} skipped: {str(exc).splitlines()[0][:80]}")
                continue
            print(f"  {name:<15} {seconds * 1000:7.1f} ms  = {seconds / proxy:.2%} of a proxy trial")
        print(f"\ntrials per hour, `policysearch run --jobs K` on one SQLite study "
              f"({WORKER_TRIALS} trials, 500/200 images, 2 epochs, no final check; includes start-up):")
        for jobs in (1, 2, 4):
            print(f"  {jobs} worker{'s' if jobs > 1 else ' '}  {trials_per_hour(jobs, Path(folder)):7.0f}", flush=True)


if __name__ == "__main__":
    main()
