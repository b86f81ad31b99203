"""Tiny random BERTs for retrieval: the embedder ``tiny-embed`` and the cross-encoder ``tiny-rerank``.

TextEmbeddingPipeline runs an encoder exported for ``feature-extraction`` and pools its last hidden
state; TextRerankPipeline runs a cross-encoder (``BertForSequenceClassification`` with one label)
exported for ``text-classification`` on ``[CLS] query [SEP] text [SEP]`` and takes the sigmoid of
its logit. Both read a WordPiece tokenizer. This module writes them:
- a WordPiece vocabulary built, not trained: specials, lowercase letters, digits and punctuation
  (and their ``##`` continuations, so any ASCII word spells out), then common English words.
  In transformers 5, ``BertTokenizer(vocab_file=...)`` silently ignores the file: the vocabulary
  is passed as a dict;
- weights from name-seeded streams (``tiny_llm.uniform``): bit-identical builds everywhere;
- for ``tiny-embed``, the sentence-transformers files that say how to pool (``modules.json``,
  ``1_Pooling/config.json``: mean pooling, then normalize), the way all-MiniLM-L6-v2 ships them,
  so ``ovnb.layout.embedding_config`` reads the pooling from the model as it does for real ones.
"""
from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any

import numpy as np

from ovnb.errors import OvnbError
from ovnb.progress import say

REVISION = 1  # bump when the built model changes: cached builds of an older revision are rebuilt
HIDDEN = 32
LAYERS = 2
MAX_LENGTH = 512
GAIN = 1.0
EMBED_SCALE = 0.5
SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
WORDS = (
    "the of and to a in is it you that he was for on are with as his they be at one have this "
    "from or had by word but what some we can out other were all there when up use your how said "
    "an each she which do their time if will way about many then them write would like so these "
    "her long make thing see him two has look more day could go come did number sound no most "
    "people my over know water than call first who may down side been now find any new work part "
    "take get place made live where after back little only round man year came show every good "
    "me give our under name very through just form sentence great think say help low line differ "
    "turn cause much mean before move right boy old too same tell does set three want air well "
    "also play small end put home read hand port large spell add even land here must big high "
    "such follow act why ask men change went light kind off need house picture try us again "
    "animal point mother world near build self earth father head stand own page should country "
    "found answer school grow study still learn plant cover food sun four between state keep eye "
    "never last let thought city tree cross farm hard start might story saw far sea draw left "
    "late run while press close night real life few north open seem together next white children "
    "begin got walk example ease paper group always music those both mark often letter until mile "
    "river car feet care second book carry took science eat room friend began idea fish mountain "
    "stop once base hear horse cut sure watch color face wood main enough plain girl usual young "
    "ready above ever red list though feel talk bird soon body dog family direct pose leave song "
    "measure door product black short numeral class wind question happen complete ship area half "
    "rock order fire south problem piece told knew pass since top whole king space heard best "
    "hour better true during hundred five remember step early hold west ground interest reach fast "
    "verb sing listen six table travel less morning ten simple several vowel toward war lay "
    "against pattern slow center love person money serve appear road map rain rule govern pull "
    "cold notice voice unit power town fine certain fly fall lead cry dark machine note wait plan "
    "figure star box noun field rest correct able pound done beauty drive stood contain front "
    "teach week final gave green oh quick develop ocean warm free minute strong special mind "
    "behind clear tail produce fact street inch multiply nothing course stay wheel full force blue "
    "object decide surface deep moon island foot system busy test record boat common gold possible "
    "plane stead dry wonder laugh thousand ago ran check game shape equate hot miss brought heat "
    "snow tire bring yes distant fill east paint language among capital france paris cat"
).split()
MODELS = {"tiny-embed": "embedding", "tiny-rerank": "rerank"}
POOLING = {  # sentence-transformers' 1_Pooling/config.json for mean pooling
    "word_embedding_dimension": HIDDEN, "pooling_mode_cls_token": False,
    "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False,
    "pooling_mode_mean_sqrt_len_tokens": False, "pooling_mode_weightedmean_tokens": False,
    "pooling_mode_lasttoken": False, "include_prompt": True,
}
MODULES = [  # sentence-transformers' modules.json: transformer, pooling, normalize
    {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
    {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
]


def build(model_id: str, out: Path) -> None:
    """Write ``model_id`` (tiny-embed or tiny-rerank) as a transformers folder into ``out``."""
    if model_id not in MODELS:
        raise OvnbError(f"ovnb.sources.tiny_bert builds {' and '.join(MODELS)}, not {model_id!r}: "
                        "fix the catalog entry's module")
    say(f"building {model_id}: BERT hidden {HIDDEN}, {LAYERS} layers ({MODELS[model_id]})")
    tok = make_tokenizer()
    model = _model(len(tok), rerank=model_id == "tiny-rerank", tok=tok)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    if model_id == "tiny-embed":
        write_sentence_transformers(out)


def vocabulary() -> dict[str, int]:
    """The WordPiece vocabulary: specials, characters, ``##`` characters, then words."""
    chars = string.ascii_lowercase + string.digits + string.punctuation
    tokens = [*SPECIALS, *chars, *(f"##{c}" for c in string.ascii_lowercase + string.digits)]
    tokens += [w for w in dict.fromkeys(WORDS) if w not in tokens]
    return {token: i for i, token in enumerate(tokens)}


def make_tokenizer() -> Any:
    """An uncased ``BertTokenizer`` over ``vocabulary()``."""
    from transformers import BertTokenizer

    return BertTokenizer(vocab=vocabulary(), do_lower_case=True, model_max_length=MAX_LENGTH)


def _model(vocab_size: int, rerank: bool, tok: Any) -> Any:
    """A seeded BertModel, or BertForSequenceClassification with one label, in fp32."""
    from transformers import BertConfig, BertForSequenceClassification, BertModel

    config = BertConfig(vocab_size=vocab_size, hidden_size=HIDDEN, num_hidden_layers=LAYERS,
                        num_attention_heads=2, intermediate_size=2 * HIDDEN,
                        max_position_embeddings=MAX_LENGTH, pad_token_id=tok.pad_token_id,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    if rerank:
        config.num_labels = 1
        model = BertForSequenceClassification(config)
    else:
        model = BertModel(config)
    model.eval()
    _fill(model)
    return model


def _fill(model: Any) -> None:
    """Overwrite every matrix with name-seeded uniform values (norms and biases keep their init)."""
    from ovnb.sources.tiny_llm import fill_matrices

    fill_matrices(model, _limit)


def _limit(name: str, fan_in: int) -> float:
    """Half-width of the uniform init of weight ``name``."""
    return EMBED_SCALE if "embeddings" in name else GAIN * float(np.sqrt(3.0 / fan_in))


def write_sentence_transformers(out: Path) -> None:
    """The files sentence-transformers (and ovnb) read the pooling from."""
    (out / "1_Pooling").mkdir(parents=True, exist_ok=True)
    (out / "1_Pooling" / "config.json").write_text(json.dumps(POOLING, indent=2) + "\n")
    (out / "modules.json").write_text(json.dumps(MODULES, indent=2) + "\n")
    (out / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": 128, "do_lower_case": False}, indent=2) + "\n")
