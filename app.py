"""faceclust's dashboard as Streamlit users and hosts start an app: ``streamlit run app.py``.

The router of ``faceclust app`` (``make app``, which adds ``faceclust.dashboard.SETTINGS``),
``faceclust/dashboard/app.py``, here serving the thin scripts in ``pages/`` beside this file:
the same pages at the same addresses. Every page checks the login itself too (``login.guard``),
so a page Streamlit runs without this router is guarded as well.
"""

from pathlib import Path

from faceclust.dashboard.app import main

# Guarded: extraction's worker processes are spawned and re-import the running script, which
# Streamlit registers as __main__; in them __name__ is "__mp_main__" and the page must not run.
if __name__ == "__main__":
    main(Path(__file__).with_name("pages"))
