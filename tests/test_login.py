"""Who may look: the dashboard listens on localhost, and a login configured in Streamlit's
secrets guards every page (AppTest, headless; no provider is contacted)."""

from __future__ import annotations

import pytest
from conftest import DASHBOARD_ENTRIES, TOP
from streamlit import config
from streamlit.testing.v1 import AppTest

from faceclust import dashboard

TIMEOUT = 60
APP = str(dashboard.APP)
PAGES = TOP / "pages"
PASSWORD = "correct horse battery staple"
AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "not-a-real-secret",
    "client_id": "faceclust-test",
    "client_secret": "not-a-real-secret",
    "server_metadata_url": "https://login.invalid/.well-known/openid-configuration",
}


@pytest.fixture
def no_samples(tmp_path, monkeypatch):
    """No sample clips: the Run page opens on its uploader."""
    monkeypatch.setenv("FACECLUST_SAMPLES", str(tmp_path))


def _app(entry: str = APP, **secrets) -> AppTest:
    app = AppTest.from_file(entry, default_timeout=TIMEOUT)
    app.secrets.update(secrets)
    return app


def _shows_the_run_page(app: AppTest) -> bool:
    return (
        [t.value for t in app.title] == ["faceclust"]
        and len(app.get("file_uploader")) == 2
        and len(app.sidebar.slider) > 0
    )


def _shows_nothing_of_a_page(app: AppTest) -> bool:
    return (
        not app.title
        and not app.get("file_uploader")
        and not app.get("download_button")
        and not app.info
        and not app.sidebar.children
    )


@pytest.mark.parametrize("entry", DASHBOARD_ENTRIES)
def test_without_secrets_there_is_no_login(no_samples, entry):
    app = _app(DASHBOARD_ENTRIES[entry][0]).run()
    assert not app.exception
    assert _shows_the_run_page(app)
    assert "Password" not in [t.label for t in app.text_input]
    assert "Log out" not in [b.label for b in app.sidebar.button]


def test_a_password_guards_every_page_until_given(no_samples):
    app = _app(faceclust={"password": PASSWORD}).run()
    assert not app.exception
    assert [t.label for t in app.text_input] == ["Password"]
    assert [b.label for b in app.button] == ["Log in"]
    assert _shows_nothing_of_a_page(app)

    app.text_input[0].input(PASSWORD[:-1])
    app.button[0].click().run()
    assert [e.value for e in app.error] == ["Wrong password."]
    assert _shows_nothing_of_a_page(app)

    app.text_input[0].input(PASSWORD)
    app.button[0].click().run()
    assert not app.exception and not app.error
    assert _shows_the_run_page(app)
    assert "Password" not in [t.label for t in app.text_input]
    app.run()  # remembered for the session
    assert _shows_the_run_page(app)


@pytest.mark.parametrize("entry", DASHBOARD_ENTRIES)
def test_a_page_asked_for_by_its_address_is_guarded_too(no_samples, entry):
    # AppTest starts each run as a fresh server does (no st.navigation called yet): beside the
    # top's pages/ folder, Streamlit then runs the page asked for itself, without the router.
    script, page_of = DASHBOARD_ENTRIES[entry]
    for view in dashboard.VIEWS:
        app = _app(script, faceclust={"password": PASSWORD}).switch_page(page_of(view)).run()
        assert not app.exception
        assert [t.label for t in app.text_input] == ["Password"], view.name
        assert _shows_nothing_of_a_page(app)
        app.text_input[0].input(PASSWORD)
        app.button[0].click().run()  # logging in leads to the page asked for, not to Run
        assert not app.exception
        assert _shows_the_run_page(app) == (view == dashboard.VIEWS[0]), view.name


@pytest.mark.parametrize(
    "page",
    [*(view.script for view in dashboard.VIEWS), *(view.top_script(PAGES) for view in dashboard.VIEWS)],
    ids=lambda path: f"{path.parent.name}/{path.name}",
)
def test_a_page_run_without_the_router_checks_the_login_itself(no_samples, page):
    app = _app(str(page), faceclust={"password": PASSWORD}).run()
    assert not app.exception
    assert [t.label for t in app.text_input] == ["Password"]
    assert _shows_nothing_of_a_page(app)


def test_an_oidc_provider_shows_only_its_login_button(no_samples):
    app = _app(auth=AUTH, faceclust={"password": PASSWORD})  # the provider wins
    app.user = {"is_logged_in": False}
    app.run()
    assert not app.exception
    assert [b.label for b in app.button] == ["Log in"]
    assert not app.text_input
    assert _shows_nothing_of_a_page(app)
    # Once the provider says who it is: the pages, and a way out in the sidebar.
    app.user = {"is_logged_in": True, "email": "editor@example.com"}
    app.run()
    assert not app.exception
    assert _shows_the_run_page(app)
    assert "Log out" in [b.label for b in app.sidebar.button]


def test_a_secrets_file_that_does_not_load_keeps_the_dashboard_closed(no_samples, tmp_path):
    broken = tmp_path / "secrets.toml"
    broken.write_text('[faceclust]\npassword = "unterminated\n')
    files = config.get_option("secrets.files")
    config.set_option("secrets.files", [str(broken)])
    try:
        app = _app().run()
    finally:
        config.set_option("secrets.files", files)
    assert not app.exception
    assert len(app.error) == 1 and "stays closed" in app.error[0].value
    assert _shows_nothing_of_a_page(app)


def test_the_dashboard_listens_on_localhost_unless_told_otherwise():
    assert dashboard.SETTINGS["server.address"] == "localhost"
    command = dashboard.command(["--server.address", "0.0.0.0"])
    given = [i for i, part in enumerate(command) if part == "--server.address"]
    assert [command[i + 1] for i in given] == ["localhost", "0.0.0.0"]  # the user's last: it wins
    assert command[-2:] == ["--server.address", "0.0.0.0"]
