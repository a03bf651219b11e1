"""The update in length-sorted micro-batches gives the full batch's gradient, with less padding."""

from __future__ import annotations

import pytest
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
    # Per tensor, relative to its norm: the summation order differs between the two plans, so an
    # element-wise 1e-6 tolerance failed on another CPU (CI: 1.3e-6 on one element of a tensor
    # whose largest entry is 0.37). Measured here: at most 3e-6; a dropped row or a wrong
    # normalisation is off by far more than 1e-4.
    for name, g in whole.items():
        error = ((parts[name] - g).norm() / g.norm().clamp_min(1e-12)).item()
        assert error < 1e-4, f"{name}: relative gradient error {error:.1e}"


def test_the_sampling_gap_is_logged_and_corrected(tmp_path):
    trainer, _ = toy_trainer(tmp_path, steps=1, tasks=16)
    trainer.train()
    import json

    logged = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    row = next(r for r in logged if "rollout/logp_mismatch_mean" in r)
    # The config's bf16 (on this CPU) runs the update under autocast; the rollout sampled in fp32.
    assert 0.0 <= row["rollout/logp_mismatch_mean"] < 0.5
    assert 0.0 <= row["rollout/is_ratio_capped_share"] <= 1.0


def test_the_cpu_default_budget_is_512_tokens_and_a_given_one_is_kept(tmp_path):
    """#25: on a CPU the update's activations are the RAM peak; 512 tokens per forward keeps the
    main command within 4 GB (3.53 GB) for ~2% more wall time than 1,024 (bench/results/peak_memory.txt). GPUs keep 2,048."""
    from memrl.train import MemRLConfig

    default = MemRLConfig(output_dir=str(tmp_path), report_to=[]).update_tokens_per_forward
    assert default == (512 if not torch.cuda.is_available() else 2048)
    assert MemRLConfig(output_dir=str(tmp_path), report_to=[], update_tokens_per_forward=4096).update_tokens_per_forward == 4096
    assert MemRLConfig(output_dir=str(tmp_path), report_to=[], use_cpu=True).update_tokens_per_forward == 512


@pytest.mark.parametrize("rows_per_forward", [1, 2])
def test_sft_rows_per_forward_do_not_change_the_accumulated_gradient(tmp_path, rows_per_forward):
    """The warm start's rows per forward (from update_tokens_per_forward) are a memory knob only:
    4 turns in forwards of 1 or 2 rows, accumulated as the Trainer does (the loss divided by the
    step's token count, not by the accumulation steps), give the gradient of one 4-row forward."""
    from peft import LoraConfig
    from trl import SFTConfig

    from memrl.env.registry import make
    from memrl.models import tiny_model
    from memrl.train.warmstart import ChunkedSFTTrainer, expert_demonstrations

    model, tok = tiny_model(seed=0)
    factory = lambda: make("memrl/AgeMem-v0", tool_prompt="compact")  # noqa: E731
    data = expert_demonstrations(factory, factory().make_tasks("train", 1, seed=1))
    args = SFTConfig(output_dir=str(tmp_path), per_device_train_batch_size=4, max_length=1024, completion_only_loss=True,
                     report_to=[], bf16=False, use_cpu=True, save_strategy="no", disable_tqdm=True)
    lora = LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", task_type="CAUSAL_LM")
    trainer = ChunkedSFTTrainer(model=model, args=args, train_dataset=data, processing_class=tok, peft_config=lora)
    batch = next(iter(trainer.get_train_dataloader()))
    assert batch["input_ids"].size(0) == 4
    tokens = (batch["labels"] != -100).sum()  # the step's count, as Trainer.get_batch_samples gives it

    def gradient(rows: int) -> dict[str, torch.Tensor]:
        trainer.model.zero_grad()
        trainer.current_gradient_accumulation_steps = 4 // rows
        for start in range(0, 4, rows):
            part = {k: v[start : start + rows] if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
            trainer.training_step(trainer.model, part, num_items_in_batch=tokens)
        return {n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.grad is not None}

    whole, parts = gradient(4), gradient(rows_per_forward)
    assert whole.keys() == parts.keys() and whole
    # Per tensor, relative to its norm: the summation order differs between the two plans, so an
    # element-wise 1e-6 tolerance failed on another CPU (CI: 1.3e-6 on one element of a tensor
    # whose largest entry is 0.37). Measured here: at most 3e-6; a dropped row or a wrong
    # normalisation is off by far more than 1e-4.
    for name, g in whole.items():
        error = ((parts[name] - g).norm() / g.norm().clamp_min(1e-12)).item()
        assert error < 1e-4, f"{name}: relative gradient error {error:.1e}"


def test_plan_keeps_only_the_given_rows():
    batch = padded_batch([(300, 20), (40, 10), (290, 30), (50, 5)])
    chunks = microbatch.plan(batch, token_budget=10**6, multiple=1, rows=torch.tensor([True, False, True, False]))
    assert [(sorted(rows.tolist()), p, c) for rows, p, c in chunks] == [([0, 2], 300, 30)]


def test_processes_with_other_lengths_plan_the_same_micro_batch_sizes():
    """Every process must run as many micro-batches, with as many rows each (the loss gathers
    per-row metrics across processes: gloo fails, NCCL hangs otherwise); each keeps its own widths."""
    short = padded_batch([(40, 10), (50, 5), (30, 8), (45, 9)])
    long = padded_batch([(300, 20), (290, 30), (280, 25), (310, 10)])
    others = {}

    def shared(mine):  # the two processes' widths, the maximum taken as the gather would
        theirs = others["widths"]
        return torch.maximum(mine, theirs)

    alone = microbatch.plan(short, token_budget=700, multiple=1)
    assert [len(rows) for rows, _, _ in alone] == [4]
    others["widths"] = torch.tensor([[310, 300, 290, 280], [10, 20, 30, 25]])  # long's sorted widths
    together = microbatch.plan(short, token_budget=700, multiple=1, shared=shared)
    others["widths"] = torch.tensor([[50, 45, 40, 30], [5, 9, 10, 8]])
    own = microbatch.plan(long, token_budget=700, multiple=1, shared=shared)
    assert [len(rows) for rows, _, _ in together] == [len(rows) for rows, _, _ in own] == [2, 2]
    assert max(p + c for _, p, c in together) <= 60  # the short process's micro-batches stay narrow


def test_rows_whose_advantage_is_zero_are_left_out_of_the_update_with_the_same_gradient(tmp_path):
    trainer, _ = toy_trainer(tmp_path, steps=1, tasks=16, bf16=False)
    trainer.model.train()
    trainer.current_gradient_accumulation_steps = 1
    batch = trainer._generate_and_score_completions(next(iter(trainer.get_train_dataloader())))
    batch["advantages"][: batch["advantages"].size(0) // 2] = 0.0  # as if half the groups had scored alike
    trainer.args.update_tokens_per_forward = 64

    def gradient(skip: bool) -> dict[str, torch.Tensor]:
        trainer.args.skip_zero_advantage_rows = skip
        trainer.model.zero_grad()
        forwarded = []
        hook = trainer.model.register_forward_pre_hook(lambda _m, args, kw: forwarded.append(kw["input_ids"].size(0)),
                                                       with_kwargs=True)
        try:
            loss = trainer.compute_loss(trainer.model, batch, num_items_in_batch=batch["num_items_in_batch"])
        finally:
            hook.remove()
        trainer.accelerator.backward(loss)
        return {n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.grad is not None}, sum(forwarded)

    everything, rows_all = gradient(False)
    trainer.profile = {}
    skipping, rows_skipping = gradient(True)
    assert trainer.profile["trained_rows"] == rows_skipping  # bench/step_time.py reports what the update ran
    assert rows_skipping <= rows_all // 2 + 1 and rows_skipping > 0
    assert trainer._metrics["train"]["update/skipped_row_share"][-2:] == [0.0, pytest.approx(1 - rows_skipping / rows_all)]
    for name, g in everything.items():
        error = ((skipping[name] - g).norm() / g.norm().clamp_min(1e-12)).item()
        assert error < 1e-4, f"{name}: relative gradient error {error:.1e}"


def test_rows_are_never_skipped_where_a_zero_advantage_still_has_a_gradient(tmp_path):
    trainer, _ = toy_trainer(tmp_path, steps=1, tasks=16, bf16=False)
    batch = trainer._generate_and_score_completions(next(iter(trainer.get_train_dataloader())))
    batch["advantages"][:] = 0.0
    kept = trainer._rows_with_gradient(batch)
    assert kept is not None and int(kept.sum()) == 1  # one row, so the step still logs its loss metrics
    trainer.beta = 0.1  # the KL term trains every row
    assert trainer._rows_with_gradient(batch) is None
    trainer.beta = 0.0
    trainer.args.skip_zero_advantage_rows = False
    assert trainer._rows_with_gradient(batch) is None
    ppo, _ = toy_trainer(tmp_path / "ppo", steps=1, tasks=16, algorithm="ppo")
    assert ppo._rows_with_gradient(batch) is None  # the value loss trains every row
