"""The Sphinx extension of the book (listed in ``_config.yml``): the evidence version and a cite line on
every page, a feed link and schema.org metadata in every page's head, the files the pages link to and
what re-users read (:mod:`._publish` builds them), and a fix for a Sphinx bug.

It imports nothing heavy: jupyter-book loads it on every build, including the no-op ones.
"""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path
from typing import Any, Callable, Mapping

__all__ = ["stamp_version"]

_BANNER = re.compile(r'(<span class="eb-evidence-version">)[^<]*(</span>)')
_CITE = re.compile(r'(<span class="eb-cite-version">)[^<]*(</span>)')
# The slot of the schema.org metadata: json_ld_script never lets "</script>" into the JSON, so the first one ends it.
_JSON_LD = re.compile(r'<script type="application/ld\+json" class="eb-json-ld">.*?</script>', re.DOTALL)


def _evidence(srcdir: Path) -> Path:
    """The project's evidence folder (``evidence_dir`` in pyproject.toml), not a fixed ``evidence/``."""
    from ._config import load_settings

    return load_settings(srcdir).evidence


def _manifest(srcdir: Path) -> dict[str, Any]:
    # Read here, not through _evidence.read_manifest: this extension must not import pandas (every build loads it).
    return dict(json.loads((_evidence(srcdir) / "manifest.json").read_text(encoding="utf-8")))


def _version_label(srcdir: Path) -> str:
    manifest = _manifest(srcdir)
    return (f"Evidence version {manifest['evidence_version']} ({manifest['date']}, "
            f"{manifest['content_hash'][:12]}) · Zotero library version {manifest['zotero']['library_version']}")


def _exclude_evidence(app: Any, config: Any) -> None:
    """Keep the evidence folder out of the book wherever ``evidence_dir`` puts it (_config.yml names ``evidence/``)."""
    source = Path(app.srcdir).resolve()
    folder = _evidence(source)
    if folder.is_relative_to(source):
        pattern = f"{folder.relative_to(source).as_posix()}/*"
        if pattern not in config.exclude_patterns:
            config.exclude_patterns.append(pattern)


def _version_banner(app: Any, config: Any) -> None:
    """Put an evidence-version slot in every page's announcement bar and footer.

    The slot is the same in every build, and :func:`stamp_version` fills it once the pages
    are written: a new version in the theme configuration would make Sphinx write every
    page again, while a one-study change needs only the pages that read it.
    """
    slot = '<span class="eb-evidence-version">Evidence version</span>'
    options = dict(config.html_theme_options or {})
    options["announcement"] = slot
    options["extra_footer"] = (f"<p>Built from {slot}.</p>"
                               '<p class="eb-cite"><strong>Cite this version:</strong> '
                               '<span class="eb-cite-version">the review</span></p>')
    config.html_theme_options = options


def _head_links(app: Any, pagename: str, templatename: str, context: dict[str, Any], doctree: Any) -> None:
    """Every page's head: the Atom feed of evidence versions (for feed readers), and a slot for its schema.org
    metadata, the same in every build (:func:`stamp_version` fills it in, like the version banner)."""
    feed = html.escape(context["pathto"]("feed.xml", 1), quote=True)
    context["metatags"] = (context.get("metatags", "") +
                           f'\n<link rel="alternate" type="application/atom+xml" title="Evidence versions" href="{feed}">'
                           '\n<script type="application/ld+json" class="eb-json-ld">{}</script>')


def stamp_version(site: Path, label: str, cite: str = "",
                  metadata: Callable[[str], Mapping[str, Any]] | None = None) -> list[Path]:
    """Write ``label`` into the evidence-version slot of every page of ``site`` that shows another, ``cite``
    into its cite slot, and ``metadata(root)`` (the page's schema.org data; ``root`` leads from the page to
    the site's root) into its head.

    Every page gets the current label, whether Sphinx rewrote it in this build or not.
    Returns the pages changed.
    """
    from ._publish import json_ld_script

    changed = []
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        stamped = _BANNER.sub(lambda slot: slot[1] + html.escape(label) + slot[2], text)
        if cite:
            stamped = _CITE.sub(lambda slot: slot[1] + html.escape(cite) + slot[2], stamped)
        if metadata is not None:
            script = json_ld_script(metadata("../" * (len(page.relative_to(site).parts) - 1)))
            stamped = _JSON_LD.sub(lambda _: script, stamped)
        if stamped != text:
            page.write_text(stamped, encoding="utf-8")
            changed.append(page)
    return changed


def _publish_files(app: Any, exception: Exception | None) -> None:
    """Fill in the evidence version, the cite line and the schema.org metadata on every page, and copy into the
    site what its pages link to: every kept evidence version (What's new) and each brief's PDF (next to its
    page); then what re-users read (the feed, data packages, JSON: :func:`~evidencebook._publish.publish_site`)."""
    from ._config import load_settings
    from ._publish import cite_as, json_ld, version_label

    if exception is not None or app.builder.format != "html":
        return
    settings = load_settings(Path(app.srcdir))
    manifest = _manifest(Path(app.srcdir))
    stamp_version(Path(app.outdir), _version_label(Path(app.srcdir)), cite_as(version_label(manifest), settings.site_url),
                  lambda root: json_ld(manifest, settings.site_url, root))
    source = _evidence(Path(app.srcdir)) / "versions"
    if source.is_dir():
        shutil.copytree(source, Path(app.outdir) / "evidence-versions", dirs_exist_ok=True)
    _publish_for_reuse(settings, Path(app.outdir))
    briefs = Path(app.outdir) / "book" / "briefs"
    if briefs.is_dir():
        for pdf in load_settings(Path(app.srcdir)).brief_html_dir.glob("*.pdf"):
            shutil.copy2(pdf, briefs / pdf.name)


def _publish_for_reuse(settings: Any, site: Path) -> None:
    """The feed, data packages and JSON (:func:`~evidencebook._publish.publish_if_changed`). ``evidencebook build``
    has already written them while the pages ran; a bare ``jupyter-book build`` writes them here."""
    from ._publish import publish_if_changed

    publish_if_changed(settings, site)


def _drop_duplicate_scripts(app: Any, pagename: str, templatename: str, context: dict[str, Any], doctree: Any) -> None:
    """Keep one copy of each script: Sphinx 7.4 adds inline scripts registered late twice
    (sphinx-doc/sphinx#13402), and the second THEBE_JS_URL declaration is a SyntaxError on every page."""
    seen, kept = set(), []
    for js in context.get("script_files", []):
        key = (str(getattr(js, "filename", "") or ""), getattr(js, "priority", 0),
               tuple(sorted((getattr(js, "attributes", {}) or {}).items())))
        if key not in seen:
            seen.add(key)
            kept.append(js)
    context["script_files"] = kept


def setup(app: Any) -> dict[str, Any]:
    """Sphinx extension entry point (listed in _config.yml under sphinx.extra_extensions)."""
    app.connect("config-inited", _version_banner)
    app.connect("config-inited", _exclude_evidence)
    app.connect("build-finished", _publish_files)
    app.connect("html-page-context", _drop_duplicate_scripts)
    app.connect("html-page-context", _head_links)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
