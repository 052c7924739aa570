"""Sparse gradients: rows of a 2-D tensor (an embedding table), checked and coalesced.

Duplicate rows are summed before anything else, as torch coalesces a sparse gradient,
because the update is non-linear: applying a row twice is not applying its sum once.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lrctl.server.backends.kernels import Array
from lrctl.server.errors import FieldViolation, InvalidArgument
from lrctl.server.optim.layout import TensorSpan


@dataclass(frozen=True)
class RowGradient:
    """The gradient of some rows of one 2-D tensor: values[i] is the gradient of row rows[i]."""

    rows: Array
    values: Array


def coalesced(span: TensorSpan, gradient: RowGradient) -> RowGradient:
    """`gradient` (host arrays) with sorted unique rows, duplicates summed; refused if it does
    not fit `span`. On the host whatever the backend: a step's rows are few next to the
    table, and this keeps to NumPy's unique and add.at."""
    field = f"grads[{span.name}]"
    rows, values = gradient.rows, gradient.values
    if len(span.shape) != 2:
        raise InvalidArgument(FieldViolation(
            field, f"sparse rows need a 2-D tensor; {span.name} has shape {span.shape}"))
    bad = []
    if rows.ndim != 1 or rows.dtype.kind not in "iu":
        bad.append(FieldViolation(f"{field}.rows", f"must be a 1-D integer array, got {rows.dtype} {rows.shape}"))
    elif rows.size and (int(rows.min()) < 0 or int(rows.max()) >= span.shape[0]):
        bad.append(FieldViolation(f"{field}.rows", f"row out of range [0, {span.shape[0]})"))
    if values.dtype != np.float32 or values.shape != (rows.shape[0], span.shape[1]):
        bad.append(FieldViolation(f"{field}.values", f"must be float32 of shape ({rows.shape[0]}, {span.shape[1]}), "
                                  f"got {values.dtype} {values.shape}"))
    if bad:
        raise InvalidArgument(bad)
    unique, inverse = np.unique(rows, return_inverse=True)
    summed = np.zeros((unique.size, span.shape[1]), dtype=np.float32)
    np.add.at(summed, inverse, values)
    return RowGradient(unique, summed)
