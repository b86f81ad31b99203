"""Embeddings as the tests compare them: a bare pipeline's rows as one array."""
from __future__ import annotations

from typing import Any

import numpy as np


def rows(pipe: Any, text: Any = "", **inputs: Any) -> np.ndarray:
    """The bare pipeline's embeddings of one call, as a (rows, size) float32 array."""
    result = pipe.embed(text, **inputs).embeddings
    return np.array(result.data, dtype=np.float32).reshape(tuple(result.shape))
