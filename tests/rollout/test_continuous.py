"""Continuous batching (HFBackend(continuous=True)) records what turn-synchronous generate
records: the same trajectories (greedy), ids and log-probs a teacher-forced forward gives back,
the same limits; and replies of different lengths no longer wait for each other."""

from __future__ import annotations

import copy

import pytest
import torch

from memrl.env.registry import make
from memrl.rollout import RolloutEngine, RolloutLimits, SamplingParams
from memrl.rollout.backends.continuous import SlotBatch, warp
from memrl.rollout.backends.hf import HFBackend
from tests.rollout.test_engine import NotesEnv

FACTS = lambda: make("memrl/FactRecall-v0")  # noqa: E731  (rewrite, then append turns)
NOTES = lambda: NotesEnv()  # noqa: E731  (append-only, up to 6 turns)


@pytest.fixture(scope="module")
def lively(tiny):
    """The tiny model with its weights scaled up: its greedy replies vary with the prompt (the
    plain one repeats one token), so that with ``every`` stop ids they end at different lengths."""
    model, tokenizer = tiny
    model = copy.deepcopy(model)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" not in name:
                p.mul_(8)
    return model, tokenizer


def backend(model, tokenizer, *, continuous: bool, every: int = 0, **kwargs) -> HFBackend:
    """An hf backend; ``every`` > 0 makes one token id in ``every`` a stop token, so that the
    tiny random model's replies end after a few tokens, at different lengths per row."""
    b = HFBackend(model, tokenizer, continuous=continuous, **kwargs)
    if every:
        b.stop_ids.update(range(5, len(tokenizer), every))  # the same set the slot batch reads
    return b


def play(model, tokenizer, *, continuous, env=FACTS, tasks=None, greedy=False, every=7, seed=7, group=3,
         limits=RolloutLimits(max_new_tokens=24, max_context_tokens=2048), top_p=1.0, top_k=0, **kwargs):
    b = backend(model, tokenizer, continuous=continuous, every=every, **kwargs)
    engine = RolloutEngine(b, limits=limits, sampling=SamplingParams(
        max_new_tokens=limits.max_new_tokens, temperature=0.0 if greedy else 0.8, top_p=top_p, top_k=top_k, seed=seed))
    tasks = tasks or env().make_tasks("train", 2, 0)
    return engine.rollout(env, tasks, group_size=group, seed=11), engine


def tokens(trajs):
    return [[(s.ids, s.completion_mask) for s in t.segments] for t in trajs]


def structure(trajs):
    keys = ("turns", "segments", "policy_tokens", "env_tokens", "truncated", "finish_length", "template_breaks")
    return [({k: t.metrics[k] for k in keys}, [turn["context"] for turn in t.turns], t.reward) for t in trajs]


def logp_gaps(a, b):
    return [abs(x - y) for ta, tb in zip(a, b) for sa, sb in zip(ta.segments, tb.segments) for x, y in zip(sa.logprobs, sb.logprobs)]


def recompute_gaps(model, trajs, temperature):
    """|recorded - teacher-forced| log-prob of every policy token: one forward per segment."""
    gaps = []
    for t in trajs:
        for seg in t.segments:
            ids = torch.tensor([seg.ids])
            with torch.no_grad():
                logits = model(ids).logits[0].float() / temperature
            logp = torch.log_softmax(logits[:-1], -1).gather(1, ids[0, 1:, None]).squeeze(1)
            n = len(seg.prompt_ids)
            for j, (lp, m) in enumerate(zip(seg.logprobs, seg.completion_mask)):
                if m:
                    gaps.append(abs(lp - float(logp[n + j - 1])))
    return gaps


# -- the same trajectories as turn-synchronous generate -------------------------------------------
@pytest.mark.parametrize("env", [FACTS, NOTES], ids=["rewrite+append", "append-only"])
def test_greedy_continuous_equals_turn_synchronous(lively, env):
    model, tokenizer = lively
    tasks = [{"id": f"notes-{i}", "answer": "done"} for i in range(2)] if env is NOTES else None
    sync, _ = play(model, tokenizer, continuous=False, env=env, tasks=tasks, greedy=True)
    cont, engine = play(model, tokenizer, continuous=True, env=env, tasks=tasks, greedy=True)
    assert tokens(cont) == tokens(sync)
    assert structure(cont) == structure(sync)
    assert max(logp_gaps(cont, sync)) < 1e-4  # float32: the order of sums differs only
    lengths = {len(r) for t in cont for s in t.segments for r in _split(s)}
    assert len(lengths) > 3  # replies of many lengths shared the decode batch
    assert engine.stats.policy_tokens == sum(t.metrics["policy_tokens"] for t in cont)


@pytest.mark.parametrize(
    "limits",
    [
        RolloutLimits(max_new_tokens=24, max_context_tokens=260),  # the growing context hits the cap
        RolloutLimits(max_new_tokens=24, max_episode_tokens=30),  # policy tokens over the episode
        RolloutLimits(max_new_tokens=8, max_turns=2),  # engine's turn cap
    ],
    ids=["context", "episode", "turns"],
)
def test_limits_end_episodes_as_turn_synchronous_does(lively, limits):
    model, tokenizer = lively
    tasks = [{"id": f"notes-{i}", "answer": "done"} for i in range(3)]
    sync, _ = play(model, tokenizer, continuous=False, env=NOTES, tasks=tasks, greedy=True, limits=limits, every=11)
    cont, _ = play(model, tokenizer, continuous=True, env=NOTES, tasks=tasks, greedy=True, limits=limits, every=11)
    assert tokens(cont) == tokens(sync)
    assert structure(cont) == structure(sync)
    assert all(t.metrics["truncated"] for t in cont)
    for t in cont:
        assert all(len(s) <= limits.max_context_tokens for s in t.segments)
        assert t.metrics["policy_tokens"] <= limits.max_episode_tokens


# -- exact tokens -----------------------------------------------------------------------------------
@pytest.mark.parametrize("env", [FACTS, NOTES], ids=["rewrite+append", "append-only"])
def test_sampled_logprobs_equal_a_teacher_forced_recompute(tiny, env):
    model, tokenizer = tiny
    tasks = [{"id": f"notes-{i}", "answer": "done"} for i in range(2)] if env is NOTES else None
    trajs, engine = play(model, tokenizer, continuous=True, env=env, tasks=tasks, top_p=0.9, top_k=50)
    gaps = recompute_gaps(model, trajs, 0.8)
    assert len(gaps) == engine.stats.policy_tokens
    assert max(gaps) < 1e-4


def test_bf16_logprobs_stay_within_rounding_of_a_recompute(tiny):
    model, tokenizer = tiny
    model = copy.deepcopy(model).to(torch.bfloat16)
    trajs, _ = play(model, tokenizer, continuous=True, env=NOTES, tasks=[{"id": "notes-0", "answer": "done"}])
    gaps = recompute_gaps(model, trajs, 0.8)
    # bf16 keeps ~3 significant digits; a decode step and a full forward round differently
    # (stated tolerance, as for K/V reuse: mean < 0.05 nats, none over 0.5).
    assert sum(gaps) / len(gaps) < 0.05 and max(gaps) < 0.5


def test_a_seed_reproduces_the_rollout_and_another_changes_it(tiny):
    model, tokenizer = tiny
    a, _ = play(model, tokenizer, continuous=True, seed=3)
    b, _ = play(model, tokenizer, continuous=True, seed=3)
    c, _ = play(model, tokenizer, continuous=True, seed=4)
    assert tokens(a) == tokens(b) and logp_gaps(a, b) == [0.0] * len(logp_gaps(a, b))
    assert tokens(a) != tokens(c)
    # The G samples of a task differ from each other (each episode-turn draws its own stream).
    assert len({str(tokens([t])) for t in a if t.group == 0}) > 1


def test_samples_do_not_depend_on_the_batch_they_shared(tiny):
    model, tokenizer = tiny
    together, _ = play(model, tokenizer, continuous=True, env=NOTES, tasks=[{"id": "n", "answer": "done"}], group=3)
    capped, _ = play(model, tokenizer, continuous=True, env=NOTES, tasks=[{"id": "n", "answer": "done"}], group=3,
                     batch_size=1)  # one row at a time: the others queue
    assert tokens(together) == tokens(capped)


# -- what continuous batching is for --------------------------------------------------------------
def test_rows_join_while_others_decode(tiny):
    model, tokenizer = tiny
    cont, engine = play(model, tokenizer, continuous=True, env=NOTES, tasks=[{"id": "n", "answer": "done"}], group=6)
    slots = engine.backend.slots
    assert slots.tokens == engine.stats.policy_tokens  # no episode was cut: every sampled token is kept
    # Turn-synchronous decoding of these very replies would run each turn to its longest one;
    # here a row never waits: fewer steps, and most rows computed are sampled tokens.
    sync_steps = sum(max(len(r) for r in rows) for rows in _turns_by_call(cont))
    assert slots.steps < 0.8 * sync_steps
    assert slots.tokens / slots.row_steps > 0.6


def _turns_by_call(trajs):
    """The replies of turn k of every episode (what one synchronous call decoded together)."""
    replies = [[r for s in t.segments for r in _split(s)] for t in trajs]
    return [[r[k] for r in replies if k < len(r)] for k in range(max(map(len, replies)))]


def _split(seg):
    out, cur = [], []
    for i, m in zip(seg.completion_ids, seg.completion_mask):
        if m:
            cur.append(i)
        elif cur:
            out.append(cur)
            cur = []
    return out + ([cur] if cur else [])


def test_append_turns_prefill_only_what_the_env_added(tiny):
    model, tokenizer = tiny
    trajs, engine = play(model, tokenizer, continuous=True, env=NOTES, tasks=[{"id": "n", "answer": "done"}], kv_reuse=False)
    store = engine.backend.slots.store
    assert any(t.metrics["turns"] > 2 for t in trajs)
    assert store.prefilled_tokens < 0.5 * store.reused_tokens


# -- the slot batch on its own ----------------------------------------------------------------------
def test_requests_joining_at_any_time_get_what_they_get_alone(lively):
    model, tokenizer = lively
    b = backend(model, tokenizer, continuous=True, every=13, batch_size=3)
    alone = backend(model, tokenizer, continuous=False, every=13, kv_reuse=False)
    prompts = [[5], list(range(10, 30)), list(range(40, 45)), list(range(100, 400)), list(range(7, 60)), [9, 8]]
    greedy = SamplingParams(max_new_tokens=12, temperature=0.0)
    results, step = {}, 0
    pending = list(enumerate(prompts))
    while pending or b.slots.busy:
        if pending and step % 2 == 0:  # one new request every other step; the 300-token one
            key, prompt = pending.pop(0)  # joins a batch narrower than itself
            b.submit(key, prompt, greedy)
        results.update(b.step())
        step += 1
        assert len(b.slots.rows) <= 3
    for key, prompt in enumerate(prompts):
        [expected] = alone.generate([prompt], greedy)
        assert results[key].token_ids == expected.token_ids, key
        assert results[key].finish_reason == expected.finish_reason
        assert max(abs(x - y) for x, y in zip(results[key].logprobs, expected.logprobs)) < 1e-4


def test_freed_rows_are_dropped_and_the_view_narrows(tiny):
    model, tokenizer = tiny
    slots = backend(model, tokenizer, continuous=True).slots
    for key, n in enumerate([400, 5, 6, 7]):
        slots.submit(key, list(range(20, 20 + n)), SamplingParams(max_new_tokens=4 if key == 0 else 30, temperature=0.0))
    with torch.no_grad():
        while slots.busy:
            slots.step()
            if slots.steps == 5:  # the 400-token row ended: attention reads the short rows only
                assert slots.end - slots.start < 50
    assert slots.steps <= 30


def test_warp_equals_transformers_top_k_then_top_p():
    from transformers import TopKLogitsWarper, TopPLogitsWarper

    scores = torch.randn(4, 1000, generator=torch.Generator().manual_seed(0)) * 3
    for k, p in [(0, 0.9), (50, 1.0), (20, 0.5), (0, 1.0)]:
        expected = scores.clone()
        if k:
            expected = TopKLogitsWarper(k)(None, expected)
        if p < 1:
            expected = TopPLogitsWarper(p)(None, expected)
        assert torch.equal(warp(scores.clone(), k, p), expected)


def test_a_model_without_plain_kv_keeps_generate():
    from transformers import MistralConfig, MistralForCausalLM

    from memrl.models import tiny_tokenizer

    small = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1)
    tok = tiny_tokenizer()
    model = MistralForCausalLM(MistralConfig(sliding_window=8, vocab_size=len(tok), **small))
    assert not HFBackend(model, tok, continuous=True).streaming


def test_the_progress_bar_counts_finished_episodes(tiny, capsys):
    model, tokenizer = tiny
    engine = RolloutEngine(backend(model, tokenizer, continuous=True), limits=RolloutLimits(max_new_tokens=8),
                           sampling=SamplingParams(max_new_tokens=8, seed=0), progress="rollout")
    engine.rollout(FACTS, FACTS().make_tasks("train", 2, 0), group_size=2, seed=0)
    err = capsys.readouterr().err
    assert "rollout" in err and "4/4" in err and "tok_s" in err


def test_slot_batch_is_emptied_with_the_cache(tiny):
    model, tokenizer = tiny
    b = backend(model, tokenizer, continuous=True)
    b.submit("a", [1, 2, 3], SamplingParams(max_new_tokens=50, temperature=0.0))
    b.step()
    assert b.slots.busy
    b.sync_weights(model)
    assert not b.slots.busy and not b.slots.store.entries
    assert isinstance(b.slots, SlotBatch)


def test_a_continuous_rollout_sets_the_model_up_once_not_per_token(tiny):
    """Eval mode, no grad and bf16 autocast are entered once per rollout: entered at every decode
    step they walked every module twice a token (25% of a CPU rollout, py-spy). The model leaves
    the rollout in the mode it came in, and a direct backend.step() outside a rollout still runs
    in eval mode without grad."""
    model, tokenizer = tiny
    model = copy.deepcopy(model)
    model.train()
    calls, modes = [], []
    train = model.train

    def counting_train(mode=True):
        calls.append(mode)
        return train(mode)

    model.train = counting_train
    original_forward = model.forward

    def recording_forward(*args, **kwargs):
        modes.append((model.training, torch.is_grad_enabled()))
        return original_forward(*args, **kwargs)

    model.forward = recording_forward
    trajs, engine = play(model, tokenizer, continuous=True, env=NOTES, tasks=[{"id": "n", "answer": "done"}], group=4)
    assert engine.backend.slots.steps > 10  # many decode steps ...
    assert len(calls) <= 2, calls  # ... one eval() and one train(True) in all
    assert model.training and calls[-1] is True
    assert modes and set(modes) == {(False, False)}  # every forward in eval mode, without grad

    modes.clear()
    b = engine.backend
    b.submit("k", [1, 2, 3], SamplingParams(max_new_tokens=2, temperature=0.0))
    while b.slots.busy:
        b.step()
    assert modes and set(modes) == {(False, False)} and model.training


# -- the sampler -----------------------------------------------------------------------------------
def test_draw_follows_the_distribution_and_never_picks_a_masked_token():
    from memrl.rollout.backends.continuous import draw

    probs = torch.tensor([0.5, 0.0, 0.2, 0.0, 0.25, 0.05])
    generator = torch.Generator().manual_seed(0)
    n = 20000
    counts = torch.bincount(torch.tensor([draw(probs, generator) for _ in range(n)]), minlength=len(probs)).double()
    assert counts[1] == 0 and counts[3] == 0
    # Within 4 standard deviations of a multinomial count, for every token with mass.
    sd = (n * probs.double() * (1 - probs.double())).sqrt()
    assert ((counts - n * probs.double()).abs() <= 4 * sd + 1e-9).all(), counts.tolist()
    # Weights that do not sum to 1 are normalised by their total.
    assert draw(torch.tensor([0.0, 0.0, 3.0]), generator) == 2


def test_sampled_tokens_follow_top_k():
    # top_k = 2 leaves two tokens: every draw is one of them, and both occur.
    logits = torch.tensor([[0.0, 5.0, 4.5, -1.0, 1.0]])
    from memrl.rollout.backends.continuous import Request, sample

    req = Request("k", [1], SamplingParams(max_new_tokens=4, temperature=1.0, top_k=2, seed=0), torch.Generator().manual_seed(0))
    picked = {sample(logits, [req])[0][0] for _ in range(200)}
    assert picked == {1, 2}
