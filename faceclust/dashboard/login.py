"""Who may look: the login that guards every page when the dashboard is shared.

``require_login()`` runs in the router before any page, so nothing of a page (faces, media,
downloads) is sent before it lets the user through. What it asks for comes from Streamlit's
secrets (``.streamlit/secrets.toml``):

- an ``[auth]`` section (an OpenID Connect provider, as ``st.login`` reads it): Streamlit's own
  login, with a "Log out" button in the sidebar;
- otherwise ``password`` under ``[faceclust]``: a password form, remembered for the session;
- neither: no login (``faceclust app`` listens on localhost only unless told otherwise).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import streamlit as st

#: Session-state keys: True once the right password was given (False after a wrong one), and
#: the password field's.
LOGGED_IN, GIVEN = "faceclust_logged_in", "faceclust_password"


def secrets() -> Mapping[str, Any]:
    """Streamlit's secrets, or ``{}`` where there is no secrets file.

    A secrets file that is there but does not load stops the app with one error line: a broken
    file must not turn the login off."""
    try:
        return st.secrets.to_dict()
    except FileNotFoundError as error:  # StreamlitSecretNotFoundError is one
        if any(Path(path).expanduser().exists() for path in st.get_option("secrets.files")):
            st.error(f"The secrets could not be read, so the dashboard stays closed: {error}")
            st.stop()
        return {}


def allowed() -> bool:
    """Whether this session may see the pages: no login is configured, or it is logged in."""
    found = secrets()
    if "auth" in found:
        return bool(st.user.get("is_logged_in", False))
    return found.get("faceclust", {}).get("password") is None or bool(st.session_state.get(LOGGED_IN))


def require_login() -> None:
    """Let the user through, or show the login and stop the script (``st.stop``) until they
    are logged in. Call it before any page content."""
    found = secrets()
    if "auth" in found:
        if not st.user.get("is_logged_in", False):
            if st.button("Log in", type="primary"):
                st.login()
            st.stop()
        if st.sidebar.button("Log out"):
            st.logout()
        return
    password = found.get("faceclust", {}).get("password")
    if password is None or st.session_state.get(LOGGED_IN):
        return
    with st.form("login"):
        st.text_input("Password", type="password", key=GIVEN)
        st.form_submit_button("Log in", type="primary", on_click=_check, args=(str(password),))
    if st.session_state.get(LOGGED_IN) is False:
        st.error("Wrong password.")
    st.stop()


def guard() -> None:
    """A page's own check: where this session may not look, the login (``require_login``) and a
    stop. The router has asked already; a page run without it (``streamlit run`` of the page
    file, a host that serves the page) is guarded too."""
    if not allowed():
        require_login()


def _check(password: str) -> None:
    """The form's callback: runs before the next script run, so a right password lets that
    very run through to the page asked for; the typed password is not kept."""
    given = st.session_state.pop(GIVEN, "")
    st.session_state[LOGGED_IN] = hmac.compare_digest(given.encode(), password.encode())
