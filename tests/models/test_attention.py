"""memrl's CPU decode attention (memrl.models.attention): same logits as transformers' SDPA, and
decode steps of grouped-query models never reach torch's GQA kernel."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from memrl.models.attention import NAME, use_packed_decode
from memrl.models.loading import load_model_and_tokenizer
from memrl.models.tiny import tiny_model, tiny_model_path


def _decode_logits(model, prompts: torch.Tensor, mask: torch.Tensor, steps: int = 3) -> torch.Tensor:
    """Prefill ``prompts`` then feed ``steps`` fixed tokens one at a time; the logits of every step."""
    with torch.no_grad():
        out = model(input_ids=prompts, attention_mask=mask, use_cache=True)
        logits, cache = [out.logits[:, -1]], out.past_key_values
        for step in range(steps):
            token = torch.full((prompts.size(0), 1), 100 + step)
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], 1)
            out = model(input_ids=token, attention_mask=mask, past_key_values=cache, use_cache=True)
            logits.append(out.logits[:, -1])
    return torch.stack(logits, 1)


def _sdpa_calls(monkeypatch) -> list[dict]:
    calls = []
    real = F.scaled_dot_product_attention

    def spy(query, key, value, **kwargs):
        calls.append(dict(queries=query.shape[2], heads=query.shape[1], kv_heads=key.shape[1], **kwargs))
        return real(query, key, value, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", spy)
    return calls


def test_packed_decode_gives_sdpa_logits_with_and_without_padding():
    model, _ = tiny_model(num_heads=4, num_kv_heads=2)
    prompts = torch.randint(0, 1000, (3, 7), generator=torch.Generator().manual_seed(0))
    padded = torch.ones_like(prompts)
    padded[1, :3] = 0  # a shorter row: transformers passes a mask
    for mask in (torch.ones_like(prompts), padded):
        expected = _decode_logits(model, prompts, mask)
        assert use_packed_decode(model)
        got = _decode_logits(model, prompts, mask)
        model.set_attn_implementation("sdpa")
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_decode_steps_of_rows_of_one_length_take_the_packed_path(monkeypatch):
    model, _ = tiny_model(num_heads=4, num_kv_heads=2)
    prompts = torch.randint(0, 1000, (2, 5), generator=torch.Generator().manual_seed(1))
    calls = _sdpa_calls(monkeypatch)
    _decode_logits(model, prompts, torch.ones_like(prompts), steps=1)
    decode = [c for c in calls if c["queries"] == 1]
    assert decode and all(c.get("enable_gqa") for c in decode)  # transformers alone: the GQA kernel
    calls.clear()
    use_packed_decode(model)
    _decode_logits(model, prompts, torch.ones_like(prompts), steps=1)
    decode = [c for c in calls if c["queries"] != 5]  # the prefill (5 tokens) is transformers' unchanged
    assert len(decode) == 2  # one per layer
    assert all(c["heads"] == 2 and c["queries"] == 2 for c in decode)  # 4 query heads packed over 2 kv heads
    assert not any(c.get("enable_gqa") for c in decode)
    assert all(c["attn_mask"] is not None for c in decode)


def test_loading_on_a_cpu_switches_to_it_and_the_saved_config_does_not_name_it(tmp_path):
    path = tiny_model_path(tmp_path, num_heads=4, num_kv_heads=2)
    model, _ = load_model_and_tokenizer(path, device="cpu")
    assert model.config._attn_implementation == NAME
    model.save_pretrained(tmp_path / "saved")
    assert NAME not in (tmp_path / "saved" / "config.json").read_text()


def test_models_with_another_attention_are_left_alone():
    model, _ = tiny_model()
    model.set_attn_implementation("eager")
    assert not use_packed_decode(model)
    assert model.config._attn_implementation == "eager"
