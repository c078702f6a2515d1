"""faceclust's dashboard as Streamlit users and hosts start an app: ``streamlit run app.py``.

The same router as ``faceclust app`` (``make app``), which adds its settings
(``faceclust.dashboard.SETTINGS``): ``faceclust/dashboard/app.py``, serving the pages in
``faceclust/dashboard/views/`` through ``st.navigation`` (which is why there is no ``pages/``
folder here: Streamlit ignores one beside an app that navigates). Every page checks the login
itself too (``login.guard``).
"""

from faceclust.dashboard.app import main

# Guarded: extraction's worker processes are spawned and re-import the running script, which
# Streamlit registers as __main__; in them __name__ is "__mp_main__" and the page must not run.
if __name__ == "__main__":
    main()
