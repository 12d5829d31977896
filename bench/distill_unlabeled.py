"""Does distillation help a small student, and do pseudo-labelled images help more?

Real Fashion-MNIST: per seed, 1,000 labelled training images (and 500 more
for the validation curves only), 20,000 further training images treated as
unlabelled, the 10,000 test images held out and used once per run. The
reference is row (a), the student trained on the labelled images alone;
each other row is compared with it:

  teacher  EfficientNet-Lite0 (ImageNet weights) fine-tuned on the 1,000
           labelled images at 64x64 (the resolution its features need)
  (a)      tiny-cnn student (random init, ~39k parameters, 32x32) alone
  (b)      (a) distilled from the teacher, T=4, alpha=0.9 (the defaults)
  (b2)     (b) with T=2, alpha=0.5
  (c)      (b) plus pseudo-labelled unlabelled images: hard labels of
           confidence >= 0.3, balanced to the 1,000 most confident per
           class (Noisy Student's recipe; the policy's augmentation is the noise)
  (d)      (c) without the distillation term (alpha=0): pseudo labels alone
  (a3, b3) (a) and (b) with three times the epochs: is distillation worse,
           or only slower to learn?

The teacher sees each original image once (``teacher_view="clean"``, its
probabilities cached) and enlarged to its 64x64. Every student gets about
the same number of optimizer steps: 80 epochs of 16 batches, or 6 epochs of
~170 batches with the pseudo labels. Every run goes through
:func:`policysearch.runs.train_run`, the code behind ``policysearch train``
/ ``distill``, side by side in this one process. About 20 minutes on 2 CPU
cores with the defaults.

    python bench/distill_unlabeled.py [--seeds 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from policysearch import Policy
from policysearch.policy import Transfer
from policysearch.runs import RunSpec, train_run

DATASET, IMAGE_SIZE, TEACHER_SIZE = "fashion-mnist", 32, 64
# The teacher fine-tunes a pretrained backbone: a small backbone LR. The
# student starts from random weights: one LR for all of it.
TEACHER_POLICY = Policy(num_ops=2, magnitude=9, transfer=Transfer("finetune", head_lr=1e-3, backbone_lr=1e-4))
STUDENT_POLICY = Policy(num_ops=2, magnitude=9, transfer=Transfer("finetune", head_lr=3e-3, backbone_lr=3e-3))


def run_seed(seed: int, args: argparse.Namespace, root: Path, log) -> dict[str, dict]:
    """The teacher and every row for one seed (one labelled split, one initialisation)."""
    common = dict(dataset=DATASET, train_size=args.labeled, val_size=500, seed=seed, device=args.device)
    teacher = train_run(RunSpec(TEACHER_POLICY, output=str(root / f"teacher-{seed}"), model="efficientnet-lite0",
                                image_size=TEACHER_SIZE, epochs=args.teacher_epochs, **common), log)
    student = RunSpec(STUDENT_POLICY, output=str(root / "unused"), model="tiny-cnn", weights=None,
                      image_size=IMAGE_SIZE, epochs=args.epochs, **common)
    taught = replace(student, teachers=(str(teacher.run_dir),), teacher_view="clean")
    unlabeled = dict(unlabeled=DATASET, unlabeled_size=args.unlabeled, threshold=args.threshold,
                     per_class=args.per_class, epochs=args.pseudo_epochs)
    specs = {
        "a": student,
        "b": taught,
        "b2": replace(taught, temperature=2.0, alpha=0.5),
        "c": replace(taught, **unlabeled),
        "d": replace(taught, alpha=0.0, **unlabeled),
        "a3": replace(student, epochs=3 * args.epochs),
        "b3": replace(taught, epochs=3 * args.epochs),
    }
    rows = {"teacher": {"test": teacher.test_accuracy, "seconds": sum(teacher.metrics["seconds"])}}
    for name, spec in specs.items():
        start = time.perf_counter()
        result = train_run(replace(spec, output=str(root / f"{name}-{seed}")), log)
        pseudo = result.metrics.get("pseudo_labels") or {}
        rows[name] = {"test": result.test_accuracy, "seconds": time.perf_counter() - start,
                      "kept": pseudo.get("kept"), "agreement": pseudo.get("agreement_with_truth")}
        print(f"seed {seed} ({name}): test accuracy {result.test_accuracy:.4f}", file=sys.stderr, flush=True)
    return rows


LABELS = {
    "teacher": "teacher: EfficientNet-Lite0, 64x64, fine-tuned on the labelled images",
    "a": "(a) student alone, labelled images",
    "b": "(b) student distilled from the teacher (T=4, alpha=0.9)",
    "b2": "(b2) distilled with T=2, alpha=0.5",
    "c": "(c) (b) + balanced pseudo-labelled unlabelled images",
    "d": "(d) pseudo labels without the distillation term",
    "a3": "(a3) (a) with 3x the epochs",
    "b3": "(b3) (b) with 3x the epochs",
}


def table(results: list[dict[str, dict]]) -> str:
    reference = statistics.mean(r["a"]["test"] for r in results)
    lines = ["| run | test accuracy (mean ± sd) | vs (a) | pseudo labels kept | agree with truth | seconds |",
             "|---|---|---|---|---|---|"]
    for key, label in LABELS.items():
        tests = [r[key]["test"] for r in results]
        mean, spread = statistics.mean(tests), statistics.stdev(tests) if len(tests) > 1 else 0.0
        kept = [r[key].get("kept") for r in results if r[key].get("kept") is not None]
        agree = [r[key].get("agreement") for r in results if r[key].get("agreement") is not None]
        lines.append(
            f"| {label} | {mean:.4f} ± {spread:.4f} | {mean - reference:+.4f} | "
            f"{f'{statistics.mean(kept):.0f}' if kept else '-'} | "
            f"{f'{statistics.mean(agree):.1%}' if agree else '-'} | "
            f"{statistics.mean(r[key]['seconds'] for r in results):.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--labeled", type=int, default=1000)
    parser.add_argument("--unlabeled", type=int, default=20000)
    parser.add_argument("--threshold", type=float, default=0.3)
    parser.add_argument("--per-class", type=int, default=1000)
    parser.add_argument("--teacher-epochs", type=int, default=8)
    # About the same number of optimizer steps for every student: 80 epochs
    # of 16 batches, or 6 epochs of ~170 batches with the pseudo labels.
    parser.add_argument("--epochs", type=int, default=80, help="student epochs on the labelled images")
    parser.add_argument("--pseudo-epochs", type=int, default=6, help="student epochs with pseudo labels")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", metavar="FILE", help="also write the per-seed figures here")
    parser.add_argument("--quiet", action="store_true", help="hide the per-epoch progress")
    args = parser.parse_args()
    log = open("/dev/null", "w") if args.quiet else sys.stderr  # noqa: SIM115 - lives as long as the run
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="distill-bench-") as tmp:
        results = [run_seed(seed, args, Path(tmp), log) for seed in range(args.seeds)]
    print(f"Fashion-MNIST: {args.labeled} labelled, {args.unlabeled} unlabelled (hard pseudo labels >= "
          f"{args.threshold}, {args.per_class} per class), 10,000 test images; {args.seeds} seeds; teacher "
          f"{TEACHER_SIZE}px {args.teacher_epochs} epochs; student {IMAGE_SIZE}px, {args.epochs} epochs "
          f"(labelled only) / {args.pseudo_epochs} (with pseudo labels)")
    print(table(results))
    print(f"total {time.perf_counter() - start:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
