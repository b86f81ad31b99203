"""The process environment openvino_genai reads while it builds: set once, never by a build.

Each Python constructor of openvino_genai 2026.4.1 (``LLMPipeline``, ``ContinuousBatchingPipeline``,
``Tokenizer``...) wraps the build in a ``ScopedVar``: when ``OPENVINO_TOKENIZERS_PATH_GENAI`` is
unset it ``setenv``s it to openvino_tokenizers' library, builds, then ``unsetenv``s it. Two builds
on two threads (ovnb loads every pipeline on a thread of its own) then race: one build's unset lands
while the other reads the variable, which fails with "Failed to load shared object ...
openvino_genai/libopenvino_tokenizers.so" (seen in 1 of 45 builds on three threads). When the
variable is already set, ``ScopedVar`` only reads it. So ovnb sets it once, at import, to the
library ``openvino_tokenizers`` would load, found without importing anything heavy.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

VARIABLE = "OPENVINO_TOKENIZERS_PATH_GENAI"
LIBRARY = {"win32": "openvino_tokenizers.dll", "darwin": "libopenvino_tokenizers.dylib"}.get(
    sys.platform, "libopenvino_tokenizers.so")


def tokenizers_library() -> Path | None:
    """openvino_tokenizers' extension library, where its package keeps it; None if absent."""
    given = os.environ.get("OV_TOKENIZER_PREBUILD_EXTENSION_PATH")  # its own override
    if given and Path(given).is_file():
        return Path(given)
    spec = importlib.util.find_spec("openvino_tokenizers")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        library = Path(folder) / "lib" / LIBRARY
        if library.is_file():
            return library
    return None


def pin_tokenizers_path() -> None:
    """Set the variable once (a user's own value is kept), so no build ever writes it."""
    if os.environ.get(VARIABLE):
        return
    library = tokenizers_library()
    if library is not None:
        os.environ[VARIABLE] = str(library)
