"""The update in length-sorted micro-batches gives the full batch's gradient, with less padding."""

from __future__ import annotations

import torch

from memrl.train import microbatch
from tests.train.test_learning import toy_trainer


def padded_batch(lengths: list[tuple[int, int]]) -> dict:
    p_w, c_w = max(p for p, _ in lengths), max(c for _, c in lengths)
    n = len(lengths)
    batch = {"prompt_ids": torch.zeros(n, p_w, dtype=torch.long), "prompt_mask": torch.zeros(n, p_w, dtype=torch.long),
             "completion_ids": torch.zeros(n, c_w, dtype=torch.long), "completion_mask": torch.zeros(n, c_w),
             "advantages": torch.zeros(n, c_w), "num_items_in_batch": torch.tensor(7.0), "old_per_token_logps": None}
    for i, (p, c) in enumerate(lengths):
        batch["prompt_ids"][i, p_w - p :] = i + 1
        batch["prompt_mask"][i, p_w - p :] = 1
        batch["completion_ids"][i, :c] = i + 1
        batch["completion_mask"][i, :c] = 1
        batch["advantages"][i, :c] = float(i)
    return batch


def test_plan_sorts_by_length_and_cuts_each_micro_batch_to_its_rows():
    batch = padded_batch([(300, 20), (40, 10), (290, 30), (50, 5)])
    chunks = microbatch.plan(batch, token_budget=700, multiple=1)
    assert [sorted(rows.tolist()) for rows, _, _ in chunks] == [[0, 2], [1, 3]]
    assert [(p, c) for _, p, c in chunks] == [(300, 30), (50, 10)]
    rows, p, c = chunks[1]
    part = microbatch.take(batch, rows, p, c)
    assert part["prompt_ids"].shape == (2, 50) and part["completion_ids"].shape == (2, 10)
    assert part["prompt_mask"].sum().item() == 40 + 50  # no real token was cut
    assert part["num_items_in_batch"].item() == 7.0 and part["old_per_token_logps"] is None
    back = microbatch.scatter([(r, microbatch.take(batch, r, p_, c_)["advantages"]) for r, p_, c_ in chunks], 4, 30)
    assert torch.equal(back, batch["advantages"])


def test_a_row_longer_than_the_budget_still_gets_its_own_micro_batch():
    batch = padded_batch([(900, 50), (10, 5)])
    assert [len(rows) for rows, _, _ in microbatch.plan(batch, token_budget=100)] == [1, 1]


def test_micro_batched_update_has_the_full_batch_gradient(tmp_path):
    trainer, _ = toy_trainer(tmp_path, steps=1, tasks=16, bf16=False)
    trainer.model.train()
    trainer.current_gradient_accumulation_steps = 1  # set by the Trainer's loop, which this test skips
    inputs = next(iter(trainer.get_train_dataloader()))
    batch = trainer._generate_and_score_completions(inputs)

    def gradient(budget: int) -> dict[str, torch.Tensor]:
        trainer.args.update_tokens_per_forward = budget
        trainer.model.zero_grad()
        loss = trainer.compute_loss(trainer.model, batch, num_items_in_batch=batch["num_items_in_batch"])
        trainer.accelerator.backward(loss)
        return {n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.grad is not None}, loss.item()

    whole, whole_loss = gradient(10**9)
    parts, parts_loss = gradient(64)  # a few rows per micro-batch
    assert len(microbatch.plan(batch, 64)) > 2
    assert abs(whole_loss - parts_loss) < 1e-5
    for name, g in whole.items():
        torch.testing.assert_close(parts[name], g, atol=1e-6, rtol=1e-4, msg=name)


def test_the_sampling_gap_is_logged_and_corrected(tmp_path):
    trainer, _ = toy_trainer(tmp_path, steps=1, tasks=16)
    trainer.train()
    import json

    logged = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    row = next(r for r in logged if "rollout/logp_mismatch_mean" in r)
    # The config's bf16 (on this CPU) runs the update under autocast; the rollout sampled in fp32.
    assert 0.0 <= row["rollout/logp_mismatch_mean"] < 0.5
    assert 0.0 <= row["rollout/is_ratio_capped_share"] <= 1.0
