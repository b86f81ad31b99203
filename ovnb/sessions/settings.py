"""Generation settings as traits: openvino_genai's names, validated ranges, one message style.

A setting is a trait tagged ``setting=True`` with its range (``low``/``high``) and a ``label`` for
its control. Setting classes (``LLMSettings`` ...) are mixins shared by a session and its widget, so
both validate the same way: a wrong type or a value out of range raises a ``TraitError`` naming the
setting and its range. A range can narrow per instance once the model is known (``max_new_tokens``
is bounded by the model's context).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import traitlets
from traitlets import Bool, Float, TraitError, TraitType


def setting(trait: TraitType, label: str, low: float | None = None, high: float | None = None,
            step: float | None = None, control: bool = True) -> TraitType:
    """Tag ``trait`` as a generation setting (``control=False``: no slider, settable from code)."""
    return trait.tag(setting=True, label=label, low=low, high=high, step=step, control=control)


class Settings(traitlets.HasTraits):
    """What every settings mixin shares: names, ranges, checks, and the values to apply."""

    def __init__(self, **kwargs: Any) -> None:
        self._narrowed: dict[str, tuple[float | None, float | None]] = {}
        self._touched: set[str] = set()
        super().__init__(**kwargs)

    @classmethod
    def setting_names(cls) -> list[str]:
        """The settings of this class, sorted by name (as traitlets lists them)."""
        return [n for n in cls.class_trait_names(setting=True)]

    def limits(self, name: str) -> tuple[float | None, float | None]:
        """(low, high) of a setting now: its declared range, narrowed where the model says so."""
        metadata = self.trait_metadata(name, "low"), self.trait_metadata(name, "high")
        return getattr(self, "_narrowed", {}).get(name, metadata)

    def _narrow(self, name: str, low: float | None = None, high: float | None = None) -> None:
        """Bound a setting for this instance (e.g. ``max_new_tokens`` by the context); clamps it."""
        self._narrowed[name] = (low, high)
        value = getattr(self, name)
        if value is not None and high is not None and value > high:
            setattr(self, name, type(value)(high))
        if value is not None and low is not None and value < low:
            setattr(self, name, type(value)(low))

    def _check_setting(self, proposal: Mapping[str, Any]) -> Any:
        """The ``@validate`` body of every setting: in range, or a TraitError saying the range."""
        name, value = proposal["trait"].name, proposal["value"]
        if value is None or isinstance(value, (bool, str, list, tuple, set, frozenset)):
            return value
        low, high = self.limits(name)
        if (low is not None and value < low) or (high is not None and value > high):
            raise TraitError(f"{name} must be {_range(low, high)}, not {value!r}")
        return value

    def _apply(self, given: Mapping[str, Any], owner: str) -> None:
        """Set the settings a constructor was given; an unknown name is refused at once."""
        names = self.setting_names()
        unknown = sorted(set(given) - set(names))
        if unknown:
            raise TypeError(f"{owner} has no setting {unknown[0]!r}: its settings (openvino_genai's "
                            f"names) are {', '.join(names)}")
        for name, value in given.items():
            setattr(self, name, value)
        self._touched |= set(given)
        self.observe(lambda change: self._touched.add(change["name"]), names)

    def _adopt(self, defaults: Mapping[str, Any]) -> None:
        """The model's own defaults, for settings nobody set (unknown names are ignored)."""
        names = set(self.setting_names())
        for name, value in defaults.items():
            if name in names and name not in self._touched and value is not None:
                try:
                    setattr(self, name, value)
                except TraitError:  # a model default outside ovnb's range: keep ovnb's
                    continue
                self._touched.discard(name)  # adopted, not chosen: a later default may replace it

    def settings(self) -> dict[str, Any]:
        """Setting name -> value, without the unset (None) ones."""
        return {n: getattr(self, n) for n in self.setting_names() if getattr(self, n) is not None}


class SamplingSettings(Settings):
    """How a language model picks each token: what Chat and Batch both offer, by genai's names."""

    do_sample = setting(Bool(False, help="sample (True) or take the likeliest token (greedy)"),
                        "sample (off: greedy)")
    temperature = setting(Float(0.7, help="sampling temperature: higher is more random"),
                          "temperature", 0.05, 2.0, 0.05)
    top_p = setting(Float(0.9, help="sample from the likeliest tokens that make up this mass"),
                    "top-p", 0.05, 1.0, 0.05)
    repetition_penalty = setting(Float(1.1, help="above 1, tokens already used get less likely"),
                                 "repetition penalty", 1.0, 2.0, 0.05)
    presence_penalty = setting(Float(0.0, help="subtracted from every token used before"),
                               "presence penalty", -2.0, 2.0, control=False)
    frequency_penalty = setting(Float(0.0, help="subtracted per earlier use of a token"),
                                "frequency penalty", -2.0, 2.0, control=False)

    @traitlets.validate(*[n for n in locals() if not n.startswith("_")])  # every setting above
    def _check_sampling(self, proposal: Any) -> Any:
        return self._check_setting(proposal)


def _range(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"between {low:g} and {high:g}"
    return f"at least {low:g}" if low is not None else f"at most {high:g}"


def apply_to(config: Any, values: Mapping[str, Any]) -> Any:
    """Write settings into an openvino_genai config object (lists become what genai wants)."""
    for name, value in values.items():
        setattr(config, name, set(value) if name == "stop_strings" else value)
    return config
