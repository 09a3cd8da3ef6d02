"""The word count of page bodies as a DuckDB function, ``chrono_word_count(varchar) -> bigint``.

Words are maximal runs of characters other than whitespace, whitespace being the six ASCII
characters space, tab, newline, vertical tab, form feed and carriage return (bytes 9 to 13
and 32), as RE2's ``[ \\t\\n\\r\\f\\v]``: a no-break space or an ideographic space joins the
words around it. None of those six bytes occurs inside the UTF-8 encoding of another
character, so the count walks the bytes of the text once.

The bodies are the largest input of the warehouse (about 1.8 GB of text per million pages).
Two kernels count the same words: a numpy one, as fast as the fastest SQL expression found
(a regular expression that normalises whitespace, then ``string_split``), and a loop compiled
by numba, about four times faster, which costs 0.5-1 s of importing and loading before its
first count. A run counts in numpy until it has counted COMPILE_AFTER_BYTES, and compiles the
loop in the background from then on (``KernelChoice``): an incremental run of a few thousand
pages never waits for numba, a full build counts nearly all its bodies compiled. It is an
Arrow function: DuckDB hands it a vector of up to 2,048 texts at a time, and the kernels read
their UTF-8 bytes in place.

The dbt plugin registers it on every connection dbt opens (``register``); the ``word_count``
macro calls it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
from duckdb import DuckDBPyConnection
from duckdb.func import ARROW
from duckdb.sqltypes import BIGINT, VARCHAR

FUNCTION_NAME = "chrono_word_count"

# Counting kernels: (offsets, data, out) -> None; out[i] = words of data[offsets[i]:offsets[i + 1]]
Kernel = Callable[[Any, Any, Any], None]

_SPACE_BYTES = np.zeros(256, dtype=bool)
_SPACE_BYTES[[9, 10, 11, 12, 13, 32]] = True


def count_words_numpy(offsets: Any, data: Any, out: Any) -> None:
    """The count in numpy: a word starts at a byte other than whitespace that follows
    whitespace or starts its text; each text's count is the number of word starts between
    its offsets. As fast as the SQL expression, needs nothing compiled, and holds about four
    bytes per byte of text (three masks and the word starts' positions)."""
    low, high = int(offsets[0]), int(offsets[-1])
    relative = offsets.astype(np.int64) - low
    is_space = _SPACE_BYTES[data[low:high]]
    after_space = np.empty_like(is_space)
    if len(is_space):
        after_space[1:] = is_space[:-1]
        text_starts = relative[:-1]  # 0 among them
        after_space[text_starts[text_starts < len(is_space)]] = True
    word_starts = np.flatnonzero(after_space & ~is_space)
    out[:] = np.searchsorted(word_starts, relative[1:]) - np.searchsorted(
        word_starts, relative[:-1]
    )


def compile_count_words() -> Kernel:
    """The count as a loop compiled by numba (loaded from numba's cache beside this file when
    it has not changed): about four times faster than numpy or SQL, after 0.5-1 s of importing
    and loading."""
    import numba

    @numba.njit(cache=True, nogil=True)
    def count_words(offsets: Any, data: Any, out: Any) -> None:
        for row in range(len(offsets) - 1):
            words = 0
            in_word = False
            for position in range(offsets[row], offsets[row + 1]):
                byte = data[position]
                is_space = byte == 32 or (byte >= 9 and byte <= 13)
                if not is_space and not in_word:
                    words += 1
                in_word = not is_space
            out[row] = words

    return count_words


# A run that counts a few thousand bodies (an incremental run) is done before the compiled
# loop would be ready; a full build counts gigabytes. So the first bytes are counted in numpy,
# and once this many have been counted the loop is compiled in a background thread, the
# counts going on in numpy until it is ready.
COMPILE_AFTER_BYTES = 64 * 1024 * 1024


class KernelChoice:
    """Which kernel counts the next vector: numpy, until COMPILE_AFTER_BYTES were counted
    and the compiled loop, built meanwhile in the background, is ready."""

    def __init__(self, compile_after_bytes: int = COMPILE_AFTER_BYTES) -> None:
        self.compile_after_bytes = compile_after_bytes
        self.compiled: Kernel | None = None
        self.compile_error: str | None = None
        self.compiler: threading.Thread | None = None
        self._bytes_counted = 0
        self._lock = threading.Lock()

    def kernel(self, size: int) -> Kernel:
        if self.compiled is not None:
            return self.compiled
        with self._lock:
            self._bytes_counted += size
            if self.compiler is None and self._bytes_counted >= self.compile_after_bytes:
                self.compiler = threading.Thread(
                    target=self._compile, name="chrono-word-count-compiler", daemon=True
                )
                self.compiler.start()
        return count_words_numpy

    def _compile(self) -> None:
        try:
            self.compiled = compile_count_words()
        except Exception as exc:  # numba missing or broken: numpy counts the same words
            self.compile_error = f"{type(exc).__name__}: {exc}"


_CHOICE = KernelChoice()


def word_counts(texts: pa.Array | pa.ChunkedArray, choice: KernelChoice = _CHOICE) -> pa.Array:
    """The word count of each text, NULL for NULL."""
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    if pa.types.is_string_view(texts.type):
        texts = texts.cast(pa.large_string())
    if not (pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type)):
        raise TypeError(f"{FUNCTION_NAME} counts the words of text, got {texts.type}")
    counts = np.zeros(len(texts), dtype=np.int64)
    if len(texts):
        _, offsets_buffer, data_buffer = texts.buffers()
        offset_type = np.int64 if pa.types.is_large_string(texts.type) else np.int32
        offsets = np.frombuffer(offsets_buffer, dtype=offset_type)[
            texts.offset : texts.offset + len(texts) + 1
        ]
        data = (
            np.frombuffer(data_buffer, dtype=np.uint8)
            if data_buffer is not None
            else np.zeros(0, dtype=np.uint8)
        )
        choice.kernel(int(offsets[-1] - offsets[0]))(offsets, data, counts)
    if texts.null_count:
        return pa.array(counts, mask=texts.is_null().to_numpy(zero_copy_only=False))
    return pa.array(counts)


def register(conn: DuckDBPyConnection) -> None:
    """Make ``chrono_word_count(varchar) -> bigint`` callable on this connection."""

    # DuckDB takes every parameter of the Python function for an argument of the SQL one
    def chrono_word_count(texts: pa.Array | pa.ChunkedArray) -> pa.Array:
        return word_counts(texts)

    function: Any = chrono_word_count  # an Arrow function: duckdb's stubs know scalar ones only
    conn.create_function(FUNCTION_NAME, function, [VARCHAR], BIGINT, type=ARROW)
