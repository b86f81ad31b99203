"""Benchmark: what each family's widget costs its openvino_genai pipeline, in a real Jupyter kernel.

Why: a widget is worth having only if it leaves the model's speed alone. Issue 21's targets: each
widget call takes no more than 1/0.97 of its bare pipeline doing the same work (ratio = bare time /
widget time >= 0.97), and its first visible result comes no later than the bare pipeline's first
result + 50 ms.

How: one kernel (jupyter_client), so widget updates are serialized and sent on real comms as in a
notebook. For each case the widget is made with the f32 precision hint and its pipeline is taken
from it (``wait_loaded().pipe``): the bare runs call that very pipeline with the same inputs and the
same settings (greedy, the same tokens, steps, sizes; where ovnb makes the call's arguments, the
bare run takes them from the same helper, so nothing differs but the widget). After one warm-up
each, bare and widget runs alternate (bare, widget, bare, widget...) so a busy machine slows both
alike; the table shows medians. Each row checks the work too (tokens, steps, samples or vectors
made): a row whose widget did other work than its bare run says so.

What the times are:
- **bare**: the pipeline's call(s) alone. Streaming families (Chat, VisionChat, Omni, Transcriber)
  get a counting streamer (a StreamerBase that only counts: the floor of any streaming view);
  their first result is its first token. Image and video runs get a step callback that does
  nothing (the floor of a progress view; openvino_genai's generate measured slower without one).
  Elsewhere the first result is the end of the call (the first sentence's end for Speaker, which
  ovnb speaks sentence by sentence, as the bare runs do).
- **widget**: the public call from code (``send``, ``transcribe``, ``generate``...) until it
  returns; its first visible result is the moment an observer of the session's result trait
  (``live``, ``transcript``, ``sentences``, ``preview``, ``result``, ``metrics``, ``ranking``,
  ``sources``, ``results``, ``answers``) first sees it non-empty. That observer is registered
  after the view's own, on ovnb's view thread, so it runs once the view has updated its widgets
  and sent the update: what a learner sees (the watched traits are emptied, untimed, before each
  run so a repeated result is seen again).

Prints a table (family, case, medians in ms, the widget's extra ms, ratio, first results in ms,
verdict); asserts nothing. Tiny models run in milliseconds, so there a widget's fixed cost per call
(a worker thread, publishing, the view's updates) weighs what it never does on a real model; and
on a shared 2-core machine runs of a few ms vary by tens of percent: raise --runs to steady them.
    python benchmarks/overhead.py [--models tiny|real|both] [--runs 5] [--only FAMILY ...]
                                  [--save notebooks/data/overhead.json]
``--save`` also writes the rows, with when and where they were measured, as JSON: notebook 10
charts that file (the figures learners read are the ones this script printed).
``real`` runs the families with offline real models (SmolLM2-135M chat and batch, whisper
tiny.en, all-MiniLM-L6-v2); ``tiny`` every family on its tiny random model.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import textwrap
import time
from pathlib import Path

from jupyter_client.manager import start_new_kernel
from kernel import execute  # benchmarks/kernel.py (this script's folder is on sys.path)

SMOL, MINILM = "HuggingFaceTB/SmolLM2-135M-Instruct", "sentence-transformers/all-MiniLM-L6-v2"
MODELS = {
    "tiny": {"Chat": "tiny-llm", "VisionChat": "tiny-vlm", "Omni": "tiny-qwen3-omni",
             "Transcriber": "tiny-whisper", "Speaker": "tiny-speecht5", "ImageGenerator": "tiny-sd",
             "VideoGenerator": "tiny-ltx", "Embedder": "tiny-embed", "Reranker": "tiny-rerank",
             "Retriever": "tiny-embed", "MultimodalEmbedder": "tiny-qwen3-vl-embed",
             "Batch": "tiny-llm"},
    "real": {"Chat": SMOL, "Transcriber": "openai/whisper-tiny.en", "Embedder": MINILM,
             "Retriever": MINILM, "Batch": SMOL},
}
RATIO, LATE_MS = 0.97, 50.0  # the targets

KERNEL_CODE = textwrap.dedent("""
    import gc, json, statistics, time
    import numpy as np
    import openvino
    import openvino_genai as ov_genai
    from PIL import Image
    import ovnb
    from ovnb.families import DATA
    from ovnb.images import load_image
    from ovnb.runtime.views import settle

    F32 = {"INFERENCE_PRECISION_HINT": "f32"}
    RUNNING = ov_genai.StreamingStatus.RUNNING
    HOUSE = DATA / "images" / "house.png"
    SPEECH = DATA / "librivox-sense-and-sensibility-0870.flac"
    QUESTION = "Write a long story about a lighthouse keeper."
    PROMPT = "a lighthouse on a cliff at sunset"
    SAY = "Hello there. How are you today? The keeper climbs the stairs at dusk."
    TEXTS = [f"Passage {i}: the keeper of light number {i} wrote about ships and storms."
             for i in range(32)]
    DOCS = [f"Chapter {n}. " + " ".join(f"The keeper of light {n} wrote entry {i} about the ships "
                                        f"that passed the rocks in storm {i}." for i in range(20))
            for n in range(8)]  # ovnb splits them into passages
    PROMPTS = ["Give me three tips to learn a new language.", "What is OpenVINO?",
               "Tell me a story about a robot.", "Describe the sea in one sentence.",
               "Explain how a bicycle stays upright.", "Name three colours.",
               "What is a neural network?", "Write a haiku about autumn."]  # batch_bench's
    BATCH_TOKENS = 64  # new tokens per prompt at most, as batch_bench
    GREEDY = dict(do_sample=False, repetition_penalty=1.0, presence_penalty=0.0,
                  frequency_penalty=0.0)

    class Count(ov_genai.StreamerBase):
        # the floor of any streaming view: counts tokens and notes when the first came
        def __init__(self):
            super().__init__()
            self.tokens, self.first = 0, None

        def write(self, token):
            if self.first is None:
                self.first = time.perf_counter()
            self.tokens += 1 if isinstance(token, int) else len(token)
            return RUNNING

        def end(self):
            pass

    class Case:
        # one row: bare() -> (first result time or None: its end, work done);
        # call() -> work done; reset() untimed before each widget run
        def __init__(self, family, case, widget, shows, bare, call, reset=lambda: None):
            self.family, self.case, self.widget = family, case, widget
            self.shows, self.bare, self.call, self.reset = shows, bare, call, reset
            self.marks = []
            widget.observe(self._seen, list(shows))  # after the view's observers

        def _seen(self, change):  # a result is shown: something, not '' or [] or ['', '']
            new = change["new"]
            if isinstance(new, list) and all(isinstance(v, str) for v in new):
                new = any(new)  # answers: a list of '' until the first token
            if new is not None and new is not False and (not hasattr(new, "__len__") or len(new)):
                self.marks.append(time.perf_counter())

    def bare_run(case):
        start = time.perf_counter()
        first, work = case.bare()
        end = time.perf_counter()
        return end - start, (first or end) - start, work

    def widget_run(case):
        case.reset()
        case.widget.session.publish_now(**case.shows)  # emptied: a repeated result is seen again
        settle()
        case.marks.clear()
        start = time.perf_counter()
        work = case.call()
        end = time.perf_counter()
        first = case.marks[0] - start if case.marks else None  # None: it showed nothing
        return end - start, first, work

    def measure(case, runs):
        assert not case.widget.last_error, case.widget.last_error
        bare_run(case), widget_run(case)  # warm up
        got = {"bare": [], "widget": [], "bare_first": [], "widget_first": []}
        works = set()
        for _ in range(runs):
            seconds, first, work = bare_run(case)
            got["bare"].append(seconds)
            got["bare_first"].append(first)
            seconds, first, other = widget_run(case)
            got["widget"].append(seconds)
            got["widget_first"].append(first if first is not None else float("nan"))
            works.add((str(work), str(other)))
        row = {k: statistics.median(v) * 1000 for k, v in got.items()}
        row.update(family=case.family, case=case.case, error=case.widget.last_error,
                   work=sorted(works))
        return row

    # the families -------------------------------------------------------------------------------
    def any_step(step, total, latent):
        # the floor of any step view (image, video): a callback that does nothing; genai's
        # generate without one measured slower here (tiny-sd: 233 against 163 ms, medians of 8)
        return False

    def llm_config(pipe, tokens):
        config = pipe.get_generation_config()
        config.max_new_tokens = config.min_new_tokens = tokens
        config.do_sample, config.repetition_penalty = False, 1.0
        config.presence_penalty = config.frequency_penalty = 0.0
        return config

    def user_turn():
        history = ov_genai.ChatHistory()
        history.append({"role": "user", "content": QUESTION})
        return history

    def chat(model, tokens):
        w = ovnb.Chat(ovnb.prepare(model), properties=F32, max_new_tokens=tokens,
                      min_new_tokens=tokens, **GREEDY)
        pipe = w.wait_loaded().pipe
        history, config = user_turn(), llm_config(pipe, tokens)

        def bare():
            count = Count()
            pipe.generate(history, config, count)
            return count.first, count.tokens

        def call():
            w.send(QUESTION)
            return w.metrics["tokens"]

        return [Case("Chat", "send (vs counting streamer)", w, {"live": ""}, bare, call,
                     w.clear)]

    def vision(model, tokens):
        w = ovnb.VisionChat(ovnb.prepare(model), properties=F32, max_new_tokens=tokens,
                            min_new_tokens=tokens, **GREEDY)
        pipe = w.wait_loaded().pipe
        config, picture = llm_config(pipe, tokens), load_image(HOUSE)

        def bare():
            count = Count()
            pipe.generate(user_turn(), images=[picture.tensor()], generation_config=config,
                          streamer=count)
            return count.first, count.tokens

        def call():
            w.send(QUESTION)
            return w.metrics["tokens"]

        def reset():
            w.clear()
            w.choose(HOUSE)

        return [Case("VisionChat", "send + image (vs counting streamer)", w, {"live": ""},
                     bare, call, reset)]

    def omni(model, tokens):
        w = ovnb.Omni(ovnb.prepare(model), properties=F32, speak=False, max_new_tokens=tokens,
                      min_new_tokens=tokens, **GREEDY)
        model = w.wait_loaded().pipe  # ovnb's OmniModel: the OmniPipeline in .pipe
        config = llm_config(model, tokens)
        quiet = ov_genai.OmniTalkerSpeechConfig()
        quiet.return_audio = False

        def bare():
            count = Count()
            media = {"images": []}
            if model.talker:
                media["audios"] = [openvino.Tensor(np.zeros(0, np.float32))]
                model.pipe.generate(user_turn(), **media, text_config=config,
                                    talker_speech_config=quiet, streamer=count)
            else:
                model.pipe.generate(user_turn(), **media, generation_config=config,
                                    streamer=count)
            return count.first, count.tokens

        def call():
            w.send(QUESTION)
            return w.metrics["tokens"]

        return [Case("Omni", "send, text only (vs counting streamer)", w, {"live": ""}, bare,
                     call, w.clear)]

    def transcriber(model, tokens):
        from ovnb.sessions.settings import apply_to

        cases = []
        for words in (False, True):
            w = ovnb.Transcriber(ovnb.prepare(model), properties=F32, word_timestamps=words)
            loaded = w.wait_loaded()
            clip = w.choose(SPEECH)
            config = apply_to(loaded.pipe.get_generation_config(),
                              w.session._options(loaded.folder))

            def bare(pipe=loaded.pipe, config=config, clip=clip):
                count = Count()
                pipe.generate(clip.samples, config, count)
                return count.first, count.tokens

            def call(w=w):
                w.transcribe()
                return w.metrics["tokens"]

            name = "transcribe, word timestamps" if words else "transcribe"
            cases.append(Case("Transcriber", name + " (vs counting streamer)", w,
                              {"live": "", "transcript": ""}, bare, call))
        return cases

    def speaker(model, tokens):
        w = ovnb.Speaker(ovnb.prepare(model), properties=F32)
        pipe = w.wait_loaded().pipe
        session = w.session
        parts = session._sentences(SAY)  # ovnb speaks sentence by sentence: so do these runs
        voice, settings = session._embedding(w.voice), session._call_settings()

        def bare():
            first, samples = None, 0
            for part in parts:
                result = pipe.generate(part, voice, **settings)
                samples += result.speeches[0].get_size()
                first = first or time.perf_counter()
            return first, samples

        def call():  # the model's samples (the speech joins sentences with pauses)
            w.speak(SAY)
            return sum(len(spoken.samples) for spoken in w.sentences)

        return [Case("Speaker", f"speak ({len(parts)} sentences)", w, {"sentences": []},
                     bare, call)]

    def image(model, tokens, size=64, steps=20):
        from ovnb.sessions.editing import edit_for, tensors, work_size
        from ovnb.sessions.image import call_settings, size_step

        w = ovnb.ImageGenerator(ovnb.prepare(model), properties=F32, width=size, height=size,
                                num_inference_steps=steps, rng_seed=7)
        loaded = w.wait_loaded()
        house = np.asarray(Image.open(HOUSE).convert("RGB").resize((size, size * 3 // 4)))
        mask = np.zeros(house.shape[:2], np.uint8)
        mask[house.shape[0] // 4:house.shape[0] * 3 // 4, size // 4:size * 3 // 4] = 255
        cases = []
        for mode, given in (("text2image", {}), ("image2image", {"image": house}),
                            ("inpainting", {"image": house, "mask": mask})):
            pipe = loaded.pipe.get(mode)
            edit = edit_for(given.get("image"), given.get("mask"))
            kwargs = call_settings(loaded, w.settings(), pipe, mode)
            inputs = ()
            if edit.picture is not None:  # as ovnb's run makes them
                fit = work_size(edit.picture.size, (kwargs["width"], kwargs["height"]),
                                size_step(loaded.folder))
                kwargs["width"], kwargs["height"] = fit
                inputs = tensors(edit, fit)

            def bare(pipe=pipe, inputs=inputs, kwargs=kwargs):
                pipe.generate(PROMPT, *inputs, callback=any_step, **kwargs)
                return None, len(pipe.get_performance_metrics().raw_metrics.iteration_durations)

            for preview in (True, False):
                def call(given=given):
                    w.generate(PROMPT, **given)
                    return w.metrics["steps"]

                def reset(preview=preview):
                    w.live_preview = preview

                cases.append(Case("ImageGenerator", f"{mode}, preview {'on' if preview else 'off'}"
                                  f" ({size} px, {steps} steps)", w, {"preview": b""}, bare,
                                  call, reset))
        return cases

    def video(model, tokens, frames=9, size=64, steps=8):
        from ovnb.sessions.video import call_kwargs

        w = ovnb.VideoGenerator(ovnb.prepare(model), properties=F32, num_frames=frames,
                                width=size, height=size, num_inference_steps=steps, rng_seed=7)
        pipe = w.wait_loaded().pipe
        settings = w.settings()

        def bare():
            result = pipe.generate(PROMPT, callback=any_step, **call_kwargs(settings))
            return None, len(result.perf_metrics.raw_metrics.iteration_durations)

        def call():
            w.generate(PROMPT)
            return w.metrics["steps"]

        return [Case("VideoGenerator", f"generate ({frames} frames, {size} px, {steps} steps)",
                     w, {"result": None}, bare, call)]

    def embedder(model, tokens):
        w = ovnb.Embedder(ovnb.prepare(model), properties=F32)
        pipe = w.wait_loaded().pipe

        def bare():
            return None, len(pipe.embed_documents(TEXTS))

        def call():
            return len(w.embed(TEXTS))

        return [Case("Embedder", f"embed {len(TEXTS)} texts", w, {"metrics": {}}, bare, call)]

    def multimodal(model, tokens):
        w = ovnb.Embedder(ovnb.prepare(model), properties=F32)
        pipe = w.wait_loaded().pipe
        house = np.asarray(Image.open(HOUSE).convert("RGB"))
        picture, prompt = load_image(house), w.session._prompt(False)
        texts = TEXTS[:8]

        def bare():
            rows = pipe.embed(texts, **prompt).embeddings.get_shape()[0]
            rows += pipe.embed("", images=[picture.tensor()], **prompt).embeddings.get_shape()[0]
            return None, rows

        def call():
            return len(w.embed(texts, images=[house]))

        return [Case("MultimodalEmbedder", f"embed {len(texts)} texts + 1 image", w,
                     {"metrics": {}}, bare, call)]

    def reranker(model, tokens):
        from ovnb.sessions.embedding import RERANK_BATCH

        w = ovnb.Reranker(ovnb.prepare(model), properties=F32)
        pipe = w.wait_loaded().pipe
        texts, templates = TEXTS[:8], w.session.templates
        query = templates["query"].replace("{query}", QUESTION)
        dressed = [templates["document"].replace("{document}", t) for t in texts]

        def bare():  # in chunks as ovnb does: 5+ texts per call break openvino_genai 2026.4
            return None, sum(len(pipe.rerank(query, dressed[i:i + RERANK_BATCH]))
                             for i in range(0, len(dressed), RERANK_BATCH))

        def call():
            return len(w.rerank(QUESTION, texts))

        return [Case("Reranker", f"rerank {len(texts)} texts", w, {"ranking": []}, bare, call)]

    def retriever(model, tokens):
        embedder = ovnb.Embedder(ovnb.prepare(model), properties=F32)
        w = ovnb.Retriever(embedder)
        pipe = embedder.wait_loaded().pipe
        w.add(DOCS)
        passages = [str(p) for p in w.passages]  # the passages ovnb splits DOCS into
        index = {}

        def bare_add():
            vectors = np.asarray(pipe.embed_documents(passages), np.float32)
            index["v"] = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
            return None, len(vectors)

        def bare_search():
            query = np.asarray(pipe.embed_query(QUESTION), np.float32)
            scores = index["v"] @ (query / np.linalg.norm(query))
            return None, len(np.argsort(-scores, kind="stable")[:w.k])

        bare_add()
        return [Case("Retriever", f"add ({len(passages)} passages)", w, {"sources": []},
                     bare_add, lambda: w.add(DOCS), w.clear),
                Case("Retriever", "search", w, {"results": []}, bare_search,
                     lambda: len(w.search(QUESTION)), lambda: len(w) or w.add(DOCS))]

    def batch(model, tokens):
        from ovnb.sessions.batch import as_chat_turn

        prompts = PROMPTS
        w = ovnb.Batch(ovnb.prepare(model), properties=F32, max_new_tokens=BATCH_TOKENS,
                       **GREEDY)
        pipe = w.wait_loaded().pipe
        config = w.session._config(pipe)  # the widget's own generation settings
        tokenizer = pipe.get_tokenizer()
        turns = [as_chat_turn(tokenizer, p) for p in prompts]

        def bare():
            results = pipe.generate(turns, [config] * len(turns))
            return None, sum(len(r.m_generation_ids[0]) for r in results)

        def call():
            w.generate(prompts)
            return w.metrics["tokens"]

        return [Case("Batch", f"generate {len(prompts)} prompts", w, {"answers": []}, bare,
                     call)]

    FAMILIES = {"Chat": chat, "VisionChat": vision, "Omni": omni, "Transcriber": transcriber,
                "Speaker": speaker, "ImageGenerator": image, "VideoGenerator": video,
                "Embedder": embedder, "Reranker": reranker, "Retriever": retriever,
                "MultimodalEmbedder": multimodal, "Batch": batch}

    def rows(family, model, runs, tokens):
        try:
            cases = FAMILIES[family](model, tokens)
        except Exception as exc:  # a family that cannot run here is a row, not the end
            print(json.dumps([{"family": family, "case": "-", "error": f"{type(exc).__name__}: "
                               f"{exc}".splitlines()[0]}]))
            return
        try:
            out = []
            for case in cases:
                try:
                    out.append(measure(case, runs))
                except Exception as exc:
                    out.append({"family": family, "case": case.case,
                                "error": f"{type(exc).__name__}: {exc}".splitlines()[0]})
            print(json.dumps(out))
        finally:
            del cases
            gc.collect()
""")


def verdict(row: dict) -> str:
    """ok, or what falls short: slow (ratio), late (first result), other work, an error."""
    if "bare" not in row:
        return "error: " + row.get("error", "?")
    problems = []
    if row["bare"] / row["widget"] < RATIO:
        problems.append("slow")
    first = row["widget_first"]
    if math.isnan(first):  # nothing shown before the call returned
        problems.append("shows nothing")
    elif first > row["bare_first"] + LATE_MS:
        problems.append("late")
    if any(a != b for a, b in row["work"]):
        problems.append("other work: " + ", ".join(f"{a} vs {b}" for a, b in row["work"]))
    if row.get("error"):
        problems.append("error: " + row["error"])
    return "ok" if not problems else "; ".join(problems)


def line(row: dict) -> str:
    if "bare" not in row:
        return f"{row['family']:18} {row['case']:48} {verdict(row)}"
    return (f"{row['family']:18} {row['case']:48} {row['bare']:9.1f} {row['widget']:9.1f} "
            f"{row['widget'] - row['bare']:+7.1f} {row['bare'] / row['widget']:6.3f} "
            f"{row['bare_first']:9.1f} "
            f"{row['widget_first']:9.1f}  {verdict(row)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", choices=("tiny", "real", "both"), default="tiny")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=256,
                        help="new tokens per chat answer (Batch: 64 per prompt)")
    parser.add_argument("--only", nargs="+", default=None, metavar="FAMILY",
                        choices=list(MODELS["tiny"]), help=", ".join(MODELS["tiny"]))
    parser.add_argument("--save", type=Path, default=None, metavar="JSON",
                        help="also write the rows there (notebook 10 reads notebooks/data/overhead.json)")
    args = parser.parse_args()
    saved: list[dict] = []
    manager, client = start_new_kernel()
    try:
        execute(client, KERNEL_CODE)
        for kind in ("tiny", "real") if args.models == "both" else (args.models,):
            print(f"\n{kind} models, {args.runs} runs, medians (ms); ratio = bare / widget "
                  f"(target >= {RATIO}); first: bare's first result, widget's first visible one "
                  f"(target <= bare + {LATE_MS:.0f} ms)")
            print(f"{'family':18} {'case':48} {'bare':>9} {'widget':>9} {'extra':>7} {'ratio':>6} "
                  f"{'1st bare':>9} {'1st widg':>9}  verdict")
            for family, model in MODELS[kind].items():
                if args.only and family not in args.only:
                    continue
                out = execute(client, f"rows({family!r}, {model!r}, {args.runs}, {args.tokens})")
                for row in json.loads(out.strip().splitlines()[-1]):
                    print(line(row), flush=True)
                    saved.append({"models": kind, **row, "verdict": verdict(row)})
                sys.stdout.flush()
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    if args.save is not None:
        save(args.save, saved, args)


def save(path: Path, rows: list[dict], args: argparse.Namespace) -> None:
    """The rows as JSON, with the date, the machine and the settings they were measured with."""
    rows = [{k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}
            for row in rows]  # NaN (nothing shown before the end) is not JSON
    facts = {"measured": time.strftime("%Y-%m-%d"), "cpu": cpu_name(),
             "cores": os.cpu_count(), "runs": args.runs, "tokens": args.tokens,
             "ratio_target": RATIO, "late_ms": LATE_MS, "rows": rows}
    path.write_text(json.dumps(facts, indent=1, allow_nan=False, default=str) + "\n")
    print(f"saved {len(rows)} rows to {path}")


def cpu_name() -> str:
    """The CPU's model name (Linux), for the record of where figures were measured."""
    try:
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                return text.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


if __name__ == "__main__":
    main()
