"""What the contract suite runs: every family of the registry on its tiny model, by its example,
and the widgets made of others (a retriever, the speculative benchmark) and the other modes of a
family (image editing, word timestamps), each with a call of its own."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ovnb
from ovnb import families
from ovnb.families import DATA, Family, resolve
from tests.conftest import F32

HOUSE = str(DATA / "images" / "house.png")


@dataclass(frozen=True)
class Subject:
    """A widget to put through the lifecycle: how to make it and one quick call of it."""

    name: str
    make: Callable[[Path], Any]  # cache -> the widget
    call: Callable[[Any], Any]  # widget -> what its call gave

    def __repr__(self) -> str:
        return self.name


def of_family(family: Family) -> Subject:
    """A family's first widget on its tiny model, called as its registry example says."""
    front, example = resolve(family.fronts[0]), family.example

    def make(cache: Path) -> Any:
        return front(ovnb.prepare(family.tiny, cache_dir=cache), properties=F32,
                     **example.make)

    def call(widget: Any) -> Any:
        return getattr(widget, example.method)(*example.args, **example.kwargs)

    return Subject(family.task, make, call)


def _prepared(model: str, cache: Path) -> Path:
    return ovnb.prepare(model, cache_dir=cache)


def _mask() -> Any:
    import numpy as np

    from ovnb.images import load_image

    height, width = load_image(HOUSE).size[::-1]
    mask = np.zeros((height, width), np.uint8)
    mask[height // 4: height // 2, width // 4: width // 2] = 255
    return mask


OTHERS = (
    Subject("image-to-image",
            lambda cache: ovnb.ImageGenerator(_prepared("tiny-sd", cache), properties=F32,
                                              width=64, height=64, num_inference_steps=4),
            lambda w: w.generate("a red boat", image=HOUSE, strength=0.5)),
    Subject("inpainting",
            lambda cache: ovnb.ImageGenerator(_prepared("tiny-sd", cache), properties=F32,
                                              width=64, height=64, num_inference_steps=3),
            lambda w: w.generate("a red boat", image=HOUSE, mask=_mask())),
    Subject("word-timestamps",
            lambda cache: ovnb.Transcriber(_prepared("tiny-whisper", cache), properties=F32,
                                           word_timestamps=True),
            lambda w: w.transcribe(families.SPEECH.example.args[0])),
    Subject("retriever",
            lambda cache: ovnb.Retriever(ovnb.Embedder(_prepared("tiny-embed", cache),
                                                       properties=F32)),
            lambda w: w.add(["a red boat on a lake", "a blue sky", "a green field"])),
    Subject("picture-retriever",
            lambda cache: ovnb.Retriever(ovnb.Embedder(_prepared("tiny-qwen3-vl-embed", cache),
                                                       properties=F32)),
            lambda w: w.add(DATA / "images")),  # two drawn scenes and their README
    Subject("speculative-bench",
            lambda cache: ovnb.SpeculativeBench(_prepared("tiny-llm", cache),
                                                _prepared("tiny-llm-draft", cache),
                                                properties=F32, max_new_tokens=8, repeats=1),
            lambda w: w.run("Hello!")),
)

SUBJECTS = (*(of_family(f) for f in families.FAMILIES), *OTHERS)
