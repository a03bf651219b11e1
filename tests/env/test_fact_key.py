"""The heuristic baseline's fact key normalises text exactly as the answer metrics do (the env
layer keeps its own copy of SQuAD normalisation so it need not import the reward package)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from memrl.env.base import MemoryEnv
from memrl.scoring.text import normalize


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=40), st.lists(st.sampled_from(["The", "a", "An", "cat", "Alice's", "!", " ", "the.", "ANother"])).map(" ".join)))
def test_fact_key_is_the_first_three_squad_normalised_words(sentence):
    assert MemoryEnv.fact_key(None, sentence) == " ".join(normalize(sentence).split()[:3])
