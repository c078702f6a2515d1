"""faceclust dashboard: bring a clip, run extraction, then tune, inspect, compare and download.

Start it with `make app` (``faceclust app``) or ``streamlit run app.py`` at the project's top.
This file is the router over the pages of ``VIEWS``: the modules in views/ as the wheel ships
them, or the project's pages/ scripts under ``streamlit run app.py``. Pages run after its login
(login.py); each also checks the login itself, for a page Streamlit runs without the router (a
fresh server's first session asking for a pages/ page by its address).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

import faceclust as fc
from faceclust.dashboard import VIEWS, charts, login, session
from faceclust.dashboard.job import EPISODE_FACES


def main(pages_folder: Path | None = None) -> None:
    """Route to the page asked for, after the login. pages_folder: where the page scripts are
    (the project's ``pages/``, one thin script per view); None: the views the wheel ships."""
    st.set_page_config(page_title="faceclust", page_icon=":material/movie:", layout="wide")
    pages = {
        view.name: st.Page(
            view.script if pages_folder is None else view.top_script(pages_folder),
            title=view.title,
            icon=view.icon,
            url_path=view.name,
            default=view == VIEWS[0],
        )
        for view in VIEWS
    }
    session.serve(pages)
    # The page asked for is known before the login (its menu hidden, nothing of it run), so that
    # logging in leads to it.
    page = st.navigation(list(pages.values()), position="sidebar" if login.allowed() else "hidden")
    login.require_login()  # before anything of a page is made: stops here until logged in
    extraction = st.session_state.get("extraction")
    # Not beside an extraction (it made mudo_variety.mp4's 17 s take 24), nor for an episode,
    # whose layouts its extraction made (compiling beside its first pages made People take 8 s).
    idle = extraction is not None and st.session_state.get("job") is None
    if idle and len(extraction.faces.table) < EPISODE_FACES:
        # Only the path its fits take: compiling NN-descent first kept a small clip's first
        # Compare waiting 50 s.
        charts.umap_warmer(len(extraction.clusterer.points.first) < fc.EXACT_BELOW)
    page.run()


# Guarded: extraction's worker processes are spawned and re-import the running script, which
# Streamlit registers as __main__; in them __name__ is "__mp_main__" and the page must not run.
if __name__ == "__main__":
    main()
