"""LoRA adapters in a session: registered once at build, strengths per run (the ``adapters`` trait).

A strength change costs one changed argument of the next generate, never a rebuild (ovnb.lora).
Which families take adapters, and how their layers are named, is the registry's (``Family.lora``).
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import traitlets

from ovnb import lora
from ovnb.families import Family


class WithAdapters(traitlets.HasTraits):
    """Mixin of sessions whose pipeline takes LoRA adapters (chat, vision chat, images)."""

    adapters = traitlets.Dict(help="LoRA adapter file -> strength for the next runs (0: off)")

    def _init_adapters(self, given: Any) -> None:
        self.adapter_set = lora.AdapterSet(given)
        self.adapters = {str(p): a for p, a in self.adapter_set.initial.items()}

    @traitlets.validate("adapters")
    def _known_adapters(self, proposal: Any) -> dict[str, float]:
        return {str(p): a for p, a in self.adapter_set.resolve(proposal["value"]).items()}

    def _build_adapters(self, folder: Path, family: Family, made: dict[Path, Any]
                        ) -> dict[str, Any]:
        """Constructor arguments registering every adapter (after checking each fits)."""
        return lora.build_kwargs(self.adapter_set.files, family, made)

    def strengths(self, requested: Any = None) -> dict[Path, float]:
        """This run's strengths: ``requested`` (file or name -> strength; the others off), else the
        ``adapters`` trait as it is now."""
        if requested is None:
            return {Path(p): a for p, a in self.adapters.items()}
        if not isinstance(requested, Mapping):
            raise TypeError(f"adapters must be a dict of adapter file or name -> strength, not "
                            f"{type(requested).__name__}")
        return {**{p: 0.0 for p in self.adapter_set.files}, **self.adapter_set.resolve(requested)}
