"""Training and evaluation images/s per configuration, against plain fp32 PyTorch in the same process.

Cases: EfficientNet-Lite0 (shipped ImageNet weights) at 32 px on Fashion-MNIST
training and test images, at 224 px on random uint8 images of that shape
(timing only: resizing 70,000 images to 224 px would cost more than the
bench), and tiny-cnn at 32 px on Fashion-MNIST. Batch 64 to train (AdamW,
the same layers training as in the project's fine-tune: a pretrained
backbone keeps its batch-norm statistics), 256 to evaluate (inference mode,
predictions read back).

Configurations, each with its own model and optimiser on pre-made float
tensors, except the last:

* plain fp32: NCHW contiguous weights and images, no autocast, a plain
  AdamW step loop (the baseline every ratio is against);
* channels-last;
* channels-last + bf16 autocast, and + fp16 autocast: the train column
  trains under it, the eval column evaluates under it;
* torch.compile (channels-last, fp32), steady state, EfficientNet-Lite0 at
  32 px only; and once, a proxy trial's work (1,000 images x 4 epochs, 200
  validation images after each) with its compile time counted, against the
  same work uncompiled;
* the project's loop: ``start_session`` / ``train_epoch`` / ``evaluate`` on
  the same uint8 images, augmentation off, with whatever
  :func:`policysearch.training.devices.recipe` chooses here.

A case runs every configuration in turn, round after round (the order
rotates each round, so a slow spell of a shared machine hits all of them),
and reports medians. It ends with bf16's and fp16's agreement with fp32 on
the test images (EfficientNet-Lite0 at 32 px, its briefly trained plain
model) and the rule's choice. The first line is the machine's plain
training rate (EfficientNet-Lite0, 32 px, fp32, batch 64), the figure
README quotes beside its times.

    python bench/train_speed.py                    # sized for about 10 minutes on 2 idle cores
    python bench/train_speed.py --quick            # a few minutes, no compile
    python bench/train_speed.py --case lite0-32    # one case (lite0-32, lite0-224, tiny-cnn-32)

On a loaded machine every figure drops and the ratios blur: read them
beside the load average (``uptime``). A cold torch.compile of
EfficientNet-Lite0's training step took minutes on 2 cores (the on-disk
inductor cache shortens later runs' compilation).
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from policysearch import Policy
from policysearch.data import Split, load_source
from policysearch.models import build_model
from policysearch.training import TrainConfig, set_train_mode, start_session
from policysearch.training.devices import agreement, choose, native_precisions, recipe

TRAIN_BATCH, EVAL_BATCH = 64, 256
CPU = torch.device("cpu")


@dataclass(frozen=True)
class Case:
    """One model at one size, and how much work a round gives each configuration."""

    model: str
    size: int
    train_batches: int
    eval_batches: int
    rounds: int
    real_images: bool = True
    compile: bool = False

    @property
    def key(self) -> str:
        """The case's name on the command line: ``lite0-32``, ``lite0-224``, ``tiny-cnn-32``."""
        return f"{self.model.removeprefix('efficientnet-')}-{self.size}"


@dataclass(frozen=True)
class Setup:
    """One configuration of plain PyTorch: memory format, autocast per purpose, compilation."""

    name: str
    channels_last: bool = False
    dtype: torch.dtype | None = None  # autocast for both purposes
    compiled: bool = False


SETUPS = (Setup("plain fp32 (NCHW)"), Setup("channels-last", True),
          Setup("channels-last + bf16 autocast", True, torch.bfloat16),
          Setup("channels-last + fp16 autocast", True, torch.float16))
COMPILED = Setup("torch.compile (channels-last), steady", True, compiled=True)


def cases(quick: bool) -> list[Case]:
    if quick:
        return [Case("efficientnet-lite0", 32, 3, 1, 3), Case("efficientnet-lite0", 224, 1, 1, 1, real_images=False),
                Case("tiny-cnn", 32, 4, 2, 3)]
    return [Case("efficientnet-lite0", 32, 8, 4, 5, compile=True),
            Case("efficientnet-lite0", 224, 1, 1, 3, real_images=False), Case("tiny-cnn", 32, 16, 8, 5)]


class Normalised(torch.nn.Module):
    """The model's own input normalisation, then backbone and head, in a chosen memory format.

    ``TransferModel.forward`` makes its input channels-last; plain NCHW needs
    this bypass to be measured at all.
    """

    def __init__(self, model: torch.nn.Module, memory_format: torch.memory_format) -> None:
        super().__init__()
        self.model, self.memory_format = model, memory_format

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = ((x - self.model.mean) / self.model.std).contiguous(memory_format=self.memory_format)
        return self.model.head(self.model.backbone(x))


def float_images(images: np.ndarray, memory_format: torch.memory_format) -> torch.Tensor:
    """uint8 NHWC -> float NCHW in [0, 1], three channels, in ``memory_format``."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255.0)
    return x.expand(-1, 3, -1, -1).contiguous(memory_format=memory_format)


class Runner:
    """One configuration of plain PyTorch: its model, optimiser and pre-made batches."""

    def __init__(self, setup: Setup, case: Case, data: dict[str, np.ndarray], seed: int = 0) -> None:
        fmt = torch.channels_last if setup.channels_last else torch.contiguous_format
        self.setup = setup
        self.model = build_model(case.model, 10, image_size=case.size, seed=seed).to(memory_format=fmt)
        forward = Normalised(self.model, fmt)
        self.forward = torch.compile(forward) if setup.compiled else forward
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-4)
        self.train_batches = [(float_images(data["train"][i : i + TRAIN_BATCH], fmt),
                               torch.from_numpy(data["train_labels"][i : i + TRAIN_BATCH]).long())
                              for i in range(0, len(data["train"]), TRAIN_BATCH)]
        self.eval_batches = [float_images(data["eval"][i : i + EVAL_BATCH], fmt)
                             for i in range(0, len(data["eval"]), EVAL_BATCH)]

    def warm_up(self) -> None:
        self.train(self.train_batches[:1])
        self.evaluate(self.eval_batches[:1])

    def autocast(self):
        dtype = self.setup.dtype
        return torch.autocast("cpu", dtype=dtype) if dtype else torch.autocast("cpu", enabled=False)

    def train(self, batches: list | None = None) -> float:
        """Seconds for one pass of optimiser steps over ``batches`` (the runner's own by default)."""
        set_train_mode(self.model, "finetune")
        start = time.perf_counter()
        for x, y in batches or self.train_batches:
            with self.autocast():
                logits = self.forward(x)
            loss = F.cross_entropy(logits.float(), y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            loss.item()  # the loop reads every loss (divergence check); so does this
        return time.perf_counter() - start

    @torch.inference_mode()
    def evaluate(self, batches: list | None = None) -> float:
        """Seconds for one evaluation pass, predictions read back."""
        self.model.eval()
        start = time.perf_counter()
        for x in batches or self.eval_batches:
            with self.autocast():
                self.forward(x).argmax(1).sum().item()
        return time.perf_counter() - start


class LoopRunner:
    """The project's own loop on the same uint8 images, augmentation off."""

    def __init__(self, case: Case, data: dict[str, np.ndarray], rounds: int) -> None:
        self.setup = Setup("project loop (rule's choice)")
        factory = lambda: build_model(case.model, 10, image_size=case.size, seed=0)  # noqa: E731
        config = TrainConfig(epochs=rounds + 1, batch_size=TRAIN_BATCH, eval_batch_size=EVAL_BATCH, device="cpu",
                             augment_on="host")
        self.session = start_session(factory, Policy(num_ops=0, magnitude=0), data["train"], data["train_labels"],
                                     config)
        self.split = Split(data["eval"], data["eval_labels"])

    def warm_up(self) -> None:
        self.evaluate()  # the other configurations' warm-up made the kernels; this makes the loop's buffers

    def train(self) -> float:
        start = time.perf_counter()
        self.session.train_epoch()
        return time.perf_counter() - start

    def evaluate(self) -> float:
        start = time.perf_counter()
        self.session.evaluate(self.split)
        return time.perf_counter() - start


def case_data(case: Case, fashion32) -> dict[str, np.ndarray]:
    """The case's training and evaluation images and labels (real at 32 px, random uint8 at 224)."""
    n_train, n_eval = case.train_batches * TRAIN_BATCH, case.eval_batches * EVAL_BATCH
    if case.real_images:
        train, test = fashion32.train, fashion32.test
        return {"train": train.images[:n_train], "train_labels": train.labels[:n_train].astype(np.int64),
                "eval": test.images[:n_eval], "eval_labels": test.labels[:n_eval].astype(np.int64)}
    rng = np.random.default_rng(0)
    shape = (case.size, case.size, 1)
    return {"train": rng.integers(0, 256, (n_train, *shape), dtype=np.uint8),
            "train_labels": rng.integers(0, 10, n_train),
            "eval": rng.integers(0, 256, (n_eval, *shape), dtype=np.uint8),
            "eval_labels": rng.integers(0, 10, n_eval)}


def measure(case: Case, runners: list, data: dict[str, np.ndarray]) -> dict[str, tuple[float, float]]:
    """Median train and eval images/s per configuration, over rounds in rotating order."""
    for runner in runners:  # warm-up, one batch each: allocator, kernels, compilation
        runner.warm_up()
    seconds: dict[str, list[tuple[float, float]]] = {r.setup.name: [] for r in runners}
    for round_ in range(case.rounds):
        turn = round_ % len(runners)
        for runner in runners[turn:] + runners[:turn]:
            seconds[runner.setup.name].append((runner.train(), runner.evaluate()))
    n_train, n_eval = len(data["train"]), len(data["eval"])
    return {name: (n_train / statistics.median(t for t, _ in runs), n_eval / statistics.median(e for _, e in runs))
            for name, runs in seconds.items()}


def compile_trial(fashion32) -> list[tuple[float, float]]:
    """(training, validation) seconds of a proxy trial's work (1,000 x 4 epochs, 200 validation images each
    epoch), compiled, then not.

    The compiled side counts its compilation (training graph, the last short
    batch, the evaluation graph), as a trial would pay it.
    """
    data = {"train": fashion32.train.images[:1000], "train_labels": fashion32.train.labels[:1000].astype(np.int64),
            "eval": fashion32.test.images[:200]}
    case = Case("efficientnet-lite0", 32, 0, 0, 1)
    out = []
    for compiled in (True, False):
        runner = Runner(Setup("trial", True, compiled=compiled), case, data)
        epochs = [(runner.train(), runner.evaluate()) for _ in range(4)]
        out.append((sum(t for t, _ in epochs), sum(e for _, e in epochs)))
    return out


def agreements(runner: Runner, images: np.ndarray) -> dict[str, float]:
    """bf16's and fp16's agreement with fp32 predictions of a briefly trained model, on ``images``."""
    return {name: agreement(runner.model, images, CPU, dtype=dtype)
            for name, dtype in (("bfloat16", torch.bfloat16), ("float16", torch.float16))}


def row(case: Case, name: str, rates: tuple[float, float], base: tuple[float, float]) -> str:
    label = f"{case.model} {case.size}px"
    return (f"{label:<22} {name:<40} {rates[0]:>9.1f} {rates[1]:>9.1f} "
            f"{rates[0] / base[0]:>7.2f} {rates[1] / base[1]:>7.2f}")


def run_case(case: Case, fashion32, compile_: bool) -> tuple[list[str], dict]:
    """The case's table rows; for EfficientNet-Lite0 at 32 px also the agreements and the compiled trial."""
    data = case_data(case, fashion32)
    extra: dict = {}
    compiling = case.compile and compile_
    if compiling:  # first, before anything compiles: a trial pays its compilation cold
        extra["trial"] = compile_trial(fashion32)
    runners: list = [Runner(setup, case, data) for setup in SETUPS]
    if compiling:
        runners.append(Runner(COMPILED, case, data))
    runners.append(LoopRunner(case, data, case.rounds + 1))
    rates = measure(case, runners, data)
    base = extra["plain"] = rates[SETUPS[0].name]
    lines = [row(case, name, r, base) for name, r in rates.items()]
    if "trial" in extra:
        (train_c, eval_c), (train_e, eval_e) = extra["trial"]
        lines.append(row(case, "torch.compile, a trial, compile counted", (4000 / train_c, 800 / eval_c),
                         (4000 / train_e, 800 / eval_e)) + "  (x: vs the same trial uncompiled)")
    if case.model == "efficientnet-lite0" and case.size == 32:
        extra["agreement"] = agreements(runners[0], fashion32.test.images[:2000])
    return lines, extra


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer batches and rounds, no compile")
    parser.add_argument("--case", action="append", choices=[c.key for c in cases(False)],
                        help="run only this case (repeatable; default: all)")
    parser.add_argument("--no-compile", action="store_true", help="leave torch.compile out (its compilation is "
                        "most of a full run's time on a small CPU)")
    args = parser.parse_args()
    started = time.perf_counter()
    fashion32 = load_source("fashion-mnist", image_size=32)
    first, header = None, False
    for case in [c for c in cases(args.quick) if not args.case or c.key in args.case]:
        lines, extra = run_case(case, fashion32, not (args.quick or args.no_compile))
        if case.key == "lite0-32":
            first = extra
            print(f"plain training rate: {extra['plain'][0]:.0f} images/s (EfficientNet-Lite0, 32 px, fp32 NCHW, "
                  f"batch 64, {torch.get_num_threads()} threads)")
        if not header:
            header = True
            print(f"{'case':<22} {'config':<40} {'train/s':>9} {'eval/s':>9} {'train x':>7} {'eval x':>7}")
        print(f"  ({case.rounds} rounds of {case.train_batches} x {TRAIN_BATCH} train, "
              f"{case.eval_batches} x {EVAL_BATCH} eval images; medians)")
        print("\n".join(lines), flush=True)
    shares = first.get("agreement") if first else None
    if shares:
        print("agreement with fp32 predictions on 2,000 Fashion-MNIST test images (the plain model, briefly "
              "trained): " + ", ".join(f"{k} {v:.4f}" for k, v in shares.items()))
    if first and "trial" in first:
        compiled, eager = (sum(part) for part in first["trial"])
        print(f"a proxy trial's work (1,000 x 4 + 4 x 200 val): compiled {compiled:.1f} s with compilation, "
              f"eager {eager:.1f} s")
    native = native_precisions(CPU)
    print(f"native reduced precisions here: {sorted(native) or 'none'}; rule: {recipe(CPU)}"
          + (f"; with these agreements: {choose('cpu', native=native, agreement=shares)}" if shares else ""))
    print(f"bench time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
