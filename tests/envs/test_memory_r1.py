"""Memory-R1 envs end to end with scripted managers and hand-written answers."""

from __future__ import annotations

import re
import statistics

import pytest

from memrl.actions import ToolCall, render_tool_call
from memrl.env.registry import make
from memrl.data.conversations import heuristic_bank, memory_key
from memrl.data.dialogues import is_drop
from memrl.data.locomo import LOCOMO_FILE
from memrl.data.paths import data_folder
from memrl.errors import UserError
from memrl.scoring.answerers import NOT_MENTIONED, extractive_answerer

MANAGER, ANSWER = "memrl/MemoryR1-Manager-v0", "memrl/MemoryR1-Answer-v0"


def calls(*tool_calls):
    return "".join(render_tool_call(c) for c in tool_calls)


def careful(env):
    """ADD a new subject, UPDATE it when it changes, DELETE it when it is given up."""
    out = []
    for fact in env.steps[env.position][1]["facts"]:
        same = [e for e in env.memory.entries() if memory_key(e.content) == memory_key(fact)]
        if is_drop(fact):
            out.append(ToolCall("DELETE", {"memory_id": same[0].id}) if same else ToolCall("NOOP", {}))
        elif same:
            out.append(ToolCall("UPDATE", {"memory_id": same[0].id, "content": fact}))
        else:
            out.append(ToolCall("ADD", {"content": fact}))
    return calls(*out)


def add_everything(env):
    return calls(*(ToolCall("ADD", {"content": f}) for f in env.steps[env.position][1]["facts"]))


def noop(env):
    return calls(ToolCall("NOOP", {}))


def play(env, policy, task):
    """Total reward of one episode (non-agent modes reply OK once)."""
    env.reset(seed=0, options={"task": task})
    total = 0.0
    while not env.done:
        _, reward, *_ = env.step(policy(env) if env.memory_mode == "agent" else "OK")
        total += reward
    return total


@pytest.fixture(scope="module")
def tasks():
    return make(MANAGER).make_tasks("test", 25, seed=0)


def test_careful_manager_beats_add_only_which_beats_noop(tasks):
    env = make(MANAGER)
    score = {name: statistics.mean(play(env, p, t) for t in tasks) for name, p in
             [("careful", careful), ("add", add_everything), ("noop", noop)]}
    # UPDATE/DELETE matter: a bank with stale facts answers "now" and adversarial questions wrong.
    assert score["careful"] > score["add"] + 0.1 > score["noop"] + 0.2, score


def test_the_manager_expert_uses_only_shown_ids_and_matches_the_careful_manager(tasks):
    env = make(MANAGER)
    expert = [play(env, lambda e: e.expert_reply(), t) for t in tasks]
    careful_scores = [play(env, careful, t) for t in tasks]
    # The expert sees only the related memories the prompt shows; the careful policy reads the whole
    # store. On these tasks the same-subject memory is always among those shown.
    assert statistics.mean(expert) == pytest.approx(statistics.mean(careful_scores))
    assert statistics.mean(expert) > 0.85
    env.reset(seed=0, options={"task": tasks[0]})
    while not env.done:
        reply = env.expert_reply()
        shown = env.context.to_messages()[-1]["content"]
        for memory_id in re.findall(r'"memory_id": "(m\d+)"', reply):
            assert f"[{memory_id}]" in shown
        env.step(reply)
    assert set(env.outcome["bank"]) == set(heuristic_bank(tasks[0]))


def test_the_answer_expert_teaches_the_format_and_scores_high():
    env = make(ANSWER)
    scores = []
    for task in env.make_tasks("test", 30, seed=0):
        env.reset(seed=0, options={"task": task})
        reply = env.expert_reply()
        assert reply.startswith("<think>Relevant: [") and "<answer>" in reply
        _, reward, term, _, info = env.step(reply)
        assert term and set(info["outcome"]["selected"]) <= {m["id"] for m in task["memories"]}
        scores.append(reward)
    assert statistics.mean(scores) > 0.9, scores


def test_both_memory_r1_envs_give_sft_warm_start_demonstrations(tasks):
    from memrl.train.warmstart import expert_demonstrations

    manager = expert_demonstrations(lambda: make(MANAGER), tasks[:2])
    assert len(manager) == sum(len(make_steps(t)) for t in tasks[:2])
    assert all(r["completion"][0]["content"].startswith("<tool_call>") for r in manager)
    answer = expert_demonstrations(lambda: make(ANSWER), make(ANSWER).make_tasks("train", 3, seed=0))
    assert len(answer) == 3 and "<answer>" in answer[0]["completion"][0]["content"]


def make_steps(task):
    return [t for s in task["sessions"] for t in s["turns"] if t["facts"]]


def test_reward_comes_at_the_end_and_every_turn_is_a_new_segment(tasks):
    env = make(MANAGER)
    messages, info = env.reset(seed=0, options={"task": tasks[0]})
    assert env.max_turns == len(env.steps) > 1 and "New facts:" in messages[-1]["content"]
    assert all(name in messages[0]["content"] for name in ("ADD", "UPDATE", "DELETE", "NOOP"))
    for turn in range(len(env.steps)):
        messages, reward, term, trunc, info = env.step(careful(env))
        last = turn == len(env.steps) - 1
        assert term == last and not trunc and (last or info["context"] == "rewrite")
        assert (reward > 0) == last
    outcome = info["outcome"]
    assert outcome["score"] == reward and outcome["n_questions"] == len(tasks[0]["qa"])
    assert set(outcome["bank"]) == set(heuristic_bank(tasks[0]))  # the careful manager is the Mem0 rule
    assert info["memory_ops"]["add"] >= 1


def test_related_memories_are_shown_with_their_ids(tasks):
    env = make(MANAGER)
    env.reset(seed=0, options={"task": tasks[0]})
    env.step(add_everything(env))
    # Find a later fact about a subject that is already stored: its memory must be shown.
    while env.position < len(env.steps):
        fact = env.steps[env.position][1]["facts"][0]
        stored = [e for e in env.memory.entries() if memory_key(e.content) == memory_key(fact)]
        if stored:
            assert f"[{stored[0].id}] {stored[0].content}" in env.context.to_messages()[-1]["content"]
            return
        env.step(add_everything(env))
    pytest.skip("no subject repeats in this conversation")


def test_bad_tool_calls_are_shown_and_the_episode_goes_on(tasks):
    env = make(MANAGER)
    env.reset(seed=0, options={"task": tasks[0]})
    _, _, term, _, info = env.step(calls(ToolCall("DELETE", {"memory_id": "m99"})))
    assert not term and env.memory.ops["error"] == 1 and env.position == 1


def test_baselines_build_the_bank_without_the_policy(tasks):
    task = tasks[0]
    heuristic = make(MANAGER, memory_mode="heuristic")
    heuristic.reset(seed=0, options={"task": task})
    assert heuristic.max_turns == 1 and not heuristic.tool_specs  # memory tools hidden
    assert [e.content for e in heuristic.memory.entries()] != []
    assert sorted(e.content for e in heuristic.memory.entries()) == sorted(heuristic_bank(task))
    _, reward, term, _, info = heuristic.step("OK")
    assert term and reward == info["outcome"]["score"] > 0
    none = make(MANAGER, memory_mode="none")
    none.reset(seed=0, options={"task": task})
    _, _, _, _, info = none.step("OK")
    assert info["outcome"]["bank"] == [] and info["outcome"]["f1/single-hop"] == 0.0
    retrieval = make(MANAGER, memory_mode="retrieval")
    retrieval.reset(seed=0, options={"task": task})
    assert len(retrieval.memory) == sum(len(s["turns"]) for s in task["sessions"])  # every raw turn


def test_an_answer_ends_the_episode_early_and_scores_the_bank_as_is(tasks):
    env = make(MANAGER)
    env.reset(seed=0, options={"task": tasks[0]})
    _, reward, term, _, info = env.step("<answer>done</answer>")
    assert term and info["outcome"]["ended_early"] and reward == info["outcome"]["score"]


def test_pluggable_answerer_gets_the_question_and_the_bank(tasks):
    seen = []

    def answerer(question, memories):
        seen.append((question, memories))
        return NOT_MENTIONED

    env = make(MANAGER, answerer=answerer, memory_mode="heuristic", categories=[5])
    env.reset(seed=0, options={"task": tasks[0]})
    _, reward, *_ = env.step("OK")
    assert reward == 1.0 and seen and all(isinstance(m, list) for _, m in seen)


@pytest.mark.parametrize("question, memories, answer", [
    ("What pet does Ann have now?", ["Ann lives in Oslo (said on 1 May, 2023).", "Ann has a pet cat (said on 2 May, 2023)."], "cat"),
    ("What pet does Ann have now?", ["Ann lives in Oslo (said on 1 May, 2023)."], NOT_MENTIONED),  # only the name matches
    ("When did Ann move to Oslo?", ["Ann lives in Oslo (said on 1 May, 2023)."], "1 May, 2023"),
    ("Which pets has Ann had?", ["Ann has a pet cat (said on 2 May, 2023)."], "cat"),  # plural matches singular
    ("Where does Ann live now?", [], NOT_MENTIONED),
])
def test_extractive_answerer(question, memories, answer):
    assert extractive_answerer(question, memories) == answer


def test_bad_arguments_are_user_errors():
    with pytest.raises(UserError, match="source"):
        make(MANAGER, source="locomoo")
    with pytest.raises(UserError, match="categories"):
        make(ANSWER, categories=[7])
    with pytest.raises(UserError, match="sessions"):
        make(MANAGER, sessions=None)  # only LoCoMo conversations can be taken whole
    with pytest.raises(UserError, match="answerer"):
        make(MANAGER, answerer="gpt")
    with pytest.raises(UserError, match="does not support memory_mode"):
        make(ANSWER, memory_mode="heuristic")


# -- the answer agent ------------------------------------------------------------------------------
def test_answer_env_scores_by_category_and_records_the_selection():
    env = make(ANSWER)
    tasks = env.make_tasks("test", 40)
    task = next(t for t in tasks if t["category"] == 4)
    messages, _ = env.reset(seed=0, options={"task": task})
    assert task["question"] in messages[-1]["content"] and 0 < len(task["memories"]) <= 60
    right = next(m["id"] for m in task["memories"] if task["answer"] in m["content"])
    _, reward, term, _, info = env.step(f"<think>Relevant: [{right}, m999]</think><answer>{task['answer']}</answer>")
    assert term and reward == 1.0 and info["outcome"]["selected"] == [right]  # unknown ids dropped
    adversarial = next(t for t in tasks if t["category"] == 5)
    env.reset(seed=0, options={"task": adversarial})
    _, reward, *_ = env.step(f"<answer>{adversarial['adversarial_answer']}</answer>")
    assert reward == 0.0
    env.reset(seed=0, options={"task": adversarial})
    _, reward, *_ = env.step("<answer>Not mentioned.</answer>")
    assert reward == 1.0


def test_an_unanswered_question_counts_as_zero_in_its_category():
    from memrl.eval.metrics import by_category

    env = make(ANSWER, max_turns=1)
    task = next(t for t in env.make_tasks("test", 40) if t["category"] == 2)
    env.reset(seed=0, options={"task": task})
    *_, truncated, info = env.step("I am not sure.")  # no <answer>: the turn limit ends it
    assert truncated and info["outcome"]["answered"] is False and info["outcome"]["score"] == 0.0
    assert info["outcome"]["per_question"] == [{"category": 2, "category_name": "temporal", "f1": 0.0, "em": 0.0, "bleu1": 0.0}]
    env.reset(seed=0, options={"task": task})
    answered = env.step(f"<answer>{task['answer']}</answer>")[-1]["outcome"]
    pooled = by_category([{"per_question": info["outcome"]["per_question"]}, {"per_question": answered["per_question"]}])
    assert pooled["temporal"]["n"] == 2 and pooled["temporal"]["em"] == 0.5


def test_answer_env_none_mode_hides_the_memories():
    env = make(ANSWER, memory_mode="none")
    task = env.make_tasks("train", 1)[0]
    messages, _ = env.reset(seed=0, options={"task": task})
    assert "(no memories)" in messages[-1]["content"]


def test_answer_tasks_are_split_disjoint_by_conversation():
    env = make(ANSWER)
    train = {t["conversation_id"] for t in env.make_tasks("train", 30)}
    test = {t["conversation_id"] for t in env.make_tasks("test", 30)}
    assert train and test and not train & test


@pytest.mark.skipif(not (data_folder() / LOCOMO_FILE).is_file(), reason="no LoCoMo file (../shared/data is absent)")
def test_locomo_source_uses_the_paper_split():
    answer = make(ANSWER, source="locomo")
    assert len(answer.make_tasks("train", 1000)) == 152
    assert len(answer.make_tasks("validation", 1000)) == 81
    manager = make(MANAGER, source="locomo", sessions=4)
    windows = manager.make_tasks("train", 100)
    assert [w["id"] for w in windows][0] == "conv-26/s1-4" and all(w["qa"] for w in windows)
    manager.reset(seed=0, options={"task": windows[0]})
    assert manager.max_turns == sum(1 for s in windows[0]["sessions"] for t in s["turns"] if t["facts"])
    whole = make(MANAGER, source="locomo", sessions=None).make_tasks("test", 100)
    assert len(whole) == 8 and sum(len(c["qa"]) for c in whole) == 1307  # the ids the answer env's banks use
    heuristic = make(MANAGER, source="locomo", sessions=4, memory_mode="heuristic")
    heuristic.reset(seed=0, options={"task": windows[0]})
    _, reward, term, *_ = heuristic.step("OK")
    assert term and 0.0 <= reward <= 1.0


@pytest.mark.slow  # building the tiny model alone takes ~10 s on 2 shared cores
def test_llm_answerer_runs_a_frozen_model_greedily(tasks):
    from memrl.scoring.answerers import LLMAnswerer
    from memrl.models import tiny_model

    answerer = LLMAnswerer(*tiny_model(0), max_new_tokens=4)
    first = answerer("Where does Ann live now?", ["Ann lives in Oslo (said on 1 May, 2023)."])
    assert isinstance(first, str) and first == answerer("Where does Ann live now?", ["Ann lives in Oslo (said on 1 May, 2023)."])
    env = make(MANAGER, answerer=answerer, memory_mode="heuristic")
    env.reset(seed=0, options={"task": tasks[0]})
    _, reward, term, *_ = env.step("OK")
    assert term and 0.0 <= reward <= 1.0


def test_answer_env_reads_the_banks_a_manager_run_left(tasks, tmp_path):
    from memrl.rollout.jsonl import save_trajectories
    from memrl.rollout.segments import Trajectory

    manager = make(MANAGER)
    episodes = []
    for k, task in enumerate(tasks[:2]):
        play(manager, add_everything, task)  # an add-only bank keeps stale facts: unlike the heuristic one
        episodes.append(Trajectory(task["id"], k, 0, task, outcome=dict(manager.outcome)))
    path = save_trajectories(tmp_path / "manager.jsonl", episodes)
    answer = make(ANSWER, bank=str(path))
    questions = answer.make_tasks("test", 5)
    assert {q["conversation_id"] for q in questions} <= {tasks[0]["id"], tasks[1]["id"]}
    bank = set(episodes[0].outcome["bank"])
    assert bank != set(heuristic_bank(tasks[0]))
    assert all(m["content"] in bank for q in questions if q["conversation_id"] == tasks[0]["id"] for m in q["memories"])
    with pytest.raises(UserError, match="no manager bank for conversation"):
        answer.make_tasks("test", 100)  # needs conversations the manager never saw
    with pytest.raises(UserError, match="no trajectory file"):
        make(ANSWER, bank=str(tmp_path / "missing.jsonl"))


def test_memory_ops_count_the_policy_not_the_env_lookups(tasks):
    env = make(MANAGER)
    env.reset(seed=0, options={"task": tasks[0]})
    while not env.done:
        _, _, _, _, info = env.step(add_everything(env))
    assert "retrieve" not in info["memory_ops"] and info["memory_ops"]["add"] == tasks[0]["n_facts"]


# -- a conversation file of your own (LoCoMo's layout, no observation) ------------------------------
def test_manager_reads_your_own_conversations_and_the_heuristic_scores_above_0(tmp_path):
    from tests.data.test_locomo import write_own

    path = str(write_own(tmp_path))
    env = make(MANAGER, source="locomo", path=path, memory_mode="heuristic")
    (task,) = env.make_tasks("test", 10)
    assert env.make_tasks("train", 10) == [task]  # a file of your own is not split
    assert task["id"] == "chat-1" and task["n_facts"] == 4 and len(task["qa"]) == 4  # whole: sessions "auto"
    env.reset(seed=0, options={"task": task})
    _, reward, term, _, info = env.step("OK")
    rows = {r["category_name"]: r for r in info["outcome"]["per_question"]}
    assert term and reward > 0.3 and set(rows) == {"single-hop", "7", "0"}
    assert rows["0"]["f1"] == 1.0  # "When ...?" finds the session date the fact carries
    assert rows["7"]["f1"] == pytest.approx(0.4)  # an unknown category: plain F1 ("started cello community class")


def test_manager_agent_episode_and_settings_on_your_own_file(tmp_path):
    from tests.data.test_locomo import write_own

    path = str(write_own(tmp_path))
    env = make(MANAGER, source="locomo", path=path, categories=[7])
    (task,) = env.make_tasks("validation", 5)
    env.reset(seed=0, options={"task": task})
    assert env.max_turns == 4 and "Leo adopted a puppy named Biscuit" in env.context.messages[-1].content
    total = play(env, add_everything, task)
    assert env.outcome["n_questions"] == 1 and total == pytest.approx(0.4)
    windows = make(MANAGER, source="locomo", path=path, sessions=1).make_tasks("test", 5)
    assert [w["id"] for w in windows] == ["chat-1/s1-1", "chat-1/s2-2"]  # evidence-less questions go to the last
    assert [len(w["qa"]) for w in windows] == [2, 2]
    with pytest.raises(UserError, match="use it with source 'locomo'"):
        make(MANAGER, path=path)
    with pytest.raises(UserError, match="integers of your file's own"):
        make(ANSWER, source="locomo", path=path, categories=["single-hop"])


def test_answer_env_reads_your_own_conversations(tmp_path):
    from tests.data.test_locomo import write_own

    env = make(ANSWER, source="locomo", path=str(write_own(tmp_path)))
    tasks = env.make_tasks("test", 10)
    assert [t["category"] for t in tasks] == [4, 4, 7, 0]
    for task in tasks:
        env.reset(seed=0, options={"task": task})
        _, reward, term, *_ = env.step(env.expert_reply())
        assert term and reward == 1.0
    assert any("Biscuit" in m["content"] for m in tasks[0]["memories"])


def test_an_extractor_of_your_own_feeds_the_manager(tmp_path):
    from tests.data.test_locomo import write_own

    path = str(write_own(tmp_path))
    env = make(MANAGER, source="locomo", path=path, extractor="tests.data.test_extract:shout", memory_mode="heuristic")
    (task,) = env.make_tasks("test", 1)
    assert task["n_facts"] == 5 and task["sessions"][0]["turns"][0]["facts"] == ["MAYA: Hi Leo! How are you? (said on 3 March, 2024)."]


@pytest.mark.skipif(not (data_folder() / LOCOMO_FILE).is_file(), reason="no LoCoMo file (../shared/data is absent)")
def test_locomos_own_file_given_by_path_keeps_the_paper_split():
    answer = make(ANSWER, source="locomo", path=str(data_folder() / LOCOMO_FILE))
    assert len(answer.make_tasks("train", 1000)) == 152
    windows = make(MANAGER, source="locomo", path=str(data_folder() / LOCOMO_FILE)).make_tasks("train", 100)
    assert windows[0]["id"] == "conv-26/s1-3"  # LoCoMo's windows of 3 sessions, as without path


@pytest.mark.parametrize("how", ["data_dir", "MEMRL_DATA"])
def test_locomo_is_found_by_data_dir_or_memrl_data(how, tmp_path, monkeypatch):
    import json

    from tests.data.test_download import fake_locomo

    (tmp_path / "locomo").mkdir()
    (tmp_path / "locomo" / "locomo10.json").write_text(json.dumps(fake_locomo()))
    monkeypatch.setenv("MEMRL_DATA", str(tmp_path) if how == "MEMRL_DATA" else str(tmp_path / "elsewhere"))
    where = {"data_dir": str(tmp_path)} if how == "data_dir" else {}
    assert [t["conversation_id"] for t in make(ANSWER, source="locomo", **where).make_tasks("train", 3)] == ["conv-26"] * 3
    (window,) = make(MANAGER, source="locomo", **where).make_tasks("validation", 5)
    assert window["id"] == "conv-30"  # one session, so one whole window
    assert window["n_facts"] == 1  # no observation in the made-up file: the rule-based extractor's fact
    with pytest.raises(UserError, match="LoCoMo file not found in .*memrl data download locomo"):
        make(MANAGER, source="locomo", data_dir=str(tmp_path / "none")).make_tasks("train", 1)


def test_decisions_bench_counts_the_policys_ops_against_the_careful_managers(tasks, tmp_path, capsys):
    import importlib.util
    from pathlib import Path

    from memrl.rollout.jsonl import save_trajectories
    from memrl.rollout.segments import Trajectory

    spec = importlib.util.spec_from_file_location("mr1_decisions", Path(__file__).parents[2] / "bench" / "memory_r1_decisions.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)

    def episodes(policy, kwargs):
        env, out = make(MANAGER, **kwargs), []
        for k, task in enumerate(tasks[:6]):
            env.reset(seed=0, options={"task": task})
            turns = [{"turn": 0, "policy_text": None}]  # the engine logs the reset first
            while not env.done:
                reply = policy(env)
                turns.append({"policy_text": reply})
                env.step(reply)
            out.append(Trajectory(task["id"], k, 0, task, turns=turns))
        return save_trajectories(tmp_path / f"{policy.__name__}.jsonl", out)

    kwargs = {"sessions": 2, "tool_prompt": "compact"}
    expert = bench.tally(str(episodes(lambda env: env.expert_reply(), kwargs)), kwargs)[0]
    assert expert[("UPDATE", "UPDATE")] > 0 and expert[("ADD", "ADD")] > 0
    assert all(want == got for want, got in expert)  # the expert agrees with itself, ids included

    adds, _, turns = bench.tally(str(episodes(add_everything, kwargs)), kwargs)
    assert adds[("UPDATE", "ADD")] > 0 and {got for _, got in adds} == {"ADD"}  # where it should have updated, it added
    assert sum(adds.values()) == sum(expert.values()) and turns > 0  # one decision per fact, whatever the bank

    def wrong_target(env):  # UPDATE / DELETE the other shown memory wherever the expert updates one
        text = env.expert_reply()
        for i in env.shown:
            other = next((j for j in env.shown if j != i), "m999")
            text = text.replace(f'"memory_id": "{i}"', f'"memory_id": "@{other}"')
        return text.replace('"@', '"')

    wrong = bench.tally(str(episodes(wrong_target, kwargs)), kwargs)[0]
    assert wrong[("UPDATE", "UPDATE other id")] > 0 and not wrong[("UPDATE", "UPDATE")]
    assert bench.main([str(tmp_path / "wrong_target.jsonl")]) == 0
    assert capsys.readouterr().out.strip().endswith("update_right_fraction=0.000")
    assert bench.main([str(tmp_path / "x.jsonl"), "--env_kwargs", "{bad"]) == 2
