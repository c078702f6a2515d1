"""The Streamlit dashboard: ``faceclust app`` starts ``app.py`` (the router) with these settings;
the pages are in ``views/``, what they share in ``session``, who may look in ``login``. Nothing
here imports Streamlit."""

from pathlib import Path

#: The dashboard's entry script.
APP = Path(__file__).with_name("app.py")

#: Streamlit settings ``faceclust app`` starts with (the user's options come after and win):
#: listening on this machine only (share it with ``--server.address 0.0.0.0`` and a login, see
#: ``login``), uploads of clips up to ~2 GB (Streamlit's default is 200 MB), no browser opened,
#: no usage statistics sent, no Deploy button (``client.toolbarMode`` minimal), the faceclust colour.
SETTINGS = {
    "server.address": "localhost",
    "server.maxUploadSize": "2048",
    "server.headless": "true",
    "browser.gatherUsageStats": "false",
    "client.toolbarMode": "minimal",
    "theme.primaryColor": "#d6336c",
}


def command(options: list[str]) -> list[str]:
    """The command line that runs the dashboard with ``options`` (Streamlit's, e.g.
    ``--server.port 8502``)."""
    import sys

    settings = [part for key, value in SETTINGS.items() for part in (f"--{key}", value)]
    return [sys.executable, "-m", "streamlit", "run", str(APP), *settings, *options]
