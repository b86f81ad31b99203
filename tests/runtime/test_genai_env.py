"""openvino_genai's builds read OPENVINO_TOKENIZERS_PATH_GENAI; ovnb sets it once so no build writes
it (builds on several threads raced on it: a tokenizer library that failed to load)."""
from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from ovnb.runtime.genai_env import VARIABLE, tokenizers_library

ROOT = Path(__file__).resolve().parents[2]
LIBC = ctypes.CDLL(None)
LIBC.getenv.restype = ctypes.c_char_p


def process_value() -> str | None:
    """The variable as native code sees it (os.environ is Python's copy)."""
    value = LIBC.getenv(VARIABLE.encode())
    return value.decode() if value is not None else None


def run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != VARIABLE}
    environment.update(env, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=environment,
                          capture_output=True, text=True, timeout=300, check=True)


def test_import_sets_it_to_the_library_openvino_tokenizers_loads() -> None:
    import openvino_tokenizers

    import ovnb  # noqa: F401

    assert tokenizers_library() == Path(openvino_tokenizers._ext_path)
    assert process_value() == str(openvino_tokenizers._ext_path)


def test_a_build_leaves_it_as_it_was(llm: Path) -> None:
    import openvino_genai as ov_genai

    import ovnb  # noqa: F401

    before = process_value()
    ov_genai.Tokenizer(str(llm))
    assert process_value() == before is not None  # unpinned, genai unsets it after each build


def test_a_users_own_value_is_kept() -> None:
    shown = run("import os, ovnb; print(os.environ['OPENVINO_TOKENIZERS_PATH_GENAI'])",
                OPENVINO_TOKENIZERS_PATH_GENAI="/opt/my/libopenvino_tokenizers.so")
    assert shown.stdout.strip() == "/opt/my/libopenvino_tokenizers.so"


def test_builds_on_three_threads_at_once_all_load(llm: Path) -> None:
    """What failed about once in 45 builds before: every build now loads the tokenizers."""
    shown = run(f"""
        import threading
        import ovnb
        import openvino_genai as g

        failed = []

        def builds(kind):
            for _ in range(8):
                try:
                    if kind == 0:
                        g.LLMPipeline({str(llm)!r}, "CPU")
                    elif kind == 1:
                        g.ContinuousBatchingPipeline({str(llm)!r}, g.SchedulerConfig(), "CPU")
                    else:
                        g.Tokenizer({str(llm)!r})
                except Exception as exc:
                    failed.append(str(exc).splitlines()[0])

        threads = [threading.Thread(target=builds, args=(k,)) for k in range(3)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        print(len(failed), failed[:1])
        """)
    assert shown.stdout.strip() == "0 []"
