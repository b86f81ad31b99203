"""``optimum-cli``, with optimum-intel's transformers-version ceiling lifted for some model types.

optimum-intel 2.2.0 refuses to export some architectures under transformers 5 (their export configs
carry ``MAX_TRANSFORMERS_VERSION = "5.0"``) though the export works: Qwen2-VL was exported and run
in openvino_genai here. ``ovnb.export`` runs this module as its child process instead of optimum-cli
for such models; the parent never imports torch or optimum, and the installed package is untouched.

It also replaces one of optimum-intel's traced patches for ``qwen3_vl`` (see
``tolerate_text_only_deepstack``), so that the exported language model takes the inputs
openvino_genai's EmbeddingPipeline gives it for text without pictures, and traces LTX-Video's VAE
decoder on a small example (``trace_video_decoder_small``), so that its export fits 2 GB.

Usage: ``python -m ovnb.exportcli MODEL_TYPE export openvino ...`` (optimum-cli's own arguments).
"""
from __future__ import annotations

import functools
import sys
from typing import Any


# model types optimum-intel 2.2.0 refuses under transformers 5 (MAX_TRANSFORMERS_VERSION "5.0") though
# they export and run. qwen2_vl: tiny-qwen2-vl, under test. qwen3_vl: tiny-qwen3-vl-embed
# (feature-extraction, for EmbeddingPipeline), under test; as image-text-to-text seen once with a
# tiny random config (VLMPipeline answered text, an image and a video). qwen2_5_vl: seen once that
# way; not under test.
LIFT_VERSION_CEILING = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl")


def lift_version_ceiling(model_type: str, task: str) -> None:
    """Remove the transformers-version ceiling of ``model_type``'s OpenVINO export config."""
    import optimum.exporters.openvino  # noqa: F401  (registers the OpenVINO export configs)
    from optimum.exporters.tasks import TasksManager

    constructor = TasksManager.get_exporter_config_constructor(
        exporter="openvino", model_type=model_type, task=task, library_name="transformers")
    config_class = constructor.func if isinstance(constructor, functools.partial) else constructor
    config_class.MAX_TRANSFORMERS_VERSION = None


def tolerate_text_only_deepstack() -> None:
    """Export Qwen3-VL's language model so that a one-element ``visual_pos_masks`` works.

    Qwen3-VL adds vision features of some vision layers ("deepstack") to the hidden states of the
    first text layers at the image and video tokens, which ``visual_pos_masks`` marks, one flag per
    token. optimum-intel 2.2.0 traces that step with its own replacement, which reshapes the mask
    to the hidden states' [batch, sequence]. VLMPipeline passes one flag per token ([1, tokens]
    with the hidden states as [tokens, 1, width] on its default backend). EmbeddingPipeline, for
    text without pictures, passes a [1, 1] mask of False (and one row of zero features) whatever
    the batch and length: every text-only ``embed`` then fails ("reshape: the shape of input data
    (1.32) conflicts with the reshape pattern (1.10.32)", seen with tiny-qwen3-vl-embed).

    This replacement broadcasts the flattened mask to one flag per token: a mask of one flag per
    token is unchanged (images, videos and VLMPipeline compute what they did), a single flag is
    repeated, and any other size still fails (as a batch of texts with pictures does: genai
    passes the last text's mask for the whole batch).
    """
    from optimum.exporters.openvino import model_patcher

    model_patcher._deepstack_process_patched = _deepstack_process


def _deepstack_process(self: Any, hidden_states: Any, visual_pos_masks: Any,
                       visual_embeds: Any) -> Any:
    """Add ``visual_embeds`` (one row per marked token, in order) to the marked hidden states,
    with ops that trace to a graph of dynamic shapes (no boolean indexing): the marked token
    k-th in order takes row k, found by the running count of marks."""
    import torch

    batch, seq_len, dim = hidden_states.shape
    mask = visual_pos_masks.to(hidden_states.device).reshape(-1).expand(batch * seq_len)
    visual_embeds = visual_embeds.to(hidden_states.device, hidden_states.dtype)
    rows = torch.clamp(torch.cumsum(mask.long(), dim=0) - 1, min=0)
    gathered = torch.index_select(visual_embeds, 0, rows).reshape(batch, seq_len, dim)
    return hidden_states + gathered * mask.to(hidden_states.dtype).reshape(batch, seq_len, 1)


SMALL_LATENT = 8  # latent pixels a side LTX-Video's VAE decoder is traced on


def trace_video_decoder_small() -> None:
    """Trace LTX-Video's VAE decoder on an 8x8 latent instead of optimum-intel's 64x64.

    optimum-intel 2.2.0 makes the decoder's example input [2, channels, 2, 64, 64] (its default
    image size, which the command line cannot change), so tracing decodes two 9-frame clips of
    2048x2048 pixels: preparing tiny-ltx, 8 channels wide, peaked at 3.0 GB resident and was
    killed in Binder's 2 GB. The graph is traced with dynamic sizes, so a small example exports
    the same model (tiny-ltx's prepared folder: byte-identical, at 641 MB).
    """
    from optimum.exporters.openvino.input_generators import LTXVaeDummyInputGenerator

    generate = LTXVaeDummyInputGenerator.generate

    def small(self: Any, input_name: str, framework: str = "pt", int_dtype: str = "int64",
              float_dtype: str = "fp32") -> Any:
        if input_name == "latent_sample":
            return self.random_float_tensor(
                [self.batch_size, self.num_channels, self.num_frames, SMALL_LATENT, SMALL_LATENT])
        return generate(self, input_name, framework, int_dtype, float_dtype)

    LTXVaeDummyInputGenerator.generate = small


# optimum-intel patches ovnb replaces, by model type (or a diffusers pipeline's name for it)
REPLACED_PATCHES = {"qwen3_vl": tolerate_text_only_deepstack,
                    "ltx-video": trace_video_decoder_small}


def main(argv: list[str]) -> None:
    model_type, cli_args = argv[0], argv[1:]
    task = cli_args[cli_args.index("--task") + 1]
    if model_type in LIFT_VERSION_CEILING:
        lift_version_ceiling(model_type, task)
    if model_type in REPLACED_PATCHES:
        REPLACED_PATCHES[model_type]()
    from optimum.commands.optimum_cli import main as optimum_cli

    sys.argv = ["optimum-cli", *cli_args]
    optimum_cli()


if __name__ == "__main__":
    main(sys.argv[1:])
