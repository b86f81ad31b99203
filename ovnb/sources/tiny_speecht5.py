"""A tiny random SpeechT5 text-to-speech model with a tiny HiFi-GAN vocoder: ``tiny-speecht5``.

Text2SpeechPipeline reads a SpeechT5 folder: a SentencePiece character tokenizer, the encoder,
decoder and postnet IRs and a vocoder IR (optimum-intel exports the vocoder it is given with
``--model-kwargs '{"vocoder": ...}'``). This module writes the transformers side of that:
- ``spm_char.model``: a character-level SentencePiece model trained on a fixed alphabet (one
  thread, no sampling: the same bytes everywhere), the layout of microsoft/speecht5_tts
  (bos 0, pad 1, eos 2, unk 3);
- the model, every weight drawn from a name-seeded stream (``tiny_llm.uniform``), so builds are
  bit-identical; the prenet dropout is 0, else its export draws random numbers at each step;
- the stop head never fires, so a reply lasts ``maxlenratio`` x its tokens / 2 decoder steps:
  ``generation_config.json`` sets ``maxlenratio`` (which Text2SpeechPipeline reads) to about the
  length of real speech, ~70 ms per character;
- ``vocoder/``: a HiFi-GAN of four 4x upsamplers (256 audio samples per mel frame, as the real
  one), its output scaled to a moderate loudness;
- ``voices/NAME.bin``: seeded speaker embeddings, 512 float32 each (what SpeechT5 conditions on),
  laid out as the folder of voices a Kokoro export writes, so a session lists both alike.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from ovnb.errors import OvnbError
from ovnb.progress import say

REVISION = 3  # bump when the built model changes (3: prenet on the last frame): older builds rebuilt
HIDDEN = 32
MEL_BINS = 80  # the real vocoder's input: keeps the tiny model's mel layout honest
SPEAKER_DIM = 512  # openvino_genai hard-codes SpeechT5's x-vector size
SAMPLE_RATE = 16000
VOICES = ("ada", "ben", "cleo")  # seeded speaker embeddings shipped in voices/
# what the tokenizer can spell: lowercase and uppercase letters, digits, common punctuation
ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:!?'\"-()"
GAIN = 1.5  # times LeCun's uniform init: enough that the mel frames vary with the text
MAXLENRATIO = 4.0  # decoder steps = 2 per token: 4 x 256 samples = 64 ms of audio per character
NEVER_STOP = -20.0  # bias of the stop logit: sigmoid ~2e-9, far below any threshold
LOUDNESS = 0.05  # scales the vocoder's last conv, so its tanh output is not clipped noise


def build(model_id: str, out: Path) -> None:
    """Write tiny-speecht5 (model, tokenizer, vocoder, voices) as a transformers folder."""
    if model_id != "tiny-speecht5":
        raise OvnbError(f"ovnb.sources.tiny_speecht5 builds tiny-speecht5, not {model_id!r}: "
                        "fix the catalog entry's module")
    say(f"building {model_id}: SpeechT5 hidden {HIDDEN}, 1+1 layers, HiFi-GAN vocoder")
    tok = make_tokenizer(out)
    model = _model(len(tok))
    model.save_pretrained(out)
    tok.save_pretrained(out)
    vocoder = _vocoder()
    vocoder.save_pretrained(out / "vocoder")
    write_voices(out / "voices")


def make_tokenizer(out: Path) -> Any:
    """A SpeechT5Tokenizer over a character SentencePiece model trained on ``ALPHABET``."""
    import sentencepiece as spm
    from transformers import SpeechT5Tokenizer

    model = io.BytesIO()
    corpus = [ALPHABET, ALPHABET.lower(), "the quick brown fox jumps over the lazy dog."]
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus), model_writer=model, model_type="char",
        vocab_size=len(set("".join(corpus))) + 4, character_coverage=1.0,
        bos_id=0, pad_id=1, eos_id=2, unk_id=3, num_threads=1, minloglevel=2,
        add_dummy_prefix=True, remove_extra_whitespaces=True, normalization_rule_name="identity",
    )
    path = out / "spm_char.model"
    out.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.getvalue())
    return SpeechT5Tokenizer(vocab_file=str(path), model_max_length=600)


def _model(vocab_size: int) -> Any:
    """A seeded SpeechT5ForTextToSpeech in fp32."""
    import torch
    from transformers import GenerationConfig, SpeechT5Config, SpeechT5ForTextToSpeech

    config = SpeechT5Config(
        vocab_size=vocab_size, hidden_size=HIDDEN, encoder_layers=1, decoder_layers=1,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=2 * HIDDEN,
        decoder_ffn_dim=2 * HIDDEN, num_mel_bins=MEL_BINS, reduction_factor=2,
        speaker_embedding_dim=SPEAKER_DIM, speech_decoder_prenet_units=HIDDEN,
        speech_decoder_prenet_dropout=0.0, speech_decoder_postnet_layers=2,
        speech_decoder_postnet_units=HIDDEN, speech_decoder_postnet_dropout=0.0,
        max_text_positions=600, max_speech_positions=1200, encoder_max_relative_position=32,
        conv_dim=(8, 8), conv_stride=(5, 2), conv_kernel=(10, 3), num_feat_extract_layers=2,
        num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
        hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0,
        positional_dropout=0.0, encoder_layerdrop=0.0, decoder_layerdrop=0.0,
    )
    model = SpeechT5ForTextToSpeech(config).eval()
    fill(model)
    stop = model.speech_decoder_postnet.prob_out
    with torch.no_grad():
        stop.weight.zero_()
        stop.bias.fill_(NEVER_STOP)
    model.generation_config = GenerationConfig(maxlenratio=MAXLENRATIO, minlenratio=0.0,
                                               threshold=0.5)
    return model


def _vocoder() -> Any:
    """A seeded four-stage HiFi-GAN: 80 mel bins in, 16 kHz audio out, 256 samples per frame."""
    import torch
    from transformers import SpeechT5HifiGan, SpeechT5HifiGanConfig

    config = SpeechT5HifiGanConfig(
        model_in_dim=MEL_BINS, sampling_rate=SAMPLE_RATE, upsample_initial_channel=16,
        upsample_rates=[4, 4, 4, 4], upsample_kernel_sizes=[8, 8, 8, 8], resblock_kernel_sizes=[3],
        resblock_dilation_sizes=[[1, 3]], normalize_before=False,
    )
    vocoder = SpeechT5HifiGan(config).eval()
    fill(vocoder, prefix="vocoder.")
    with torch.no_grad():
        vocoder.conv_post.weight.mul_(LOUDNESS)
    return vocoder


def fill(module: Any, prefix: str = "") -> None:
    """Overwrite every matrix and conv kernel with name-seeded uniform values.

    Vectors (biases, norms) keep their init, which is deterministic (zeros and ones), and so do
    buffers (sinusoidal positions).
    """
    import torch

    from ovnb.sources.tiny_llm import uniform

    with torch.no_grad():
        for name, param in module.named_parameters():
            if param.dim() < 2:
                continue
            fan_in = int(np.prod(param.shape[1:]))
            limit = GAIN * float(np.sqrt(3.0 / fan_in))
            param.copy_(torch.from_numpy(uniform(prefix + name, tuple(param.shape), limit)))


def write_voices(folder: Path) -> None:
    """Seeded speaker embeddings as raw float32 files (``NAME.bin``, 512 values, unit length
    like the x-vectors SpeechT5 was trained on)."""
    from ovnb.sources.tiny_llm import uniform

    folder.mkdir(parents=True, exist_ok=True)
    for name in VOICES:
        vector = uniform(f"voice:{name}", (SPEAKER_DIM,), 1.0).astype(np.float64)
        vector = (vector / np.linalg.norm(vector)).astype(np.float32)
        vector.tofile(folder / f"{name}.bin")

