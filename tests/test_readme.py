"""The README stays a README for users, and every relative link in it and in docs/ resolves.

Links are checked the way GitHub renders them: a relative ``[text](target)`` must name an existing
file (relative to the Markdown file it is in) and, with a ``#fragment``, a heading of that file
whose GitHub slug is the fragment.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MARKDOWN = [README, *sorted((ROOT / "docs").glob("*.md"))]
QUICK_START = (
    "python3 -m venv .venv && . .venv/bin/activate && pip install -e . && huitou serve",
    'python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[test]" && python -m pytest',
)
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)


def github_slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped (hyphens and spaces kept), spaces → hyphens."""
    text = re.sub(r"`([^`]*)`", r"\1", heading)  # inline code renders as its text
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # so does a link
    text = text.strip().lower()
    text = "".join(ch for ch in text if ch.isalnum() or ch in "-_ ")  # \w keeps Chinese characters
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a file; repeated headings get -1, -2 … as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for heading in HEADING.findall(FENCE.sub("", path.read_text(encoding="utf-8"))):
        slug = github_slug(heading)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def relative_links(path: Path) -> list[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    text = re.sub(r"`[^`\n]*`", "", text)  # a link written inside inline code is no link
    return [t for t in LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:", t, re.I)]


def test_slug_follows_github():
    assert github_slug("Try it without WeChat (simulator)") == "try-it-without-wechat-simulator"
    assert github_slug("快速开始（中文）") == "快速开始中文"
    assert github_slug("Subscription notices (订阅通知)") == "subscription-notices-订阅通知"
    assert (
        github_slug("Running on PostgreSQL with several workers")
        == "running-on-postgresql-with-several-workers"
    )
    assert github_slug("`huitou` and 2 files") == "huitou-and-2-files"


def test_readme_is_short():
    assert len(README.read_bytes()) < 25_000


def test_readme_keeps_the_quick_start_commands_verbatim():
    text = README.read_text(encoding="utf-8")
    quick_start = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    chinese = quick_start.split("### 快速开始（中文）", 1)[1]
    for command in QUICK_START:
        assert command in quick_start.split("### 快速开始（中文）", 1)[0], command
        assert command in chinese, command


def test_docs_exist():
    assert len(MARKDOWN) > 1


@pytest.mark.parametrize("path", MARKDOWN, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(path):
    broken = []
    for target in relative_links(path):
        file_part, _, fragment = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif fragment and (linked.suffix != ".md" or fragment not in anchors(linked)):
            broken.append(f"{target}: no heading #{fragment} in {linked.relative_to(ROOT)}")
    assert not broken, broken
    assert "ARCHITECTURE.md" not in path.read_text(encoding="utf-8")
    assert "DOMAIN.md" not in path.read_text(encoding="utf-8")
