"""mkdocs hook: render the notebooks as pages in every language of mkdocs-static-i18n.

i18n (on_files, priority -100) rebuilds each language's file list with the right notebook at the
right address (`notebooks/x.es.ipynb` -> `es/notebooks/x/`), but as a static file, which would be
copied as raw JSON, and without the other language's address for the header's language switcher.
After it, mark each notebook as a page again (mkdocs-jupyter converts it in on_pre_page) and give
it its alternates, as i18n does for markdown pages.
"""

from __future__ import annotations

from types import SimpleNamespace

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.plugins import event_priority
from mkdocs.structure.files import Files


@event_priority(-200)
def on_files(files: Files, config: MkDocsConfig) -> Files:
    i18n = config.plugins["i18n"]
    current, default = i18n.current_language, i18n.default_language
    for file in files:
        if not file.src_uri.endswith(".ipynb"):
            continue
        file.is_documentation_page = lambda: True  # type: ignore[method-assign]
        path = file.url if current == default else file.url.removeprefix(f"{current}/")
        for lang in i18n.all_languages:
            if lang != current:
                url = path if lang == default else f"{lang}/{path}"
                file.alternates[lang] = SimpleNamespace(url=url)  # type: ignore[attr-defined]
    return files
