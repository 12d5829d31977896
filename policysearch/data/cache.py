"""Loaded sources kept on disk: a dataset decoded and resized once, read back in a fraction of the time.

Every search process loads its dataset (the main process, each worker, the
verdict's target size). Decoding and resizing Fashion-MNIST's 70,000 images
takes about a second each time; reading the stored arrays back takes a tenth
of that. :func:`cached_source` keeps a loaded :class:`Source` under
``CACHE_DIR/sources/`` in one uncompressed ``.npz`` file, named by a digest
of its key:

* the source's name and its files, each as path, size and modification time
  (so a replaced or touched file rebuilds the entry),
* the working size (``None``: the native size),
* the resize kernel and OpenCV's version (:data:`RESIZE_KERNEL`), so a
  different kernel never serves old pixels.

The entry holds its key, and one whose stored key differs (or that cannot be
read) is rebuilt. What it serves is bit-identical to a fresh load: the same
arrays, written and read back. The cache is only an optimisation: a folder
that cannot be written is passed over silently, and the folder may be
deleted at any time. Entries are not evicted: one per dataset and size.

Example:
    >>> import tempfile, numpy as np
    >>> from policysearch.data.splits import Split
    >>> folder = Path(tempfile.mkdtemp())
    >>> raw = folder / "raw.bin"
    >>> _ = raw.write_bytes(bytes(128))
    >>> built = []
    >>> def build():
    ...     built.append(1)
    ...     split = Split(np.frombuffer(raw.read_bytes(), np.uint8).reshape(2, 8, 8, 1).copy(), np.array([0, 1]))
    ...     return Source("toy", ("a", "b"), split, split)
    >>> first = cached_source(build, cache_dir=folder, name="toy", files=[raw], image_size=8)
    >>> again = cached_source(build, cache_dir=folder, name="toy", files=[raw], image_size=8)
    >>> len(built), again.classes, again.train.images.shape, [p.name[:8] for p in (folder / "sources").iterdir()]
    (1, ('a', 'b'), (2, 8, 8, 1), ['toy-8px-'])
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from policysearch._io import atomic_path
from policysearch.data.images import RESIZE_KERNEL
from policysearch.data.splits import Source, Split

__all__ = ["cached_source", "file_identity", "cache_entry", "CACHE_FORMAT"]

CACHE_FORMAT = 1  # bump when the entry's layout changes: older entries are then rebuilt
_SPLITS = ("train", "test", "val")


def file_identity(files: Iterable[Path]) -> list[list[Any]]:
    """``[path, size, mtime_ns]`` of each file, sorted by path: what a cached entry is keyed by.

    Example:
        >>> file_identity([])
        []
    """
    found = []
    for path in sorted(Path(f) for f in files):
        stat = path.stat()
        found.append([str(path.resolve()), stat.st_size, stat.st_mtime_ns])
    return found


def cache_entry(cache_dir: Path, key: dict[str, Any]) -> Path:
    """Where the entry for ``key`` lives: ``CACHE_DIR/sources/NAME-SIZE-DIGEST.npz``.

    Example:
        >>> cache_entry(Path("/c"), {"name": "hf:x/y", "image_size": 32}).name[:12]
        'hf_x_y-32px-'
    """
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    readable = "".join(c if c.isalnum() or c in "-." else "_" for c in str(key["name"]))[:40]
    size = "native" if key.get("image_size") is None else f"{key['image_size']}px"
    return cache_dir / "sources" / f"{readable}-{size}-{digest}.npz"


def cached_source(build: Callable[[], Source], *, cache_dir: Path, name: str, files: Iterable[Path],
                  image_size: int | None) -> Source:
    """The source ``build()`` makes, read from the cache when an entry with the same key is there.

    ``files`` are the files ``build`` reads (their paths, sizes and times are
    part of the key). Without files to key by (say, a download still to
    come), nothing is cached: ``build()`` runs and its source is returned.
    """
    identity = file_identity(files)
    if not identity:
        return build()
    key = {"format": CACHE_FORMAT, "name": name, "files": identity, "image_size": image_size,
           "resize": RESIZE_KERNEL}
    path = cache_entry(cache_dir, key)
    source = _read(path, key)
    if source is None:
        source = build()
        _write(path, key, source)
    return source


def _read(path: Path, key: dict[str, Any]) -> Source | None:
    """The stored source, or None when there is none, it cannot be read, or its key differs."""
    try:
        with np.load(path, allow_pickle=False) as entry:
            meta = json.loads(str(entry["meta"]))
            if meta["key"] != json.loads(json.dumps(key)):
                return None
            splits = {part: Split(entry[f"{part}_images"], entry[f"{part}_labels"], entry[f"{part}_indices"])
                      for part in _SPLITS if f"{part}_images" in entry}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    return Source(meta["name"], tuple(meta["classes"]), splits["train"], splits["test"], meta["skipped"],
                  val=splits.get("val"))


def _write(path: Path, key: dict[str, Any], source: Source) -> None:
    """Store ``source`` atomically (several processes may write the same entry at once: the last one stays)."""
    arrays: dict[str, np.ndarray] = {}
    for part in _SPLITS:
        split = getattr(source, part)
        if split is not None:
            arrays.update({f"{part}_images": split.images, f"{part}_labels": split.labels,
                           f"{part}_indices": split.indices})
    meta = {"key": key, "name": source.name, "classes": list(source.classes), "skipped": source.skipped}
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, meta=np.array(json.dumps(meta)), **arrays)
    except OSError:
        pass  # a read-only or full disk: the cache is an optimisation, the source is already in memory
