"""The README's cross-references resolve: every ``[text](#anchor)`` names a heading, every
relative link or image names a file, and every term the README leans on is in its glossary."""

from __future__ import annotations

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_every_anchor_link_names_a_heading():
    anchors = {slug(h) for h in re.findall(r"^#+ (.+)$", README, flags=re.MULTILINE)}
    links = re.findall(r"\]\(#([^)]+)\)", README)
    assert links and not [a for a in links if a not in anchors]


def test_every_relative_link_names_a_file():
    targets = [t for t in re.findall(r"\]\(([^)#][^)]*)\)", README) if "://" not in t]
    assert [t for t in targets if not (ROOT / t).exists()] == []


def test_see_references_name_a_section():
    headings = {h.strip().lower() for h in re.findall(r"^#+ (.+)$", README, flags=re.MULTILINE)}
    for name in re.findall(r"\(see ([A-Z][\w ]+?)[,)]", README):
        assert any(h.startswith(name.lower()) for h in headings), f"'see {name}' names no section"


def test_the_glossary_defines_the_terms_used():
    glossary = README.split("## Glossary", 1)[1].split("\n## ", 1)[0]
    for term in ("Segment", "Append vs rewrite", "G**", "Step-wise GRPO", "DCPO", "format barrier", "Paired bootstrap"):
        assert term in glossary, term
