"""mkdocs hook: a break page's `<!-- break-diff -->` and `<!-- fix-diff -->` become the break's
patch and its fix, computed from the catalogue and the reference lora.py at build time, so the
pages never hold a copy that can drift."""

from __future__ import annotations

import re

from mkdocs.structure.pages import Page

from minituner.course import breaks

PAGE = re.compile(r"break/(\d\d)-[\w-]+(\.es)?\.md$")


def on_page_markdown(markdown: str, page: Page, **_: object) -> str:
    found = PAGE.search(page.file.src_uri)
    if found is None:
        return markdown
    for marker, fix in (("<!-- break-diff -->", False), ("<!-- fix-diff -->", True)):
        if markdown.count(marker) != 1:
            raise ValueError(f"{page.file.src_uri}: expected one {marker}, found {markdown.count(marker)}")
        markdown = markdown.replace(marker, f"```diff\n{breaks.diff(found.group(1), fix=fix)}```")
    return markdown
