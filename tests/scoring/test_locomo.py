"""LoCoMo's scoring rules (memrl.scoring.locomo) and the reward plugins built on them."""

from __future__ import annotations

import pytest

from memrl.scoring import get_reward
from memrl.scoring.locomo import bleu1, category_table, score_answer


@pytest.mark.parametrize("pred, gold, category, f1, em", [
    ("Paris", "Paris", 4, 1.0, 1.0),  # plain match
    ("the city of Paris", "Paris", 4, 0.5, 0.0),  # partial credit, articles dropped
    ("Lima, Paris", "Paris, Lima", 1, 1.0, 0.0),  # multi-hop: order of the parts does not matter
    ("Paris", "Paris, Lima", 1, 0.5, 0.0),  # one of two parts
    ("7 May 2023", "7 May, 2023", 2, 1.0, 1.0),  # commas are dropped
    ("blue", "blue; since she said so", 3, 1.0, 1.0),  # category 3: the text before ';'
    ("That is not mentioned.", None, 5, 1.0, 1.0),  # adversarial: refusing is right
    ("Rex", None, 5, 0.0, 0.0),  # adversarial: answering is wrong
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
