"""Chunked log-probs (#25) equal the full-vocabulary ones: values, losses and gradients, in fp32.

``memrl.train.chunked`` computes the logits of a few scored positions at a time; every path that
uses it (the GRPO and PPO update with their old/reference passes, the SFT warm start's loss) is
compared here with the unchunked computation (``logits_chunk_tokens`` 0, or TRL's own loss) on
the same batch, with chunk sizes that do not divide the number of scored positions and with
positions that are masked out (env tokens, padding, prompts).
"""

from __future__ import annotations

import pytest
import torch

from memrl.train import chunked
from tests.train.test_learning import toy_trainer

ATOL = 1e-5


@pytest.fixture
def head_calls(monkeypatch):
    """Counts the chunked head's calls, so a comparison cannot pass by running the same path twice."""
    calls = []
    apply = chunked.HeadLogProbs.apply
    monkeypatch.setattr(chunked.HeadLogProbs, "apply", lambda *a: calls.append(1) or apply(*a))
    return calls


def reference(hidden, head, targets, scored, temperature):
    logp_all = torch.log_softmax(head(hidden).float() / temperature, -1)
    logps = logp_all.gather(-1, targets[..., None]).squeeze(-1)
    entropy = -(logp_all.exp() * logp_all).sum(-1)
    top1 = logp_all.argmax(-1) == targets
    return logps * scored, entropy * scored, top1 & scored


@pytest.mark.parametrize("chunk", [1, 4, 7, 10**6])  # 4 and 7 divide neither 13 scored positions nor 15
def test_head_logps_entropies_and_gradients_equal_the_full_logits(chunk):
    gen = torch.Generator().manual_seed(0)
    hidden = torch.randn(3, 5, 16, generator=gen, dtype=torch.float64).float().requires_grad_()
    head = torch.nn.Linear(16, 300, bias=True)
    targets = torch.randint(0, 300, (3, 5), generator=gen)
    scored = torch.rand(3, 5, generator=gen) > 0.2
    assert 0 < scored.sum() < scored.numel()  # masked positions, and something to score
    weights = torch.randn(3, 5, generator=gen), torch.randn(3, 5, generator=gen)  # a loss on both outputs

    def run(fn):
        head.zero_grad()
        hidden.grad = None
        logps, entropy, top1 = fn(hidden, head, targets, scored, 0.7)
        ((logps * weights[0]).sum() + (entropy * weights[1]).sum()).backward()
        return logps.detach(), entropy.detach(), top1, hidden.grad.clone(), head.weight.grad.clone(), head.bias.grad.clone()

    chunked_out = run(lambda h, m, t, s, temp: chunked.token_logps(h, m, t, s, temperature=temp, chunk=chunk))
    full_out = run(reference)
    for name, a, b in zip(("logps", "entropy", "top1", "d hidden", "d weight", "d bias"), chunked_out, full_out):
        if a.dtype == torch.bool:
            assert torch.equal(a, b), name
        else:
            torch.testing.assert_close(a, b, atol=ATOL, rtol=0, msg=name)


def test_nothing_scored_gives_zeros_and_a_zero_gradient():
    hidden = torch.randn(2, 3, 8, requires_grad=True)
    head = torch.nn.Linear(8, 50, bias=False)
    logps, entropy, _ = chunked.token_logps(hidden, head, torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 3, dtype=torch.bool))
    logps.sum().backward()
    assert not logps.any() and not entropy.any() and not hidden.grad.any()


def test_head_off_returns_the_hidden_states_and_restores_the_head(tiny):
    model, _ = tiny
    ids = torch.tensor([[1, 2, 3, 4]])
    head = chunked.plain_head(model)
    with torch.no_grad():
        full = model(input_ids=ids).logits
        with chunked.head_off(head):
            hidden = model(input_ids=ids).logits
        again = model(input_ids=ids).logits
    assert hidden.size(-1) == model.config.hidden_size
    torch.testing.assert_close(head(hidden), full)
    assert torch.equal(again, full)


# -- the trainers: the chunked path against the unchunked one on the same batch -------------------
def _update(trainer, batch, chunk: int):
    """Loss, gradients and the logged entropy of one update on ``batch`` with ``logits_chunk_tokens``."""
    trainer.args.logits_chunk_tokens = chunk
    trainer.model.zero_grad()
    trainer._metrics["train"].clear()
    loss = trainer.compute_loss(trainer.model, batch, num_items_in_batch=batch["num_items_in_batch"])
    trainer.accelerator.backward(loss)
    grads = {n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.grad is not None}
    return loss.item(), grads, trainer._metrics["train"]["entropy"][-1]


@pytest.mark.parametrize("algorithm", ["grpo", "ppo"])
def test_update_and_old_logps_equal_the_unchunked_ones(tmp_path, algorithm, head_calls):
    trainer, _ = toy_trainer(tmp_path, steps=1, tasks=8, bf16=False, algorithm=algorithm, max_new_tokens_per_turn=6,
                             temperature=1.0, beta=0.05, update_tokens_per_forward=10**9)
    trainer.model.train()
    trainer.current_gradient_accumulation_steps = 1  # set by the Trainer's loop, which this test skips
    inputs = next(iter(trainer.get_train_dataloader()))
    trainer.args.logits_chunk_tokens = 0
    batch = trainer._generate_and_score_completions(inputs)
    # Env tokens inside completions: attended, not trained on (the toy env's replies have none).
    batch["tool_mask"] = batch["tool_mask"].clone()
    batch["tool_mask"][::3, 1] = 0
    trained = (batch["completion_mask"] * batch["tool_mask"]).bool()
    assert 0 < trained.sum() < batch["completion_mask"].numel()

    trainer.args.logits_chunk_tokens = 0
    with torch.no_grad():
        full_old = trainer._batch_logps(trainer.model, batch)
    assert not head_calls
    trainer.args.logits_chunk_tokens = 5  # divides neither the rows' widths nor the scored count
    with torch.no_grad():
        chunked_old = trainer._batch_logps(trainer.model, batch)
    assert head_calls
    torch.testing.assert_close(chunked_old[trained], full_old[trained], atol=ATOL, rtol=0)
    assert not chunked_old[~trained].any()  # nothing computed where nothing is trained

    full_loss, full_grads, full_entropy = _update(trainer, batch, 0)
    head_calls.clear()
    part_loss, part_grads, part_entropy = _update(trainer, batch, 5)
    assert head_calls
    assert abs(full_loss - part_loss) < ATOL and abs(full_entropy - part_entropy) < ATOL
    assert full_grads.keys() == part_grads.keys() and full_grads
    for name, g in full_grads.items():
        torch.testing.assert_close(part_grads[name], g, atol=ATOL, rtol=0, msg=name)


@pytest.mark.parametrize("use_lora", [True, False])
def test_sft_loss_gradients_and_metrics_equal_trls(tmp_path, use_lora, head_calls):
    from peft import LoraConfig
    from trl import SFTConfig

    from memrl.env.registry import make
    from memrl.models import tiny_model
    from memrl.train.warmstart import ChunkedSFTTrainer, expert_demonstrations

    model, tok = tiny_model(seed=0)
    factory = lambda: make("memrl/AgeMem-v0", tool_prompt="compact")  # noqa: E731
    data = expert_demonstrations(factory, factory().make_tasks("train", 1, seed=1))
    args = SFTConfig(output_dir=str(tmp_path), per_device_train_batch_size=3, max_length=1024, completion_only_loss=True,
                     report_to=[], bf16=False, use_cpu=True, save_strategy="no", disable_tqdm=True)
    lora = LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", task_type="CAUSAL_LM") if use_lora else None
    trainer = ChunkedSFTTrainer(model=model, args=args, train_dataset=data, processing_class=tok, peft_config=lora,
                                logits_chunk_tokens=7)
    batch = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
    assert (batch["labels"] == -100).any() and (batch["labels"] != -100).any()  # prompts are masked
    trainer.model.train()

    def run(chunk: int):
        trainer.logits_chunk_tokens = chunk  # 0: TRL's own compute_loss
        trainer.model.zero_grad()
        trainer._metrics["train"].clear()
        loss = trainer.compute_loss(trainer.model, dict(batch), num_items_in_batch=None)
        loss.backward()
        grads = {n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.grad is not None}
        metrics = {k: trainer._metrics["train"][k][-1] for k in ("entropy", "mean_token_accuracy")}
        return loss.item(), grads, metrics

    full_loss, full_grads, full_metrics = run(0)
    assert not head_calls
    part_loss, part_grads, part_metrics = run(7)
    assert head_calls
    assert abs(full_loss - part_loss) < ATOL
    assert part_metrics == pytest.approx(full_metrics, abs=ATOL)
    assert full_grads.keys() == part_grads.keys() and full_grads
    for name, g in full_grads.items():
        torch.testing.assert_close(part_grads[name], g, atol=ATOL, rtol=0, msg=name)
