"""LoRA adapters in a session: registered once at build, strengths per run (the ``adapters`` trait).

A strength change costs one changed argument of the next generate, never a rebuild (ovnb.lora).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import traitlets

from ovnb import lora


class WithAdapters(traitlets.HasTraits):
    """Mixin of sessions whose pipeline takes LoRA adapters (chat, vision chat, images)."""

    adapters = traitlets.Dict(help="LoRA adapter file -> strength for the next runs (0: off)")

    def _init_adapters(self, given: Any) -> None:
        self.adapter_set = lora.AdapterSet(given)
        self.adapters = {str(p): a for p, a in self.adapter_set.initial.items()}

    @traitlets.validate("adapters")
    def _known_adapters(self, proposal: Any) -> dict[str, float]:
        return {str(p): a for p, a in self.adapter_set.resolve(proposal["value"]).items()}

    def _build_adapters(self, folder: Path, kind: str, made: dict[Path, Any]) -> dict[str, Any]:
        """Constructor arguments registering every adapter (after checking each fits)."""
        return lora.build_kwargs(self.adapter_set.files, kind, made)

    def strengths(self, requested: Any = None) -> dict[Path, float]:
        """This run's strengths: ``requested`` (file or name -> strength; the others off), else the
        ``adapters`` trait as it is now."""
        if requested is not None:
            return {**{p: 0.0 for p in self.adapter_set.files}, **self.adapter_set.resolve(requested)}
        return {Path(p): a for p, a in self.adapters.items()}
