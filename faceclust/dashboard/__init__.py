"""The Streamlit dashboard: ``faceclust app`` starts ``app.py`` (the router) with these settings;
the pages are in ``views/``, what they share in ``session``, who may look in ``login``. Nothing
here imports Streamlit."""

from dataclasses import dataclass
from pathlib import Path

#: The dashboard's entry script.
APP = Path(__file__).with_name("app.py")


@dataclass(frozen=True)
class View:
    """One page of the dashboard: its module in ``views/`` (``name``, whose ``main()`` draws it,
    also the page's address: ``/people``; the first page's is ``/``), its title and its icon."""

    name: str
    title: str
    icon: str

    @property
    def script(self) -> Path:
        """The page's script as the wheel ships it (``faceclust app`` serves these)."""
        return Path(__file__).with_name("views") / f"{self.name}.py"

    def top_script(self, pages: Path) -> Path:
        """The page's thin script in the project's ``pages/`` folder (``streamlit run app.py``
        serves these): ``{position}_{name}.py``, which Streamlit orders by and addresses as
        ``/{name}`` (as a page it runs without the router, before any has run)."""
        return pages / f"{VIEWS.index(self)}_{self.name}.py"


#: The pages in menu order; the first is where the dashboard opens.
VIEWS = (
    View("run", "Run", ":material/play_arrow:"),
    View("people", "People", ":material/group:"),
    View("compare", "Compare", ":material/scatter_plot:"),
    View("download", "Download", ":material/download:"),
    View("series", "Series", ":material/video_library:"),
    View("library", "Library", ":material/badge:"),
)

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
    # The eps slider is given its value and also set through the state (``sidebar``) on purpose.
    "global.disableWidgetStateDuplicationWarning": "true",
}


def command(options: list[str]) -> list[str]:
    """The command line that runs the dashboard with ``options`` (Streamlit's, e.g.
    ``--server.port 8502``)."""
    import sys

    settings = [part for key, value in SETTINGS.items() for part in (f"--{key}", value)]
    return [sys.executable, "-m", "streamlit", "run", str(APP), *settings, *options]
