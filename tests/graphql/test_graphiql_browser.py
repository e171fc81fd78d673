"""GraphiQL on a clinic network: the app serves GraphiQL's files itself, asks for the API key
and sends it, so the schema and the docs load at once; without the files the page says what is
missing and how to get it.

The browser tests run the real app in uvicorn on a loopback port, on the test's database, and
drive Debian's ``chromium`` headless with Playwright; every request the page makes outside
the app is refused, as on a network without internet. They need ``/usr/bin/chromium`` (or
``CRM_TEST_CHROMIUM``), the ``playwright`` package and the files of ``make assets``: without
them a plain ``make test`` skips them, saying which is missing; under CI (``CI=true``) that is
a failure.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy.engine import Engine

from crm.settings import Settings
from graphql_schema import graphiql
from graphql_schema.app import create_app

START_TIMEOUT = 10.0
# named as the page's default query: GraphiQL re-reads the operation name a moment after an edit
QUERY = "query Contacts { contacts(first: 5) { totalCount edges { node { firstName lastName } } } }"
# rendered by GraphiQL itself (a CDN page stuck on "Loading..." has a .graphiql-container too)
EDITOR = ".graphiql-query-editor .CodeMirror"
HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def _chromium() -> str | None:
    configured = os.environ.get("CRM_TEST_CHROMIUM")
    if configured:
        return configured if Path(configured).is_file() else None
    return shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None
    )


def _unavailable() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the `playwright` package is not installed (make venv installs it)"
    if _chromium() is None:
        where = os.environ.get("CRM_TEST_CHROMIUM") or "/usr/bin/chromium"
        return f"no chromium at {where} (apt-get install chromium, or set CRM_TEST_CHROMIUM)"
    missing = graphiql.missing_assets()
    if missing:
        return f"GraphiQL's assets are not installed (run `make assets`): missing {missing}"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    reason = _unavailable()
    if reason is not None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"GraphiQL browser test cannot run under CI: {reason}")
        pytest.skip(f"GraphiQL browser test skipped: {reason}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=_chromium(), headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def live(engine: Engine, settings: Settings) -> Iterator[str]:
    """The app on the test's database in a live uvicorn server on loopback; its base URL."""
    config = uvicorn.Config(
        create_app(engine=engine, settings=settings),
        host="127.0.0.1",
        port=0,
        log_level="warning",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(START_TIMEOUT)


@pytest.fixture
def page(browser, live) -> Iterator[Any]:
    """A fresh browser page on which nothing but the app answers: the rest of the network is
    refused, as on a clinic network with no internet. ``page.elsewhere`` lists what it tried."""
    context = browser.new_context()
    page = context.new_page()
    page.elsewhere = []

    def offline(route) -> None:
        if route.request.url.startswith(live + "/"):
            route.continue_()
        else:
            page.elsewhere.append(route.request.url)
            route.abort("internetdisconnected")

    page.route("**/*", offline)
    page.set_default_timeout(10_000)
    try:
        yield page
    finally:
        context.close()


def run_in_graphiql(page, query: str) -> None:
    page.locator(EDITOR).wait_for()
    page.evaluate(f"q => document.querySelector('{EDITOR}').CodeMirror.setValue(q)", query)
    page.locator(".graphiql-execute-button").click()


class TestInTheBrowser:
    @pytest.mark.parametrize("given", ["?key=", "#key="])
    def test_a_key_in_the_url_runs_a_query_and_the_docs_list_contact(
        self, page, live, reader_key, import_contact, given
    ):
        from playwright.sync_api import expect

        # given: a contact, and the GraphiQL page opened with the key in its URL
        import_contact(first_name="Ada", last_name="Lovelace", email="ada@example.com")
        page.goto(f"{live}/graphql{given}{reader_key}")

        # then: GraphiQL renders, and the key has left the address bar
        expect(page.locator(EDITOR)).to_be_visible()
        assert page.url == f"{live}/graphql"

        # when: a query is run
        run_in_graphiql(page, QUERY)

        # then: it returns the organization's data
        response = page.locator(".graphiql-response")
        expect(response).to_contain_text('"lastName": "Lovelace"')
        expect(response).to_contain_text('"totalCount": 1')

        # when: the docs pane is opened
        page.locator(".graphiql-sidebar button").first.click()
        docs = page.locator(".graphiql-doc-explorer")
        expect(docs).to_be_visible()
        docs.get_by_text("Query", exact=True).click()

        # then: it lists the schema at once (no "Error fetching schema"), Contact included
        expect(docs.get_by_text("Contact", exact=True).first).to_be_visible()
        assert "Error fetching schema" not in page.content()
        # and: the page asked nothing of the internet
        assert page.elsewhere == []

    def test_the_page_asks_for_the_key_says_when_it_is_refused_and_forgets_it(
        self, page, live, reader_key
    ):
        from playwright.sync_api import expect

        # given: the page opened without a key
        page.goto(f"{live}/graphql")
        key = page.get_by_label("Your API key")
        expect(key).to_be_visible()

        # when: a wrong key is given
        key.fill("not-a-key")
        page.get_by_role("button", name="Open GraphiQL").click()

        # then: the page says so, and GraphiQL does not start
        expect(page.get_by_role("alert")).to_contain_text("not accepted")
        expect(page.locator(EDITOR)).to_have_count(0)

        # when: the right one is given
        key.fill(reader_key)
        page.get_by_role("button", name="Open GraphiQL").click()

        # then: GraphiQL starts with the schema loaded (its types appear in the docs pane)
        expect(page.locator(EDITOR)).to_be_visible()
        page.locator(".graphiql-sidebar button").first.click()
        expect(
            page.locator(".graphiql-doc-explorer").get_by_text("Query", exact=True)
        ).to_be_visible()

        # when: the page is reloaded, then the key is changed
        page.reload()
        expect(page.locator(EDITOR)).to_be_visible()  # the tab kept the key
        page.get_by_role("button", name="Change API key").click()

        # then: it asks again, and a reload does not bring the old key back
        expect(key).to_be_visible()
        page.reload()
        expect(key).to_be_visible()
        expect(page.locator(EDITOR)).to_have_count(0)
        assert page.elsewhere == []


@pytest.fixture
def installed(tmp_path, monkeypatch) -> Path:
    """An assets folder holding exactly the files the page needs (and one it must not serve)."""
    folder = tmp_path / "node_modules"
    for name, path in graphiql.INSTALLED.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(f"/* {name} */\n")
    (folder / "graphiql" / "package.json").write_text("{}")
    monkeypatch.setattr(graphiql, "ASSETS_DIR", folder)
    return folder


@pytest.fixture
def not_installed(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "nothing-installed"
    monkeypatch.setattr(graphiql, "ASSETS_DIR", folder)
    return folder


class TestThePage:
    def test_without_the_assets_the_page_says_what_is_missing_and_how_to_get_them(
        self, api, not_installed
    ):
        # when: a browser asks for GraphiQL on a server without the assets
        response = api.client.get("/graphql", headers=HTML)

        # then: a plain page (nothing to load, so no "Loading..." forever) names the files
        # and the command that installs them
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        text = response.text
        assert "GraphiQL is not installed" in text
        assert "graphiql/graphiql.min.js" in text and "react/umd/react.production.min.js" in text
        assert "make assets" in text and "package-lock.json" in text
        assert "Authorization: Bearer" in text
        assert "<script" not in text

    def test_without_the_assets_an_asset_is_a_404_that_says_how_to_get_it(self, api, not_installed):
        response = api.client.get("/graphiql/graphiql.min.js")
        assert response.status_code == 404
        assert "make assets" in response.text

    def test_with_the_assets_the_page_loads_them_from_this_server(self, api, installed):
        # when
        page = api.client.get("/graphql", headers=HTML)

        # then: every script and style sheet is one the app serves (no CDN)
        assert page.status_code == 200
        for name in [*graphiql.INSTALLED, *graphiql.OWN]:
            assert f'"graphiql/{name}"' in page.text
            served = api.client.get(f"/graphiql/{name}")
            assert served.status_code == 200, name
            assert served.headers["content-type"].split(";")[0] in ("text/javascript", "text/css")
        assert "https://" not in page.text

    def test_only_the_files_the_page_needs_are_served(self, api, installed):
        assert api.client.get("/graphiql/package.json").status_code == 404
        assert api.client.get("/graphiql/..%2Fgraphiql%2Fpackage.json").status_code == 404

    def test_production_serves_no_graphiql_assets(self, production_api, installed):
        response = production_api.client.get("/graphiql/crm-graphiql.js")
        assert response.status_code == 404
        assert "graphiql" not in response.text.lower()
