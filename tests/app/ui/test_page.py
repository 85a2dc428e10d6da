"""The web page's whole flow in a real browser against the real service and the bundled faces model: create
a gallery, enroll two identities, identify a known and an unknown face, verify, browse and delete; keys on
and off. Assertions are on what the page shows."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageOps

pytest.importorskip(
    "selenium", reason="browser tests skipped: selenium is not installed (pip install -e '.[dev]')"
)
from selenium.webdriver.common.keys import Keys  # noqa: E402

from tests.app.ui.page import Page  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "data"
FACES = DATA / "faces"


@pytest.fixture
def photos(tmp_path: Path) -> dict[str, list[Path]]:
    """Three references per person: the photo, its mirror image and a crop (the same face each time)."""
    folder = tmp_path / "photos"
    folder.mkdir()
    made: dict[str, list[Path]] = {}
    for person in ("obama", "biden"):
        image = Image.open(FACES / f"{person}.jpg")
        width, height = image.size
        variants = {
            "1": image,
            "mirror": ImageOps.mirror(image),
            "crop": image.crop((width // 10, height // 10, width, height)),
        }
        made[person] = []
        for tag, variant in variants.items():
            path = folder / f"{person}-{tag}.jpg"
            variant.save(path, quality=90)
            made[person].append(path)
    return made


def test_page_creates_enrolls_identifies_browses_and_deletes(browser, serve, shots, photos):
    page = Page(browser, serve()).open()
    page.wait(lambda: "faces" in page.gallery_names(), "the default galleries")
    assert page.text("#service") == "Service ready"

    # create, reading the model's threshold and what it was trained for
    page.click("#create summary")
    page.find('#create-model option[value="faces"]').click()
    info = page.wait_text("#create-model-info", "Face model")
    assert "Threshold 0.806" in info and "Trained for faces (celeba, lfw, orl, pins, yaleb)" in info
    page.create_gallery("staff", "faces")
    assert page.gallery_names() == ["bodyparts", "defects", "faces", "staff"]
    shots("01-created")

    # enroll two identities, three images each, in one request each (chosen, then dropped)
    said = page.enroll("Barack Obama", *photos["obama"], metadata='{"employee_id": 44}')
    assert said.startswith("Enrolled 3 images of Barack Obama as references #1, #2, #3")
    assert len(page.all("#enroll-list .file.stored")) == 3
    assert "face found" in page.text("#enroll-list")
    shots("02-enrolled")
    said = page.enroll("Joe Biden", *photos["biden"], drop=True)
    assert said.startswith("Enrolled 3 images of Joe Biden as references #4, #5, #6")
    page.wait_text("#gallery-summary", "2 identities · 6 references")

    # one image without a face: the API's error, in words, on the image it names; nothing stored
    said = page.enroll("Nobody", FACES / "biden.jpg", DATA / "coffee.jpg")
    assert "422 no_face: coffee.jpg: no face found" in said and "image. Nothing was stored" in said
    failed = page.all("#enroll-list .file.failed")
    assert len(failed) == 1 and "coffee.jpg" in failed[0].text
    assert "6 references" in page.text("#gallery-summary")
    shots("03-enroll-refused")

    # a bad metadata box is refused before any upload
    page.click("#enroll-clear")
    said = page.enroll("Joe Biden", photos["biden"][0], metadata="[1, 2]")
    assert said == 'Metadata must be a JSON object, such as {"employee_id": 1815}.'

    # identify: a known face, with its box, the bar and the candidates
    assert page.identify(FACES / "obama2.jpg") == "Barack Obama"
    result = page.text("#identify-result")
    assert "within the threshold" in result
    rows = page.all("#identify-result .candidates tbody tr")
    assert [r.find_element("css selector", "th").text for r in rows] == ["Barack Obama", "Joe Biden"]
    box = page.find("#identify-result .face-box")
    assert box.size["width"] > 20 and box.get_attribute("aria-label").startswith("detected face: box")
    assert page.find("#identify-result .bar").get_attribute("aria-label").startswith("distance 0.5")
    assert page.text("#key-state") == "No key needed"
    shots("04-identified", full=True)

    # an unknown face (the largest of a group photo)
    assert page.identify(FACES / "group.jpg") == "unknown"
    assert "over the threshold" in page.text("#identify-result")
    assert "3 faces found, the largest was used" in page.text("#identify-result figcaption")
    shots("05-unknown")

    # the camera (Chromium's fake one draws a test pattern: no face, and the page says so)
    page.click("#identify-camera")
    page.wait(
        lambda: page.find("#identify-video").get_attribute("videoWidth") not in (None, "0"), "the camera"
    )
    page.click("#identify-capture")
    page.wait_text("#identify-result", "422 no_face: camera.jpg: no face found")
    shots("06-camera")

    # the tabs answer the arrow keys, and keep the focus on the tab chosen
    page.find("#tab-identify").send_keys(Keys.ARROW_RIGHT)
    page.wait(lambda: page.find("#panel-verify").is_displayed(), "the verify tab, by keyboard")
    assert page.driver.switch_to.active_element.get_attribute("id") == "tab-verify"
    assert page.find("#tab-verify").get_attribute("aria-selected") == "true"
    assert not page.find("#panel-identify").is_displayed()

    # verify two images
    page.tab("verify")
    page.choose_files("#verify-file-a", FACES / "obama.jpg")
    page.choose_files("#verify-file-b", FACES / "obama2.jpg")
    page.click("#verify-submit")
    assert page.wait_text('[data-testid="verdict"]', "same") == "same identity"
    assert len(page.all("#verify-result .face-box")) == 2
    # and an image against an enrolled identity
    page.click('input[name="verify-mode"][value="identity"]')
    page.type("#verify-identity", "Joe Biden")
    page.click("#verify-submit")
    assert page.wait_text('[data-testid="verdict"]', "Joe Biden") == "is not Joe Biden"
    shots("07-verified")

    # browse, delete one reference, then an identity
    page.tab("browse")
    page.wait(lambda: len(page.identities()) == 2, "two identities")
    assert page.identities() == {"Barack Obama": "3 references", "Joe Biden": "3 references"}
    assert '{"employee_id":44}' in page.text("#browse-list")
    assert page.text("#browse-range") == "Identities 1–2 of 2"
    page.wait(lambda: len(page.all("#browse-list img.thumb")) == 6, "the six thumbnails")
    alts = [img.get_attribute("alt") for img in page.all('[data-identity="Barack Obama"] img.thumb')]
    assert alts == [f"reference #{i} of Barack Obama" for i in (1, 2, 3)]
    shots("08-browse")
    page.click('#browse-list [aria-label="Delete reference #1 of Barack Obama"]')
    page.confirm("Delete reference #1?")
    page.wait_text("#browse-message", "Reference #1 of Barack Obama deleted.")
    page.wait(lambda: page.identities().get("Barack Obama") == "2 references", "the new count")
    page.type("#reference-id", "2")
    page.click('#reference-form button[type="submit"]')
    page.confirm("Delete reference #2?")
    page.wait_text("#browse-message", "Reference #2 of Barack Obama deleted.")
    page.wait(lambda: page.identities().get("Barack Obama") == "1 reference", "the new count")
    page.click('#browse-list [aria-label="Delete identity Joe Biden"]')
    page.confirm("Delete identity “Joe Biden” and its 3 references?")
    page.wait_text("#browse-message", "Identity Joe Biden deleted with 3 references.")
    page.wait(lambda: list(page.identities()) == ["Barack Obama"], "one identity left")
    page.wait_text("#gallery-summary", "1 identity · 1 reference")
    shots("09-deleted")

    # pages of identities
    page.tab("enroll")
    page.click("#enroll-clear")
    for i in range(11):
        page.enroll(f"person {i:02d}", photos["biden"][i % 3])
    page.tab("browse")
    page.find('#browse-size option[value="10"]').click()
    page.wait_text("#browse-range", "Identities 1–10 of 12")
    page.click("#browse-next")
    page.wait_text("#browse-range", "Identities 11–12 of 12")
    assert list(page.identities()) == ["person 09", "person 10"]
    assert not page.find("#browse-next").is_enabled()

    # delete the gallery, after saying no once
    page.click('#gallery-list [aria-label="Delete gallery staff"]')
    page.wait(lambda: page.find("#confirm").is_displayed(), "the dialog")
    page.click("#confirm-no")
    assert "staff" in page.gallery_names()
    page.click('#gallery-list [aria-label="Delete gallery staff"]')
    page.confirm("Delete gallery “staff” with its 12 identities and 12 references?")
    page.wait(lambda: "staff" not in page.gallery_names(), "the gallery to go")
    assert page.find("#no-gallery").is_displayed()
    assert page.text("#galleries-message") == "Gallery staff deleted."
    shots("10-gallery-deleted")


def test_page_with_keys_asks_for_one_refuses_a_wrong_one_and_keeps_it_for_the_tab(
    browser, serve, shots, photos
):
    page = Page(browser, serve(api_keys="secret,other")).open()
    page.wait_text("#galleries-message", "This service needs an API key: enter one of its keys above.")
    assert page.gallery_names() == [] and "No galleries yet" not in page.text("#gallery-list")
    assert page.driver.switch_to.active_element.get_attribute("id") == "api-key"
    shots("01-needs-key")

    page.type("#api-key", "wrong")
    page.click('#key-form button[type="submit"]')
    page.wait_text(
        "#galleries-message", "The key was refused (401 unauthorized: missing or wrong X-API-Key header)"
    )
    assert page.text("#key-state") == "Key set for this tab"

    page.type("#api-key", "other")
    page.click('#key-form button[type="submit"]')
    page.wait(lambda: "faces" in page.gallery_names(), "the galleries")
    assert not page.find("#galleries-message").is_displayed()
    assert page.find("#api-key").get_attribute("value") == ""  # never left in the field

    # every kind of request carries the key: JSON, multipart with progress, deletes
    page.create_gallery("keyed", "faces")
    assert page.enroll("Barack Obama", *photos["obama"]).startswith("Enrolled 3 images")
    assert page.identify(FACES / "obama2.jpg") == "Barack Obama"
    shots("02-with-key")

    # the key stays for the tab (sessionStorage) across a reload, and goes when forgotten
    page.open()
    page.wait(lambda: "keyed" in page.gallery_names(), "the galleries after a reload")
    assert page.driver.execute_script("return sessionStorage.getItem('sg.apiKey')") == "other"
    page.click("#key-forget")
    page.wait_text("#galleries-message", "This service needs an API key")
    assert page.driver.execute_script("return sessionStorage.getItem('sg.apiKey')") is None
