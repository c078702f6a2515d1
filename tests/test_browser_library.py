"""End to end in a real browser (Debian's chromium driven by Playwright): the login and the library
of known people.

One server, started with a password in its secrets, the session's cache (multi_face.avi's
extraction is in it) and a library of multi_face.avi's three men. Before the password, no page
shows (or sends) anything but the password field; after it, the People page names the three men
from the library, a name is accepted, and the Library page shows them and finds where a photo's
face appears.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from urllib.parse import urlparse

import cv2
import pytest
from test_browser import BROWSER_ARGS, CHROMIUM, WAIT_MS, _choose_sample, served
from test_library import _library_of_the_three_men

import faceclust as fc
from faceclust.export import cluster_name

PASSWORD = "correct horse battery staple"
#: The photo searched for: a frame of multi_face.avi at this time (s).
PHOTO_AT_S = 20.0


@pytest.fixture(scope="module")
def known(extractions, data, tmp_path_factory) -> tuple[Path, dict[int, str]]:
    """A library of multi_face.avi's three men: its path and their names (label -> name)."""
    path = tmp_path_factory.mktemp("library") / "library.sqlite"
    return path, _library_of_the_three_men(extractions["multi_face.avi"], data, path)


@pytest.fixture(scope="module")
def server(known, data, tmp_path_factory):
    """The dashboard on a free local port behind a password, with the session's cache (the
    extraction of multi_face.avi loads from it at once) and the library of the three men."""
    folder = tmp_path_factory.mktemp("server")
    secrets = folder / "secrets.toml"
    secrets.write_text(f'[faceclust]\npassword = "{PASSWORD}"\n')
    env = {
        "FACECLUST_CACHE": os.environ["FACECLUST_CACHE"],
        "FACECLUST_SAMPLES": str(data / "clips"),
        "FACECLUST_LIBRARY": str(known[0]),
    }
    log = folder / "streamlit.log"
    with served(env, ["--secrets.files", str(secrets)], log) as url:
        yield url
    assert "Traceback" not in log.read_text(), log.read_text()[-4000:]


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        yield browser
        browser.close()


def _new_page(browser):
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.set_default_timeout(WAIT_MS)
    return page


def _shoot(page, name: str) -> None:
    """Save a screenshot into FACECLUST_SCREENSHOTS when set: the whole page (Streamlit scrolls
    its main area inside the window, so the window is made as tall as that area for the shot)."""
    folder = os.environ.get("FACECLUST_SCREENSHOTS")
    if folder:
        height = page.get_by_test_id("stMain").evaluate("main => main.scrollHeight")
        page.set_viewport_size({"width": 1400, "height": max(1000, height)})
        page.mouse.move(0, 0)  # no hover toolbar over an image
        page.wait_for_timeout(1500)  # let the layout settle
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)
        page.set_viewport_size({"width": 1400, "height": 1000})


def _loaded(image) -> None:
    """Wait until an img element has its picture (fails after WAIT_MS)."""
    image.page.wait_for_function(
        "i => i.complete && i.naturalWidth > 0", arg=image.element_handle(), timeout=WAIT_MS
    )


def _only_the_password_field(page) -> None:
    """The page shows the password form and nothing of any page."""
    assert page.get_by_label("Password", exact=True).is_visible()
    assert page.get_by_role("button", name="Log in").is_visible()
    for hidden in (
        "img",
        "video",
        "h1",
        "canvas",
        "[data-testid=stSidebar]",
        "[data-testid=stDownloadButton]",
    ):
        assert page.locator(hidden).count() == 0, hidden
    for widget in ("heading", "slider", "combobox", "radio", "checkbox", "tab"):
        assert page.get_by_role(widget).count() == 0, widget
    assert page.locator("a[href]:not([data-testid=stSkipToContent])").count() == 0  # no page links
    # Streamlit's own (Deploy, its menu), the password's eye and Log in: no button of a page.
    assert set(page.get_by_role("button").all_inner_texts()) <= {"Deploy", "", "visibility", "Log in"}
    for text in ("faceclust", "Library of known people", "People in", "No clip yet", "Download"):
        assert page.get_by_text(text).count() == 0, text


def test_nothing_of_any_page_before_the_password(browser, server, known):
    page = _new_page(browser)
    received, requested = [], []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda frame: received.append(frame)))
    page.on("request", lambda request: requested.append(request.url))
    for path in ("", "/library", "/people", "/download"):
        page.goto(server + path)
        page.get_by_label("Password", exact=True).wait_for()
        page.wait_for_timeout(1000)  # anything else the page would draw
        _only_the_password_field(page)
    page.get_by_label("Password", exact=True).fill("wrong horse")
    page.get_by_role("button", name="Log in").click()
    page.get_by_text("Wrong password.").wait_for()
    page.wait_for_timeout(1000)
    _only_the_password_field(page)
    # Nor did the server send any of it: no name, clip, person or picture in its messages.
    sent = b"".join(frame if isinstance(frame, bytes) else frame.encode() for frame in received)
    assert b"Password" in sent  # what it did send is read here
    for secret in [*known[1].values(), "multi_face", "person_0", "/media/", "Kept in", PASSWORD]:
        assert secret.encode() not in sent, secret
    assert not [url for url in requested if urlparse(url).path.startswith("/media/")]  # st.image's files
    page.context.close()


def _card_title(page, name: str):
    return page.get_by_test_id("stMarkdownContainer").filter(has_text=re.compile(rf"^{name} · \d+ faces · "))


def test_known_people_named_accepted_and_found_by_photo(browser, server, known, extractions, data, tmp_path):
    _, names = known
    page = _new_page(browser)
    page.goto(server + "/library")  # logging in leads to the page asked for
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Library of known people").wait_for()
    page.get_by_role("link", name="Run").first.click()
    _choose_sample(page, "multi_face.avi")
    page.get_by_role("button", name="Run").click()
    page.get_by_text("loaded from the cache").wait_for()
    page.get_by_test_id("stMetricValue").filter(has_text="140").wait_for()
    people = page.get_by_test_id("stMetric").filter(has_text="People")
    assert people.get_by_test_id("stMetricValue").inner_text() == "3"

    # People: each man's card suggests his name from the library (label k is person_0k's card).
    page.get_by_role("link", name="People").first.click()
    suggestions = page.get_by_test_id("stAlert").filter(has_text="Known as")
    suggestions.nth(2).wait_for()
    page.wait_for_timeout(1000)
    assert suggestions.count() == 3
    said = [
        re.search(r"Known as (\S+)\? Their faces lie (\d\.\d\d) .*named within (\d\.\d\d)", s).groups()
        for s in suggestions.all_inner_texts()
    ]
    assert sorted(name for name, _, _ in said) == sorted(names.values())
    assert all(float(distance) <= float(within) for _, distance, within in said)
    for label, name in names.items():
        card = _card_title(page, cluster_name(label)).locator(
            "xpath=ancestor::div[@data-testid='stVerticalBlock'][1]"
        )
        assert card.get_by_test_id("stAlert").filter(has_text=f"Known as {name}?").count() == 1
    first = names[0]
    card = _card_title(page, cluster_name(0)).locator(
        "xpath=ancestor::div[@data-testid='stVerticalBlock'][1]"
    )
    card.get_by_role("button", name="Accept").click()
    _card_title(page, first).wait_for()  # the card carries his name now...
    page.get_by_text(f"Known as {first}?").wait_for(state="detached")
    assert _card_title(page, cluster_name(0)).count() == 0
    assert suggestions.count() == 2  # ... and asks no more; the two others still do
    _shoot(page, "people_known")

    # Library: the three men with their faces.
    page.get_by_role("link", name="Library").first.click()
    page.get_by_role("heading", name="Library of known people").wait_for()
    titles = page.get_by_test_id("stMarkdownContainer").filter(
        has_text=re.compile(r" · \d+ faces · described by")
    )
    titles.nth(2).wait_for()
    assert sorted(t.split(" · ")[0] for t in titles.all_inner_texts()) == sorted(names.values())
    for name in names.values():
        title = titles.filter(has_text=re.compile(rf"^{name} · "))
        faces = int(re.search(r" · (\d+) faces", title.inner_text()).group(1))
        shown = title.locator("xpath=ancestor::div[@data-testid='stVerticalBlock'][1]").locator("img")
        assert faces >= 4 and shown.count() == min(faces, 8)
        for image in shown.all():
            _loaded(image)

    # Search with a photo: a frame of the clip; its largest face is the person found first.
    capture = cv2.VideoCapture(str(data / "clips" / "multi_face.avi"))
    capture.set(cv2.CAP_PROP_POS_MSEC, PHOTO_AT_S * 1000)
    ok, frame = capture.read()
    capture.release()
    assert ok
    photo = tmp_path / "frame_20s.png"
    cv2.imwrite(str(photo), frame)
    extraction = extractions["multi_face.avi"]
    table = extraction.faces.table.assign(cluster=fc.cluster(extraction))
    at = table[table["t_sec"] == PHOTO_AT_S]
    largest = at.loc[((at["right"] - at["left"]) * (at["bottom"] - at["top"])).idxmax()]
    uploader = page.get_by_test_id("stFileUploader").filter(has_text="A photo of the face")
    uploader.locator("input[type=file]").set_input_files(str(photo))
    uploader.get_by_text(photo.name).wait_for()
    page.get_by_test_id("stMultiSelect").filter(has_text="Look in").get_by_text(
        "Every clip in the cache"
    ).wait_for()
    page.get_by_role("button", name="Search").click()
    caption = page.get_by_text(re.compile(r"\d+ found in \d+ clips? searched"))
    caption.wait_for()
    page.get_by_text("Searched for this face: the photo's largest.").wait_for()  # which of its faces
    results = page.get_by_test_id("stMarkdownContainer").filter(
        has_text=re.compile(
            r"^\S+ · person_\d\d(?: \(known as \S+\))? · (?:likely|possible) · distance \d\.\d\d"
        )
    )
    expected = int(re.match(r"\d+", caption.inner_text()).group())
    deadline = time.monotonic() + 30
    while results.count() < expected and time.monotonic() < deadline:  # rows drawn after the caption
        page.wait_for_timeout(200)
    found = results.all_inner_texts()
    assert len(found) == expected, page.locator("body").inner_text()
    label = int(largest["cluster"])  # the cache may hold other clips of him (a batch's episodes)
    mine = [f for f in found if f.startswith("multi_face.avi · ")]
    assert mine and mine[0].startswith(f"multi_face.avi · {cluster_name(label)} (known as {names[label]}) ·")
    # Every likely hit of the library's embedder is him (other tests may have cached clips
    # described by another embedder, whose people the library has no vectors of).
    likely = [f for f in found if " · likely · " in f and "(dlib; step " in f]  # and its settings
    assert likely and all(f"(known as {names[label]})" in f for f in likely)
    assert not [f for f in found if "short_hamilton_clip.mp4" in f]
    for result in results.all():
        row = result.locator("xpath=ancestor::div[@data-testid='stHorizontalBlock'][1]")
        thumb = row.locator("img")
        assert thumb.count() == 1
        _loaded(thumb)
    _shoot(page, "library")
    # A hit opens its clip on People.
    first = found[0].split(" · ")[0]
    page.get_by_role("link", name="Open in People").first.click()
    page.get_by_role("heading", name=f"People in {first}").wait_for()

    # The login is the session's: another browser is asked for the password again.
    other = _new_page(browser)
    other.goto(server + "/library")
    other.get_by_label("Password", exact=True).wait_for()
    _only_the_password_field(other)
    other.context.close()
    page.context.close()
