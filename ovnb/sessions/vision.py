"""Vision chat: a conversation about images with a VLMPipeline.

The conversation lives in one ``openvino_genai.ChatHistory`` per session, kept across turns: the
pipeline attaches each turn's images to that object, so a later question still sees the picture
of an earlier turn. An image is therefore sent once, with the question that introduced it (a
rebuilt history would silently lose it). A failed turn is taken back out of the history.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import traitlets

from ovnb import devices, lora
from ovnb.images import Picture, Source, load_image
from ovnb.runtime import Loaded, TokenStream, construct, explain, load
from ovnb.sessions.adapters import WithAdapters
from ovnb.sessions.base import check_text
from ovnb.sessions.chat import ConversationSession, Message, _name
from ovnb.sessions.folders import model_folder


class VisionSession(ConversationSession, WithAdapters):
    """Chat about images: ``VisionSession("tiny-vlm").send("What is this?", image="cat.jpg")``.

    ``model`` is a catalog id or a prepared folder; ``adapters`` LoRA files for the language model;
    ``system_prompt`` opens each conversation (it applies from the next one, after ``clear``);
    ``properties`` OpenVINO properties; ``**settings`` generation settings (openvino_genai's names).
    """

    picture = traitlets.Any(None, allow_none=True,
                            help="the image the next question carries (an ovnb.images.Picture)")

    def __init__(self, model: str | os.PathLike[str], device: Any = "CPU", adapters: Any = None,
                 system_prompt: str = "", properties: dict[str, Any] | None = None,
                 **settings: Any) -> None:
        super().__init__()
        self.apply(settings, type(self).__name__)
        self.system_prompt = check_text(system_prompt, "system_prompt")
        # a name or a DevicePicker; the device's own settings come first, the caller's on top
        self.device, self.properties = devices.resolve(device, "vision-chat", properties)
        self._init_adapters(adapters)
        self._history: Any = None  # the ChatHistory (its images live in it)
        self._load_in_background(lambda: self._load(model), _name(model))

    def _load(self, model: Any) -> Loaded:
        from ovnb.runtime import check_device

        check_device(self.device)  # before any export: an absent device costs nothing
        folder = model_folder(model, "vision-chat",
                              devices.precision_for(self.device, "vision-chat"))
        self.adapter_set.check(folder, "vision-chat")
        made: dict[Path, Any] = {}

        def build() -> Any:
            # all adapters now, and no prefix caching (it would reuse state of other adapters)
            kwargs = self._build_adapters(folder, "vision-chat", made)
            return construct("vision-chat", folder, self.device, self.properties, **kwargs)

        loaded = load("vision-chat", folder, self.device, self.properties, build,
                      self.adapter_set.key() or None)
        lora.attach(loaded, made)
        return loaded

    # images --------------------------------------------------------------------------------------
    def choose(self, source: Source, name: str | None = None) -> Picture | None:
        """Make ``source`` the image of the next question; None (error shown) if unreadable."""
        try:
            picture = load_image(source, name)
        except Exception as exc:  # a bad file is the learner's to fix, never the kernel's problem
            self.fail(explain(exc))
            return None
        self.publish_now(picture=picture, last_error="", error_details="")
        return picture

    def remove_image(self) -> None:
        """Ask the next question without an image (images already sent stay in the history)."""
        self.publish_now(picture=None)

    def send(self, text: str, image: Source | None = None, **request: Any) -> str:  # type: ignore[override]
        """Ask ``text`` about ``image`` (else the chosen one); the answer, '' on error."""
        check_text(text, "the message")
        if image is not None and self.choose(image) is None:
            return ""
        return super().send(text, **request)

    def undo(self) -> None:
        """Not offered: the pipeline keeps each turn's images in its history; use ``clear``."""
        self.fail("undo is not offered in vision chat (the model keeps each turn's images): "
                  "press Clear to start again")

    # one turn ------------------------------------------------------------------------------------
    def _check_request(self, request: dict[str, Any]) -> None:
        unknown = set(request) - {"adapters"}
        if unknown:
            raise TypeError(f"send() got an unexpected argument {sorted(unknown)[0]!r}")
        if "adapters" in request:
            request["adapters"] = self.strengths(request["adapters"])
        request["picture"] = self.picture  # the image at the moment of asking

    def _question_notes(self, request: dict[str, Any]) -> dict[str, Any]:
        picture = request.get("picture")
        return {"image": picture.name} if picture is not None else {}

    def _forget(self, count: int) -> None:
        if count >= len(self.messages):
            self._history = None

    def _conversation(self) -> Any:
        """This conversation's ChatHistory; a new one opens with the current system prompt."""
        import openvino_genai as ov_genai

        if self._history is None or not self.messages:
            self._history = ov_genai.ChatHistory()
            for message in self._opening():
                self._history.append(message)
        return self._history

    def _generate(self, loaded: Loaded, history: list[Message], stream: TokenStream,
                  request: dict[str, Any]) -> tuple[Any, tuple[int, str | None]]:
        """One turn; on failure the question is taken back, so the history stays as it was."""
        picture: Picture | None = request.get("picture")
        conversation = self._conversation()
        kept = len(conversation.get_messages())
        conversation.append({"role": "user", "content": history[-1]["content"]})
        images = [picture.tensor()] if picture is not None else []
        try:
            budget = self._budget(loaded, conversation)
            result = loaded.pipe.generate(
                conversation, images=images, streamer=stream.streamer(),
                generation_config=self._config(loaded, budget[0]),
                **lora.call_kwargs(loaded, request.get("adapters") or self.strengths()))
        except BaseException:
            while len(conversation.get_messages()) > kept:
                conversation.pop()
            raise
        conversation.append({"role": "assistant", "content": result.texts[0]})
        if picture is not None and self.picture is picture:
            self.publish(picture=None)  # sent: the history keeps it for later questions
        return result, budget

    def _metrics(self, result: Any, request: dict[str, Any]) -> dict[str, Any]:
        """A tiny vision encoder can report 0 ms: ``image_ms`` is set whenever an image went out."""
        sent = request.get("picture") is not None
        image_ms = result.perf_metrics.get_vision_encoding_duration().mean if sent else None
        return {**super()._metrics(result, request), "image_ms": image_ms}
