"""Repairs applied to an exported folder so that its openvino_genai pipeline loads it right.

Each fix is for a known gap between what an exporter writes and what a pipeline reads.
"""
from __future__ import annotations

from pathlib import Path


def apply(task: str, src: Path, out: Path) -> None:
    """Apply every fix that concerns ``task`` to the exported folder ``out``."""
