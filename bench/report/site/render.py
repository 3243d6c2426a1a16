"""Pages -> files: Jinja2 templates, the site's own assets and the vendored Plotly runtime, all through the
store's atomic writer. Output bytes depend only on the pages' data (no generation time, sorted keys)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from markupsafe import Markup, escape

from ...errors import ConfigError
from ...store.atomic import write_file
from .pages import Page

ASSETS = "assets"
OWN_ASSETS = ("site.css", "site.js")
PLOTLY = "plotly.min.js"
PLOTLY_LICENSE = "plotly.LICENSE.txt"
MANIFEST = ".bench-site-files"  # what the last build wrote (sorted), so that the next one can remove its stale pages
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*([^*]+)\*\*")


def inline(text: str) -> Markup:
    """A markdown cell or note as HTML: escaped, then its links, `code` and **bold** turned into tags
    (the cells are the markdown pages' own strings, so the two renderings never disagree)."""
    out = str(escape(str(text).replace("\\|", "|")))
    out = _LINK.sub(lambda m: f'<a href="{_href(m.group(2))}">{m.group(1)}</a>', out)
    out = _CODE.sub(r"<code>\1</code>", out)
    return Markup(_BOLD.sub(r"<strong>\1</strong>", out))


def _href(target: str) -> str:
    """A markdown page's link to another generated page points at the site's page of the same name."""
    if "://" in target or not target.endswith(".md"):
        return target
    return "index.html" if target == "README.md" else target[: -len(".md")] + ".html"


def bullets(text: str) -> Markup:
    """A markdown list of `- ` items (continuation lines indented) as <ul>."""
    items: list[str] = []
    for line in str(text).splitlines():
        if line.startswith("- "):
            items.append(line[2:])
        elif items:
            items[-1] += " " + line.strip()
    return Markup("<ul>" + "".join(f"<li>{inline(i)}</li>" for i in items) + "</ul>")


def environment():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("bench.report.site", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["inline"] = inline
    env.filters["bullets"] = bullets
    return env


def plotly_files() -> dict[str, bytes]:
    """plotly.min.js from the installed plotly wheel and its MIT license, copied once into assets/."""
    from importlib import metadata

    try:
        dist = metadata.distribution("plotly")
    except metadata.PackageNotFoundError:
        raise ConfigError("plotly is not installed: `pip install -e .` (or `make install`) installs it") from None
    files = {str(f): f for f in dist.files or []}
    js = next((f for name, f in files.items() if name.endswith("plotly/package_data/plotly.min.js")), None)
    lic = next((f for name, f in files.items() if ".dist-info/" in name and "LICENSE" in name.upper()), None)
    if js is None or lic is None:
        raise ConfigError(
            f"plotly {dist.version} ships no plotly.min.js or license: reinstall it (`pip install --force-reinstall plotly`)"
        )
    license_text = f"plotly.min.js: plotly.js as shipped in the plotly {dist.version} wheel (PyPI).\n\n" + Path(
        str(dist.locate_file(lic))
    ).read_text(encoding="utf-8")
    return {PLOTLY: Path(str(dist.locate_file(js))).read_bytes(), PLOTLY_LICENSE: license_text.encode("utf-8")}


def write(pages: Sequence[Page], out_dir: str | Path) -> list[Path]:
    """Write every page and the assets; returns the paths written, in a stable order."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file: pass a folder for the site")
    env = environment()
    written = []
    nav = [(p.path, p.title) for p in pages if p.nav or p.path == "index.html"]
    for page in pages:
        html = env.get_template(page.template).render(**{"charts": False, **page.context}, page=page, nav=nav, assets=ASSETS)
        written.append(write_file(out / page.path, html))
    own = resources.files("bench.report.site") / "assets"
    for name in OWN_ASSETS:
        written.append(write_file(out / ASSETS / name, (own / name).read_bytes()))
    for name, data in sorted(plotly_files().items()):
        written.append(write_file(out / ASSETS / name, data))
    _forget_stale(out, written)
    return written


def _forget_stale(out: Path, written: Sequence[Path]) -> None:
    """Delete the pages an earlier build wrote and this one did not (a model whose results were removed), and
    nothing else: the manifest lists what `bench site` wrote, so other files in --out are never touched."""
    manifest = out / MANIFEST
    now = sorted(p.relative_to(out).as_posix() for p in written)
    before = manifest.read_text(encoding="utf-8").splitlines() if manifest.is_file() else []
    for name in sorted(set(before) - set(now)):
        stale = out / name
        if stale.is_file() and stale.resolve().is_relative_to(out.resolve()):
            stale.unlink()
    write_file(manifest, "".join(f"{n}\n" for n in now))
