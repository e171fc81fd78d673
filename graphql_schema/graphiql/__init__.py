"""GraphiQL served by the app itself: no CDN, so it works on a clinic network with no internet.

The page at ``GET /graphql`` (a browser, outside production) loads React, ReactDOM and GraphiQL
from ``/graphiql/<file>``, read from this folder's ``node_modules`` (``make assets``: ``npm ci``
of the versions pinned in ``package-lock.json``; never committed). It asks for the API key (or
takes ``?key=``) before GraphiQL starts, and sends it as ``Authorization: Bearer <key>`` with
every request, the schema's introspection included, so the docs load at once. Without the
assets the page says which files are missing and how to install them.
"""

from __future__ import annotations

import html
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

HERE = Path(__file__).parent
# read at each request: `make assets` while the app runs, then a reload, is enough
ASSETS_DIR = HERE / "node_modules"
PACKAGE_LOCK = "graphql_schema/graphiql/package-lock.json"

# the URL's file name -> the installed file under node_modules (an allow-list: nothing else
# under node_modules is served)
INSTALLED: dict[str, str] = {
    "react.production.min.js": "react/umd/react.production.min.js",
    "react-dom.production.min.js": "react-dom/umd/react-dom.production.min.js",
    "graphiql.min.js": "graphiql/graphiql.min.js",
    "graphiql.min.css": "graphiql/graphiql.min.css",
}
# this project's own files, kept in git next to this module
OWN: dict[str, str] = {"crm-graphiql.js": "crm-graphiql.js", "crm-graphiql.css": "crm-graphiql.css"}
PAGE = (HERE / "page.html").read_text(encoding="utf-8")
MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


def missing_assets(directory: Path | None = None) -> list[str]:
    """The installed files the page needs that are not there (paths under node_modules)."""
    directory = ASSETS_DIR if directory is None else directory
    return [path for path in INSTALLED.values() if not (directory / path).is_file()]


def page(request: Request) -> HTMLResponse:
    """The GraphiQL page, or (assets missing) a page saying what is missing and how to get it."""
    missing = missing_assets()
    if missing:
        return HTMLResponse(_missing_page(missing, request))
    return HTMLResponse(PAGE, headers={"Cache-Control": "no-store"})


async def asset(request: Request) -> Response:
    name = request.path_params["name"]
    if name in OWN:
        path = HERE / OWN[name]
    elif name in INSTALLED:
        path = ASSETS_DIR / INSTALLED[name]
    else:
        return PlainTextResponse("not found", status_code=404)
    if not path.is_file():
        return PlainTextResponse(f"{name} is not installed: run `make assets`", status_code=404)
    return FileResponse(
        path,
        media_type=MEDIA_TYPES[path.suffix],
        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
    )


def routes() -> list[Route]:
    """The asset routes (outside production only: production serves no GraphiQL)."""
    return [Route("/graphiql/{name}", asset, methods=["GET", "HEAD"])]


def _missing_page(missing: list[str], request: Request) -> str:
    endpoint = html.escape(str(request.url.replace(query="", fragment="")))
    files = "\n".join(f"<li><code>{html.escape(path)}</code></li>" for path in missing)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>GraphiQL is not installed</title>
<style>
body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 46rem; margin: 3rem auto;
  padding: 0 1rem; color: #1b2240; }}
code, pre {{ background: #f1f3f8; padding: 0.1rem 0.3rem; border-radius: 3px; }}
pre {{ padding: 0.6rem 0.8rem; }}
</style>
</head>
<body>
<h1>GraphiQL is not installed on this server</h1>
<p id="graphiql-missing">This page needs GraphiQL's browser files (GraphiQL, React and ReactDOM),
which this server serves itself instead of loading them from the internet. They are not
installed: these files are missing from <code>{html.escape(str(ASSETS_DIR))}</code>:</p>
<ul>
{files}
</ul>
<h2>How to get them</h2>
<p>In the service's checkout, with Node.js and npm installed
(<code>apt-get install npm</code>), run:</p>
<pre>make assets</pre>
<p>It runs <code>npm ci</code>, installing the exact versions pinned in
<code>{PACKAGE_LOCK}</code>, from the npm registry or your npm mirror. Then reload this page;
the server does not need a restart.</p>
<h2>Meanwhile</h2>
<p>The API works without them: send GraphQL over HTTP to <code>{endpoint}</code> with the
header <code>Authorization: Bearer &lt;your API key&gt;</code>.</p>
</body>
</html>
"""
