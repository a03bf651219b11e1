"""LoCoMo's scoring rules (memrl.scoring.locomo) and the reward plugins built on them."""

from __future__ import annotations

import pytest

from memrl.scoring import get_reward
from memrl.scoring.locomo import bleu1, category_name, category_table, f1, score_answer


@pytest.mark.parametrize("pred, gold, category, f1, em", [
    ("Paris", "Paris", 4, 1.0, 1.0),  # plain match
    ("the city of Paris", "Paris", 4, 0.5, 0.0),  # partial credit, articles dropped
    ("Lima, Paris", "Paris, Lima", 1, 1.0, 0.0),  # multi-hop: order of the parts does not matter
    ("Paris", "Paris, Lima", 1, 0.5, 0.0),  # one of two parts
    ("7 May 2023", "7 May, 2023", 2, 1.0, 1.0),  # commas are dropped
    ("blue", "blue; since she said so", 3, 1.0, 1.0),  # category 3: the text before ';'
    ("That is not mentioned.", None, 5, 1.0, 1.0),  # adversarial: refusing is right
    ("Rex", None, 5, 0.0, 0.0),  # adversarial: answering is wrong
    # Porter stems, as LoCoMo's evaluation.py: inflections match (EM stays on the plain strings).
    ("She went running", "she runs", 4, 0.8, 0.0),
    ("painted sunsets", "painting a sunset", 2, 1.0, 0.0),
    ("adopting, campers", "adopted, camper", 1, 1.0, 0.0),
    # A category of a user's own file (outside 1-5, or 0 when it has none): plain F1, like 2 and 4.
    ("blue; since she said so", "blue", 0, 1 / 3, 0.0),  # no split at ";" outside category 3
    ("the red bowl", "a red bowl", 9, 1.0, 1.0),
])
def test_score_answer_follows_locomo_rules(pred, gold, category, f1, em):
    scores = score_answer(pred, gold, category)
    assert scores.f1 == pytest.approx(f1) and scores.em == em


def test_bleu1_clips_repeats_and_penalises_short_answers():
    assert bleu1("paris paris paris", "paris") == pytest.approx(1 / 3)
    assert bleu1("paris", "paris lima") == pytest.approx(0.36787944, rel=1e-6)  # exp(1 - 2/1)
    assert bleu1("", "paris") == 0.0


def test_locomo_reward_plugins_apply_the_category_rules():
    f1, em = get_reward("locomo_f1"), get_reward("locomo_em")
    completions = ["<answer>Paris</answer>", "Not mentioned.", "<answer>Rome</answer>", "x"]
    fields = dict(answer=["Paris, Lima", None, "Rome; or Milan", None], category=[1, 5, 3, 4])
    assert f1(completions, **fields) == [0.5, 1.0, 1.0, None]  # no gold outside category 5: not applicable
    assert em(completions, **fields) == [0.0, 1.0, 1.0, None]


def test_category_table_pools_questions_not_episodes():
    rows = [{"category": 4, "f1": 1.0, "em": 1.0, "bleu1": 1.0}] * 3 + [{"category": 5, "f1": 0.0, "em": 0.0, "bleu1": 0.0}]
    table = category_table(rows)
    assert table["all"] == {"f1": 0.75, "em": 0.75, "bleu1": 0.75, "n": 4.0}
    assert table["single-hop"]["n"] == 3.0 and table["adversarial"]["f1"] == 0.0 and "temporal" not in table


def test_f1_is_locomo_f1_score_on_stemmed_tokens():
    # LoCoMo's f1_score: normalize (commas, case, punctuation, a/an/the/and), stem, token F1.
    assert f1("The Dogs, and cats!", "dog cat") == 1.0
    assert f1("", "dog") == 0.0 and f1("dog", "") == 0.0
    assert f1("volunteering at shelters", "volunteered at a shelter") == pytest.approx(1.0)


def test_unknown_categories_get_their_number_as_name():
    assert category_name(4) == "single-hop" and category_name(7) == "7"
    table = category_table([{"category": 7, "f1": 0.5, "em": 0.0, "bleu1": 0.5}])
    assert table["7"]["f1"] == 0.5
