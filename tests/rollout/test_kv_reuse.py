"""K/V reuse across turns and across a group's shared prompt changes nothing the model samples:
the same ids and, within float rounding, the same log-probs as a full prefill every turn."""

from __future__ import annotations

import pytest
import torch

from memrl.env.registry import make
from memrl.rollout import RolloutEngine, RolloutLimits, SamplingParams
from memrl.rollout.backends.hf import HFBackend, kv_reuse_store
from tests.rollout.test_engine import NotesEnv


def play(model, tokenizer, *, kv_reuse: bool, env=lambda: make("memrl/FactRecall-v0"), tasks=None, greedy=False):
    backend = HFBackend(model, tokenizer, kv_reuse=kv_reuse)
    engine = RolloutEngine(backend, limits=RolloutLimits(max_new_tokens=24, max_context_tokens=2048),
                           sampling=SamplingParams(max_new_tokens=24, temperature=0.0 if greedy else 1.0, seed=7))
    tasks = tasks or env().make_tasks("train", 2, 0)
    trajs = engine.rollout(env, tasks, group_size=3, seed=11)
    return trajs, backend


def tokens(trajs):
    return [[(s.ids, s.completion_mask) for s in t.segments] for t in trajs]


def max_logp_gap(a, b) -> float:
    gaps = [abs(x - y) for ta, tb in zip(a, b) for sa, sb in zip(ta.segments, tb.segments) for x, y in zip(sa.logprobs, sb.logprobs)]
    return max(gaps)


@pytest.mark.parametrize("greedy", [True, False])
def test_reuse_gives_the_same_tokens_and_logprobs_in_fp32(tiny, greedy):
    model, tokenizer = tiny
    plain, _ = play(model, tokenizer, kv_reuse=False, greedy=greedy)
    reused, backend = play(model, tokenizer, kv_reuse=True, greedy=greedy)
    assert tokens(reused) == tokens(plain)
    # Float32: only the order of sums differs (batch-1 prefill vs a padded batch).
    assert max_logp_gap(reused, plain) < 1e-4
    # The store did its job: the G=3 copies of a prompt and every later turn's prefix were reused.
    assert backend.store.reused_tokens > backend.store.prefilled_tokens


def test_append_turns_reuse_the_previous_turn(tiny):
    model, tokenizer = tiny
    env = lambda: NotesEnv()  # noqa: E731  (append-only, several turns)
    tasks = [{"id": f"notes-{i}", "answer": "done"} for i in range(2)]
    plain, _ = play(model, tokenizer, kv_reuse=False, env=env, tasks=tasks)
    reused, backend = play(model, tokenizer, kv_reuse=True, env=env, tasks=tasks)
    assert tokens(reused) == tokens(plain)
    assert max_logp_gap(reused, plain) < 1e-4
    assert any(len(t.segments[0].completion_mask) > 30 and t.metrics["turns"] > 1 for t in reused)
    # Each turn after the first prefilled only the env's message and the last sampled token.
    assert backend.store.prefilled_tokens < 0.5 * backend.store.reused_tokens


def test_reuse_in_bf16_stays_within_rounding(tiny):
    model, tokenizer = tiny
    model = _copy_in(model, torch.bfloat16)
    plain, _ = play(model, tokenizer, kv_reuse=False, greedy=True)
    reused, _ = play(model, tokenizer, kv_reuse=True, greedy=True)
    gaps = [abs(x - y) for ta, tb in zip(plain, reused) for sa, sb in zip(ta.segments, tb.segments)
            for x, y in zip(sa.logprobs, sb.logprobs)]
    # bf16 keeps ~3 significant digits; where the greedy paths agree the log-probs differ by
    # rounding only (stated tolerance: mean < 0.05 nats).
    assert sum(gaps) / len(gaps) < 0.05


def test_the_store_is_emptied_when_weights_change(tiny):
    model, tokenizer = tiny
    _, backend = play(model, tokenizer, kv_reuse=True)
    backend.generate([[1, 2, 3, 4]], SamplingParams(max_new_tokens=2, temperature=0.0))
    assert backend.store.entries
    backend.sync_weights(model)
    assert not backend.store.entries


def test_models_with_sliding_windows_prefill_in_full():
    from transformers import LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM

    small = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, vocab_size=100)
    assert kv_reuse_store(LlamaForCausalLM(LlamaConfig(**small))) is not None
    assert kv_reuse_store(MistralForCausalLM(MistralConfig(sliding_window=8, **small))) is None


def _copy_in(model, dtype):
    import copy

    return copy.deepcopy(model).to(dtype)


def test_a_progress_bar_counts_finished_episodes(tiny, capsys):
    model, tokenizer = tiny
    engine = RolloutEngine(HFBackend(model, tokenizer), limits=RolloutLimits(max_new_tokens=8),
                           sampling=SamplingParams(max_new_tokens=8, seed=0), progress="rollout")
    env = lambda: make("memrl/FactRecall-v0")  # noqa: E731
    engine.rollout(env, env().make_tasks("train", 2, 0), group_size=2, seed=0)
    err = capsys.readouterr().err
    assert "rollout" in err and "4/4" in err and "tok_s" in err
