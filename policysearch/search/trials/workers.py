"""Parallel workers on one machine: N processes sharing one study.

This is Optuna's own distributed mode, on one machine: every worker opens the
same study in the same storage and runs trials; the storage hands out the
enqueued baselines once, and each trial's number once, and the sampler
reseeds from the trial number whenever another worker's trials came between
two of its own (:class:`~policysearch.search.strategy.sampler.WorkerSampler`), so no
two workers draw the same point. Processes, not threads (the GIL, and torch's own threads):
torch's threads are divided between the workers. The requested trials are
divided too, so the study gets exactly that many. On CUDA the workers share
the default GPU (small proxy trials leave most of a large GPU idle), or are
dealt out over ``devices`` in turn, each seeing only its own GPU.

Example:
    >>> split_trials(8, 3)  # what each of 3 workers runs of a study's 8 trials
    [3, 3, 2]
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from typing import Any, TextIO

import optuna

from policysearch.errors import PolicySearchError
from policysearch.search.configuration.config import RunConfig
from policysearch.search.study.schema import Placement
from policysearch.search.study.storage import open_study, settled_config
from policysearch.search.trials.inputs import load_splits, load_teaching, make_model_factory
from policysearch.search.trials.optimize import optimize
from policysearch.search.trials.progress import Progress

__all__ = ["run_workers", "split_trials", "check_gpus"]


def split_trials(trials: int, jobs: int) -> list[int]:
    """Trials per worker, as even as possible, summing to ``trials``.

    Example:
        >>> split_trials(10, 4)
        [3, 3, 2, 2]
    """
    return [trials // jobs + (1 if i < trials % jobs else 0) for i in range(jobs)]


def check_gpus(config: RunConfig) -> None:
    """Refuse GPU indices this machine does not have (before any study is touched)."""
    if not config.devices:
        return
    import torch  # loaded already by the training layer; counting GPUs does not start CUDA here

    if config.device not in ("auto", "cuda"):
        raise PolicySearchError(f"devices {list(config.devices)} are CUDA GPUs, but device is {config.device!r}")
    count = torch.cuda.device_count()
    missing = [index for index in config.devices if index >= count]
    if missing:
        raise PolicySearchError(f"devices should be CUDA GPU indices below {count} (this machine has {count} CUDA "
                                f"GPUs), but got {list(config.devices)}")


def run_workers(config: RunConfig, stream: TextIO) -> None:
    """Run ``config.trials`` trials in ``config.jobs`` processes; wait for all of them."""
    context = multiprocessing.get_context("spawn")  # no forked torch or DB connections
    threads = max(1, (os.cpu_count() or 1) // config.jobs)
    processes = []
    for index, trials in enumerate(split_trials(config.trials, config.jobs)):
        if trials == 0:
            continue
        gpu = config.devices[index % len(config.devices)] if config.devices else None
        process = context.Process(target=_worker, args=(config.to_dict(), index, trials, threads, gpu),
                                  name=f"policysearch-worker-{index}")
        process.start()
        processes.append(process)
    try:
        for process in processes:
            process.join()
    except KeyboardInterrupt:
        # Ctrl-C reached every worker too (same process group); let each one
        # mark its running trial failed before we leave.
        for process in processes:
            process.join(timeout=60)
        raise
    failed = [p.name for p in processes if p.exitcode not in (0, None)]
    if failed:
        raise PolicySearchError(f"worker processes {failed} stopped with an error (see their messages above)")


def _worker(config_data: dict[str, Any], index: int, trials: int, threads: int, gpu: int | None = None) -> None:
    if gpu is not None:
        # Before CUDA starts in this process (torch starts it lazily): the
        # worker then sees only its GPU, as cuda:0, and allocates nothing elsewhere.
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)
    import torch  # here, before any torch work of this process: its thread count is set first

    torch.set_num_threads(threads)
    config = RunConfig.from_dict(config_data)
    try:
        optuna.logging.set_verbosity(optuna.logging.ERROR)  # our progress lines say what failed
        study = open_study(config)
        config = settled_config(config, study)
        splits = load_splits(config)
        factory = make_model_factory(config, splits.num_classes)
        optimize(study, config, splits, factory, Progress(trials, config.timeout, sys.stderr, f"w{index} "), trials,
                 load_teaching(config, splits), Placement(index, gpu))
    except KeyboardInterrupt:
        sys.exit(130)
    except PolicySearchError as exc:
        print(f"policysearch: worker {index}: error: {exc}", file=sys.stderr, flush=True)
        sys.exit(2)
