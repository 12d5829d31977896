"""``policysearch preview``: a PNG grid of real images under random draws of a policy.

Example:
    >>> from policysearch.cli import main
    >>> import tempfile
    >>> main(["preview", "--dataset", "digits", "--images", "2", "--draws", "2", "-o", f"{tempfile.mkdtemp()}/g.png"])
    ... # doctest: +ELLIPSIS
    wrote .../g.png (...): 2 digits images, original then 2 draws of RandAugment N=2 M=9
    0
"""

from __future__ import annotations

import argparse

__all__ = ["preview_arguments", "run_preview"]


def preview_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policy", metavar="FILE", help="a policy JSON file to preview")
    parser.add_argument("--num-ops", type=int, metavar="N", help="RandAugment N (default 2)")
    parser.add_argument("--magnitude", type=int, metavar="M", help="magnitude bin 0..30 (default 9)")
    parser.add_argument(
        "--dataset", default="fashion-mnist", help="dataset source (default fashion-mnist)"
    )
    parser.add_argument("--images", type=int, default=8, metavar="K", help="rows: images shown (default 8)")
    parser.add_argument("--draws", type=int, default=6, metavar="R", help="augmented draws per image (default 6)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("-o", "--output", default="preview.png", metavar="PNG", help="where to write the grid")


def run_preview(args: argparse.Namespace) -> int:
    from policysearch._checks import check_int
    from policysearch.augment import preview_grid, save_png
    from policysearch.data import load_source
    from policysearch.errors import ConfigError
    from policysearch.policy import Policy, load_policy

    if args.policy and (args.num_ops is not None or args.magnitude is not None):
        raise ConfigError("give either --policy FILE or --num-ops/--magnitude, not both")
    if args.policy:
        policy = load_policy(args.policy)
    else:
        num_ops = 2 if args.num_ops is None else args.num_ops
        policy = Policy(num_ops=num_ops, magnitude=9 if args.magnitude is None else args.magnitude)
    count = check_int("--images", args.images, low=1, high=64, error=ConfigError)
    check_int("--draws", args.draws, low=1, high=32, error=ConfigError)
    source = load_source(args.dataset)
    images = _one_per_class(source.train.images, source.train.labels, count)
    grid = preview_grid(images, policy.transform(rng=args.seed), draws=args.draws)
    path = save_png(args.output, grid)
    print(
        f"wrote {path} ({grid.shape[1]}x{grid.shape[0]}): {len(images)} {args.dataset} images, "
        f"original then {args.draws} draws of RandAugment N={policy.num_ops} M={policy.magnitude}"
    )
    return 0


def _one_per_class(images, labels, count: int) -> list:
    """``count`` images cycling through the classes, so the grid shows variety."""
    import numpy as np

    order: list[int] = []
    by_class = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    for i in range(count):
        members = by_class[i % len(by_class)]
        if i // len(by_class) < len(members):
            order.append(int(members[i // len(by_class)]))
    return [images[i] for i in order]
