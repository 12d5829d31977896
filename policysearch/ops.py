"""The op registry under its first name: ``policysearch.ops.apply_op`` is public and stays.

The registry and its kernels live in :mod:`policysearch.augment.ops`; this
module re-exports its public names.

Example:
    >>> import numpy as np
    >>> from policysearch.ops import apply_op
    >>> apply_op(np.full((2, 2), 10, np.uint8), "Invert", 0)[0, 0]
    np.uint8(245)
"""

from __future__ import annotations

from policysearch.augment.ops import (
                                      EXTRA_OPS,
                                      INTERPOLATIONS,
                                      OPS,
                                      TORCHVISION_OPS,
                                      OpSpec,
                                      apply_op,
                                      as_fill,
                                      check_image,
                                      get_op,
                                      op_value,
)

__all__ = ["TORCHVISION_OPS", "EXTRA_OPS", "OPS", "INTERPOLATIONS", "OpSpec", "get_op",
           "op_value", "apply_op", "check_image", "as_fill"]
