"""merged_lora: forwards inside run on W + scale * B @ A with the adapters bypassed; on exit the
model is exactly what it was (same weight tensors, same values, adapters on, LoRA trainable)."""

from __future__ import annotations

import copy

import pytest
import torch

from memrl.models.merged import merged_lora, mergeable_lora_layers
from memrl.rollout import RolloutEngine, RolloutLimits, SamplingParams
from memrl.rollout.backends.hf import HFBackend


def lora_model(tiny, dtype=torch.float32, dora=False):
    from peft import LoraConfig, get_peft_model

    model = copy.deepcopy(tiny[0]).to(dtype)
    config = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM",
                        init_lora_weights=False, use_dora=dora)  # B != 0: the adapter changes the output
    model = get_peft_model(model, config)
    if dtype == torch.bfloat16:  # as memrl trains on a CPU: bf16 base, float32 LoRA masters
        for p in model.parameters():
            if p.requires_grad:
                p.data = p.data.float()
    return model.eval()


def logits(model, ids):
    with torch.no_grad():
        return model(input_ids=ids).logits.float()


IDS = torch.tensor([[5, 17, 230, 4000, 12, 99, 7, 3]])


def test_merged_forward_equals_the_adapted_one_and_the_model_comes_back_unchanged(tiny):
    model = lora_model(tiny)
    before = {n: (p, p.detach().clone(), p.requires_grad) for n, p in model.named_parameters()}
    adapted = logits(model, IDS)
    with model.disable_adapter():
        plain = logits(model, IDS)
    assert (adapted - plain).abs().max() > 1e-2  # the adapter matters, so the check below can fail
    with merged_lora(model) as merged:
        assert merged
        inside = logits(model, IDS)
    torch.testing.assert_close(inside, adapted, atol=1e-5, rtol=1e-5)
    after = dict(model.named_parameters())
    assert after.keys() == before.keys()
    for name, (param, values, grad) in before.items():
        assert after[name] is param, name  # the same tensor objects: the optimizer still holds them
        assert torch.equal(param, values), name  # bit for bit: nothing was added and subtracted
        assert param.requires_grad == grad, name
    torch.testing.assert_close(logits(model, IDS), adapted, atol=0, rtol=0)


def test_inside_the_weights_are_merged_copies_and_the_adapters_are_off(tiny):
    model = lora_model(tiny)
    layer = mergeable_lora_layers(model)[0]
    base = layer.get_base_layer()
    original = base.weight
    expected = original.detach() + layer.get_delta_weight("default")
    with merged_lora(model):
        assert base.weight is not original
        assert base.weight.data_ptr() != original.data_ptr()
        torch.testing.assert_close(base.weight, expected)
        assert layer.disable_adapters
        layers = [m for m in model.modules() if hasattr(m, "lora_A")]
        # One block for all merged weights (freed as a whole, not left as holes in the heap).
        assert len({m.get_base_layer().weight.untyped_storage().data_ptr() for m in layers}) == 1
        assert not mergeable_lora_layers(model)  # a nested merged_lora does nothing
        with merged_lora(model) as nested:
            assert not nested
    assert base.weight is original and not layer.disable_adapters


def test_bf16_base_merged_is_close_to_the_adapted_forward(tiny):
    model = lora_model(tiny, torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        adapted = logits(model, IDS)
        with merged_lora(model) as merged:
            inside = logits(model, IDS)
    assert merged
    assert model.get_base_model().model.layers[0].self_attn.q_proj.base_layer.weight.dtype == torch.bfloat16
    # One bf16 rounding of each merged weight, against bf16 activations either way.
    assert (inside - adapted).abs().max() < 0.1 * adapted.abs().max()


def test_the_weights_come_back_when_the_forward_raises(tiny):
    model = lora_model(tiny)
    layer = mergeable_lora_layers(model)[0]
    original = layer.get_base_layer().weight
    with pytest.raises(RuntimeError, match="boom"):
        with merged_lora(model):
            raise RuntimeError("boom")
    assert layer.get_base_layer().weight is original and not layer.disable_adapters


def test_no_op_where_it_cannot_merge(tiny):
    plain = tiny[0]
    weights = [p for p in plain.parameters()]
    with merged_lora(plain) as merged:
        assert not merged
    assert [p for p in plain.parameters()] == weights
    with merged_lora(lora_model(tiny), enabled=False) as merged:
        assert not merged
    with merged_lora(lora_model(tiny), enabled=None) as merged:
        assert merged  # the default: on, as the weights are on a CPU
    meta = lora_model(tiny).to("meta")  # weights off the CPU: the default leaves them
    with merged_lora(meta) as merged:
        assert not merged
    dora = lora_model(tiny, dora=True)
    assert not mergeable_lora_layers(dora)  # DoRA's magnitude is not a plain W + BA
    with merged_lora(dora) as merged:
        assert not merged


@pytest.mark.parametrize("continuous", [False, True])
def test_backend_samples_the_same_with_and_without_merging(tiny, continuous):
    """Greedy episodes through the hf backend: the same tokens, and log-probs within float32
    rounding, whether the backend merges LoRA or runs the adapters (the default merges)."""
    from memrl.env.registry import make

    model = lora_model(tiny)
    tokenizer = tiny[1]
    env = lambda: make("memrl/FactRecall-v0")  # noqa: E731
    tasks = env().make_tasks("train", 2, 0)
    runs = []
    for merge in (True, False):
        b = HFBackend(model, tokenizer, continuous=continuous, merge_lora=merge)
        b.stop_ids.update(range(5, len(tokenizer), 7))  # replies of a few tokens, of different lengths
        engine = RolloutEngine(b, limits=RolloutLimits(max_new_tokens=12, max_context_tokens=2048),
                               sampling=SamplingParams(max_new_tokens=12, temperature=0.0, seed=3))
        runs.append(engine.rollout(env, tasks, group_size=2, seed=11))
    merged, adapted = runs
    assert [[s.ids for s in t.segments] for t in merged] == [[s.ids for s in t.segments] for t in adapted]
    for a, b in zip(merged, adapted):
        for sa, sb in zip(a.segments, b.segments):
            torch.testing.assert_close(torch.tensor(sa.logprobs), torch.tensor(sb.logprobs), atol=1e-4, rtol=0)
    assert model.training is False and all(p.requires_grad for n, p in model.named_parameters() if "lora_" in n)


@pytest.mark.parametrize("continuous", [False, True])
def test_a_rollout_merges_once_whatever_its_turns(tiny, continuous, monkeypatch):
    """The engine holds the backend's session around the whole rollout: the merged copy is built
    once per rollout, not once per turn (turn by turn it was rebuilt every generate call), and a
    generate call outside a rollout still merges by itself."""
    import memrl.rollout.backends.hf as hf
    from memrl.env.registry import make

    built = []
    real = hf.merged_lora

    def counting(model, enabled=None):
        built.append(enabled)
        return real(model, enabled)

    monkeypatch.setattr(hf, "merged_lora", counting)
    model, tokenizer = lora_model(tiny), tiny[1]
    b = HFBackend(model, tokenizer, continuous=continuous, merge_lora=True)
    b.stop_ids.update(range(5, len(tokenizer), 7))
    engine = RolloutEngine(b, limits=RolloutLimits(max_new_tokens=12, max_context_tokens=2048),
                           sampling=SamplingParams(max_new_tokens=12, temperature=0.0, seed=3))
    env = lambda: make("memrl/FactRecall-v0")  # noqa: E731
    trajs = engine.rollout(env, env().make_tasks("train", 2, 0), group_size=2, seed=11)
    assert max(len(t.turns) for t in trajs) > 1  # several turns, so turn by turn several generate calls
    assert built == [True]
    b.generate([[5, 17, 230]], SamplingParams(max_new_tokens=2, temperature=0.0))
    assert built == [True, True]
