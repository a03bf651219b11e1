"""The episode viewer (``memrl inspect --html``): built from real rollouts of scripted agents, read
back as a DOM. The fast tests read the page as written; the slow one loads it in headless
Chromium, lets the script run and reads the DOM the browser built (skipped without a browser)."""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from memrl.actions import ToolCall, render_tool_call
from memrl.env.registry import make
from memrl.rollout import RolloutEngine, ScriptedBackend, save_trajectories
from memrl.rollout.inspect import render_terminal
from memrl.rollout.timeline import memory_diff, timeline
from memrl.rollout.viewer import render_html
from tests.rollout.test_engine import fact_policy


# -- a small DOM -----------------------------------------------------------------------------------
class Node:
    def __init__(self, tag: str, attrs: dict[str, str], parent: "Node | None"):
        self.tag, self.attrs, self.parent, self.children, self.text = tag, attrs, parent, [], ""

    @property
    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())

    def all(self, tag: str | None = None, cls: str | None = None) -> list["Node"]:
        out = []
        for child in self.children:
            if (tag is None or child.tag == tag) and (cls is None or cls in child.classes):
                out.append(child)
            out += child.all(tag, cls)
        return out

    def one(self, tag: str | None = None, cls: str | None = None) -> "Node":
        found = self.all(tag, cls)
        assert len(found) == 1, f"{len(found)} <{tag} class={cls}> found"
        return found[0]

    def by_id(self, ident: str) -> "Node":
        [node] = [n for n in self.all() if n.attrs.get("id") == ident]
        return node

    def ancestor(self, cls: str) -> "Node | None":
        node = self.parent
        while node is not None and cls not in node.classes:
            node = node.parent
        return node

    def content(self) -> str:
        return self.text + "".join(c.content() for c in self.children)


class _Builder(HTMLParser):
    VOID = {"meta", "br", "input", "link", "img", "hr"}

    def __init__(self):
        super().__init__()
        self.root = self.node = Node("#root", {}, None)

    def handle_starttag(self, tag, attrs):
        child = Node(tag, {k: v or "" for k, v in attrs}, self.node)
        self.node.children.append(child)
        if tag not in self.VOID:
            self.node = child

    def handle_endtag(self, tag):
        node = self.node
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.node = node.parent

    def handle_data(self, data):
        self.node.text += data


def dom(page: str) -> Node:
    builder = _Builder()
    builder.feed(page)
    return builder.root


# -- real rollouts -----------------------------------------------------------------------------------
def careless_fact_policy(prompt: str) -> str:
    """FactRecall's agent, but its first question-stage reply is not valid JSON (a format error)."""
    if "Question: " in prompt and "<|im_start|>tool" not in prompt and "malformed" not in prompt:
        return "<tool_call>{not json</tool_call>"
    return fact_policy(prompt)


@pytest.fixture(scope="module")
def rollouts(tokenizer):
    env = make("memrl/FactRecall-v0")
    tasks = env.make_tasks("test", 2)
    good = RolloutEngine(ScriptedBackend(tokenizer, fact_policy)).rollout(lambda: make("memrl/FactRecall-v0"), tasks[:1])
    bad = RolloutEngine(ScriptedBackend(tokenizer, careless_fact_policy)).rollout(lambda: make("memrl/FactRecall-v0"), tasks[1:])
    return good + bad


def prune_episode(tokenizer):
    """A MemAct episode of its scripted expert: it searches, prunes (a rewrite), then answers."""
    env = make("memrl/MemAct-v0", n_objectives=2)
    task = env.make_tasks("test", 1, 0)[0]
    [traj] = RolloutEngine(ScriptedBackend(tokenizer, lambda prompt: env.expert_reply())).play([env], [(0, 0, task, 0)])
    return traj


def test_each_reply_sits_in_the_segment_it_was_sampled_in(rollouts):
    traj = rollouts[0]
    assert [t["context"] for t in traj.turns] == ["rewrite", "rewrite", "append", "append"]
    page = dom(render_html(rollouts))
    episode = page.all("section", "episode")[0]
    segments = episode.all("section", "seg")
    assert len(segments) == len(traj.segments) == 2
    # Turn 1 (store the facts) was sampled in segment 0; its env response opened segment 1.
    placed = {int(p.attrs["data-turn"]): p.ancestor("seg").attrs["data-segment"] for p in episode.all("div", "policy")}
    assert placed == {1: "0", 2: "1", 3: "1"}
    assert "first prompt" in segments[0].one("h3").content() and "rewritten" not in segments[0].one("h3").content()
    assert "rewritten) after turn 1" in segments[1].one("h3").content()


def test_a_repeated_system_prompt_is_folded_after_its_first_showing(rollouts):
    segments = dom(render_html(rollouts)).all("section", "episode")[0].all("section", "seg")
    first = [m for m in segments[0].all(cls="msg") if "role-system" in m.classes]
    again = [m for m in segments[1].all(cls="msg") if "role-system" in m.classes]
    assert len(first) == len(again) == 1 and "repeat" not in first[0].classes
    assert again[0].tag == "details" and "repeat" in again[0].classes and "same as in segment 0" in again[0].content()


def test_memory_is_a_diff_per_turn_and_empty_says_so(rollouts):
    traj = rollouts[0]
    episode = dom(render_html(rollouts)).all("section", "episode")[0]
    panels = episode.all(cls="memory")
    assert len(panels) == len(traj.turns)  # one per turn, the start included
    assert panels[0].attrs["data-state"] == "empty" and "(empty)" in panels[0].content()
    added = panels[1].all("tr", "added")
    assert len(added) == len(traj.task["facts"]) and panels[1].attrs["data-state"] == "changed"
    assert panels[2].attrs["data-state"] == "kept"  # a retrieval changes nothing


def test_format_errors_are_shown_with_the_reply_that_caused_them(rollouts):
    traj = rollouts[1]
    bad = [t["turn"] for t in traj.turns if t.get("format_error")]
    assert bad == [2]
    episode = dom(render_html(rollouts)).all("section", "episode")[1]
    [reply] = [p for p in episode.all("div", "policy") if p.attrs["data-turn"] == "2"]
    assert "malformed_json" in reply.one("div", "format").content()
    assert all(not p.all("div", "err") for p in episode.all("div", "policy") if p.attrs["data-turn"] != "2")
    assert "err" in [a for a in episode.one("nav", "segnav").all("a") if "segment 1" in a.content()][0].classes


def test_the_episode_list_holds_sortable_filterable_rows(rollouts):
    page = dom(render_html(rollouts, indices=[4, 7], title="r.jsonl"))
    rows = page.by_id("episodes").all("tr")[1:]
    assert [r.attrs["data-index"] for r in rows] == ["4", "7"]
    assert [r.attrs["data-fmt"] for r in rows] == ["0", "1"] and rows[0].attrs["data-answered"] == "1"
    assert float(rows[0].attrs["data-reward"]) == rollouts[0].reward
    assert {th.attrs["data-key"] for th in page.by_id("episodes").all("th")} >= {"task", "reward", "score", "turns", "peak", "fmt"}
    assert [s.attrs["id"] for s in page.all("section", "episode")] == ["ep4", "ep7"]
    assert {s.attrs["id"] for s in page.all("select")} == {"f-reward", "f-fmt", "f-answer"}


def test_the_page_is_self_contained(rollouts):
    page = render_html(rollouts)
    for needle in ("http://", "https://", "src=", "<link", "@import"):
        assert needle not in page.replace("https://github.com", ""), needle
    tree = dom(page)
    assert all(a.attrs["href"].startswith("#") for a in tree.all("a"))


def test_a_prune_closes_the_segment_its_reply_was_sampled_in(tokenizer):
    traj = prune_episode(tokenizer)
    assert len(traj.segments) >= 2
    segments = timeline(traj)
    for k, turn in enumerate(traj.turns[1:], 1):  # reply k was sampled where turn k-1 left the context
        sampled_in = traj.turns[k - 1]["segment"]
        assert [s.index for s in segments if any(st.reply and st.reply.turn == turn["turn"] for st in s.steps)] == [sampled_in]
    assert [s.opened_after is None for s in segments] == [True] + [False] * (len(segments) - 1)
    # The previous reply repeated in a rewritten context is folded as that reply.
    assert any(m.repeat_of and m.repeat_of.startswith("the reply of turn") for s in segments[1:] for m in s.prompt)


def test_memory_diff_marks_added_updated_deleted_and_kept():
    before = [{"id": "m1", "content": "a"}, {"id": "m2", "content": "b"}, {"id": "m3", "content": "c"}]
    after = [{"id": "m1", "content": "a"}, {"id": "m2", "content": "B"}, {"id": "m4", "content": "d"}]
    rows = {(r.id, r.status, r.before) for r in memory_diff(before, after)}
    assert rows == {("m1", "kept", None), ("m2", "updated", "b"), ("m4", "added", None), ("m3", "deleted", None)}
    assert memory_diff([], []) == []


def test_terminal_view_puts_the_reply_before_the_segment_it_opened(rollouts, capsys):
    from rich.console import Console

    render_terminal(rollouts[0], 0, Console(width=200, force_terminal=False))
    out = capsys.readouterr().out
    assert "segment 0 (first prompt)" in out
    assert out.index("policy · turn 1") < out.index("segment 1 (context rewritten) after turn 1")
    assert "(same as in segment 0" in out and "added" in out


def test_a_file_without_a_turn_log_still_renders(rollouts):
    import copy

    traj = copy.deepcopy(rollouts[0])
    traj.turns = []
    page = dom(render_html([traj]))
    assert len(page.all("section", "seg")) == len(traj.segments) and "no turn log" in page.content()


# -- in a real browser --------------------------------------------------------------------------------
def _browser() -> str | None:
    return next((b for b in ("chromium", "chromium-browser", "google-chrome", "chrome") if shutil.which(b)), None)


def _dump_dom(browser: str, url: str) -> str:
    # --virtual-time-budget lets the page's script run before the DOM is dumped.
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000", "--dump-dom", url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout


@pytest.mark.slow
@pytest.mark.skipif(_browser() is None, reason="no Chromium here (Debian: apt-get install chromium)")
def test_the_page_in_a_headless_browser(rollouts, tokenizer, tmp_path):
    trajs = rollouts + [prune_episode(tokenizer)]
    path = save_trajectories(tmp_path / "r.jsonl", trajs)
    html = tmp_path / "r.html"
    html.write_text(render_html(trajs, title=path.name), encoding="utf-8")

    # Filtered to the episodes with a format error: the script hides the others and shows the first left.
    page = dom(_dump_dom(_browser(), html.as_uri() + "#fmt=with"))
    body = page.one("body")
    assert body.attrs.get("data-ready") == "1", "the page's script did not run"
    rows = page.by_id("episodes").all("tr")[1:]
    shown = [r.attrs["data-index"] for r in rows if "hidden" not in r.attrs]
    assert shown == ["1"] and "1 of 3 episodes shown" in page.content()
    visible = [s for s in page.all("section", "episode") if "hidden" not in s.attrs]
    assert [s.attrs["data-ep"] for s in visible] == ["1"]
    [reply] = [p for p in visible[0].all("div", "policy") if p.attrs["data-turn"] == "2"]
    assert reply.ancestor("seg").attrs["data-segment"] == "1" and reply.all("div", "format")

    # The prune episode, chosen by the URL: segment count, reply placement, memory diff.
    page = dom(_dump_dom(_browser(), html.as_uri() + "#ep=2&sort=reward&desc=1"))
    [episode] = [s for s in page.all("section", "episode") if "hidden" not in s.attrs]
    assert episode.attrs["data-ep"] == "2" and len(episode.all("section", "seg")) == len(trajs[2].segments)
    for reply in episode.all("div", "policy"):
        turn = int(reply.attrs["data-turn"])
        assert reply.ancestor("seg").attrs["data-segment"] == str(trajs[2].turns[turn - 1]["segment"])
    assert [r.attrs.get("aria-selected") for r in page.by_id("episodes").all("tr")[1:] if r.attrs["data-index"] == "2"] == ["true"]
    sorted_rewards = [float(r.attrs["data-reward"]) for r in page.by_id("episodes").all("tr")[1:]]
    assert sorted_rewards == sorted(sorted_rewards, reverse=True)

    page = dom(_dump_dom(_browser(), html.as_uri() + "#ep=0"))
    [episode] = [s for s in page.all("section", "episode") if "hidden" not in s.attrs]
    panels = episode.all(cls="memory")
    assert panels[0].attrs["data-state"] == "empty" and len(panels[1].all("tr", "added")) == len(trajs[0].task["facts"])


def test_memrl_inspect_html_lists_every_episode_with_its_file_number(rollouts, tmp_path):
    from memrl.cli.main import main

    path = save_trajectories(tmp_path / "r.jsonl", rollouts * 3)  # 6 episodes: more than the terminal's default 3
    assert main(["inspect", str(path), "--html", str(tmp_path / "all.html")]) == 0
    page = dom((tmp_path / "all.html").read_text())
    assert len(page.by_id("episodes").all("tr")) - 1 == 6 and "r.jsonl" in page.one("title").content()
    assert main(["inspect", str(path), "--episode", "4", "--html", str(tmp_path / "one.html")]) == 0
    assert [s.attrs["id"] for s in dom((tmp_path / "one.html").read_text()).all("section", "episode")] == ["ep4"]
