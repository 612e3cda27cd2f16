"""mkdocs hook: a break page's `<!-- break-diff -->` and `<!-- fix-diff -->` become the break's
patch and its fix, computed from the catalogue and the reference lora.py at build time, so the
pages never hold a copy that can drift.

A marker may stand inside an admonition (the fix sits in a collapsed `??? success` block): the
diff block is indented like the marker, every line of it, or Markdown would end the block early."""

from __future__ import annotations

import re

from mkdocs.structure.pages import Page

from minituner.course import breaks

PAGE = re.compile(r"break/(\d\d)-[\w-]+(\.es)?\.md$")


def fenced(diff: str, indent: str) -> str:
    """A ```diff block, each of its lines (blank context lines too) indented by `indent`."""
    return "".join(indent + line for line in f"```diff\n{diff}```".splitlines(keepends=True))


def replace(markdown: str, name: str, diff: str, where: str) -> str:
    marker = re.compile(rf"^([ \t]*)<!-- {name} -->[ \t]*$", re.M)
    count = len(marker.findall(markdown))
    if count != 1:
        raise ValueError(f"{where}: expected one <!-- {name} --> on a line of its own, found {count}")
    return marker.sub(lambda m: fenced(diff, m.group(1)), markdown)


def on_page_markdown(markdown: str, page: Page, **_: object) -> str:
    found = PAGE.search(page.file.src_uri)
    if found is None:
        return markdown
    for name, fix in (("break-diff", False), ("fix-diff", True)):
        markdown = replace(markdown, name, breaks.diff(found.group(1), fix=fix), page.file.src_uri)
    return markdown
