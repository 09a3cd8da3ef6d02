"""chrono_word_count, the word count of the word_count macro: both of its kernels (numpy and
the loop compiled by numba) on hand-counted texts and against a reference count on random
texts, in DuckDB as dbt calls it; and the switch from one kernel to the other."""

from __future__ import annotations

import random
import re

import duckdb
import pyarrow as pa
import pytest
from duckdb.func import ARROW
from duckdb.sqltypes import BIGINT, VARCHAR

from chrono_analytics import text_measures

HAND_COUNTED = [
    (None, None),
    ("", 0),
    (" ", 0),
    ("\t\n\r\f\v ", 0),
    ("word", 1),
    ("  two  words  ", 2),
    ("a\tb\nc\rd\fe\vf", 6),
    ("line one\r\nline two\r\n", 4),
    ("no\u00a0break", 1),  # NBSP is not whitespace (as RE2's \s)
    ("ideographic\u3000space", 1),
    ("über straße 漢字 😀", 4),
    ("end.\n\n\nNext paragraph", 3),
]


def reference_count(text: str) -> int:
    return len(re.findall(r"[^ \t\n\r\f\v]+", text))


class Fixed(text_measures.KernelChoice):
    """Always the given kernel."""

    def __init__(self, kernel: text_measures.Kernel) -> None:
        super().__init__()
        self.fixed = kernel

    def kernel(self, size: int) -> text_measures.Kernel:
        return self.fixed


KERNELS = {
    "numpy": lambda: text_measures.count_words_numpy,
    "compiled": text_measures.compile_count_words,
}


@pytest.fixture(params=sorted(KERNELS))
def choice(request: pytest.FixtureRequest) -> text_measures.KernelChoice:
    return Fixed(KERNELS[request.param]())


@pytest.fixture
def conn(choice: text_measures.KernelChoice) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.create_function(
        text_measures.FUNCTION_NAME,
        lambda texts: text_measures.word_counts(texts, choice),
        [VARCHAR],
        BIGINT,
        type=ARROW,
    )
    return connection


def test_hand_counted_texts(conn: duckdb.DuckDBPyConnection) -> None:
    for text, expected in HAND_COUNTED:
        row = conn.execute("select chrono_word_count(cast($1 as varchar))", [text]).fetchone()
        assert row == (expected,), repr(text)


def test_a_column_of_texts_with_nulls_in_many_vectors(conn: duckdb.DuckDBPyConnection) -> None:
    """Thousands of rows (several vectors of 2,048), NULLs among them, as a table scan hands
    them over."""
    rng = random.Random(7)
    alphabet = ["a", "é", "漢", " ", "  ", "\t", "\n", "\r\n", "\u00a0", "\v", "\f", "x.y"]
    texts = [
        None if rng.random() < 0.1 else "".join(rng.choices(alphabet, k=rng.randint(0, 60)))
        for _ in range(9000)
    ]
    given = pa.table({"i": list(range(len(texts))), "body": pa.array(texts, pa.string())})
    conn.register("given", given)
    conn.execute("create table bodies as select * from given")
    rows = conn.execute("select i, chrono_word_count(body) from bodies order by i").fetchall()
    assert [count for _, count in rows] == [
        None if text is None else reference_count(text) for text in texts
    ]


def test_arrow_layouts_sliced_chunked_and_large(choice: text_measures.KernelChoice) -> None:
    def counts(texts: pa.Array | pa.ChunkedArray) -> list[int | None]:
        return text_measures.word_counts(texts, choice).to_pylist()

    texts = ["skip me", "one", None, "two words", "", " three  words here "]
    expected = [1, None, 2, 0, 3]
    assert counts(pa.array(texts, type=pa.string()).slice(1)) == expected
    assert counts(pa.array(texts, type=pa.large_string()).slice(1)) == expected
    assert counts(pa.array(texts, type=pa.string_view()).slice(1)) == expected
    assert counts(pa.chunked_array([texts[1:3], texts[3:]], type=pa.string())) == expected
    assert counts(pa.array([], type=pa.string())) == []
    assert counts(pa.array([None, None], type=pa.string())) == [None, None]
    assert counts(pa.array(["", ""], type=pa.string())) == [0, 0]
    with pytest.raises(TypeError, match="counts the words of text, got int64"):
        counts(pa.array([1, 2]))


def test_numpy_counts_until_enough_bytes_then_the_compiled_loop() -> None:
    choice = text_measures.KernelChoice(compile_after_bytes=100)
    texts = pa.array(["forty bytes of text, in seven words ..."] * 2)
    assert text_measures.word_counts(texts, choice).to_pylist() == [8, 8]
    assert choice.compiler is None  # 80 bytes counted: numpy, nothing compiled
    assert choice.kernel(0) is text_measures.count_words_numpy
    assert text_measures.word_counts(texts, choice).to_pylist() == [8, 8]
    assert choice.compiler is not None
    choice.compiler.join(timeout=120)
    assert choice.compile_error is None
    assert choice.compiled is not None
    assert choice.kernel(0) is choice.compiled
    assert text_measures.word_counts(texts, choice).to_pylist() == [8, 8]


def test_dbt_connections_count_with_it() -> None:
    """register() is what the plugin calls on each connection dbt opens."""
    plain = duckdb.connect()
    text_measures.register(plain)
    assert plain.execute("select chrono_word_count('a  b\u00a0c')").fetchone() == (2,)


def test_a_huge_body_and_empty_texts_around_it(conn: duckdb.DuckDBPyConnection) -> None:
    """A 40 MB body (PostgreSQL allows 1 GB) between empty and blank texts."""
    huge = "word \u00a0x\t\n" * 4_000_000  # 2 words per 10 characters (NBSP joins)
    texts = ["", huge, " ", None, "last one"]
    given = pa.table({"i": list(range(len(texts))), "body": pa.array(texts, pa.string())})
    conn.register("given", given)
    rows = conn.execute("select chrono_word_count(body) from given order by i").fetchall()
    assert [count for (count,) in rows] == [0, 8_000_000, 0, None, 2]
