"""The web page as the browser tests drive it: find, wait, click, choose files, read what it shows."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

TIMEOUT_S = 30.0
DROP_SCRIPT = """
const [zone, files] = arguments;
const transfer = new DataTransfer();
for (const [name, data] of files) {
  const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  transfer.items.add(new File([bytes], name, { type: "image/jpeg" }));
}
zone.dispatchEvent(new DragEvent("dragover", { dataTransfer: transfer, bubbles: true, cancelable: true }));
zone.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
"""


class Page:
    def __init__(self, driver: Any, base: str) -> None:
        self.driver = driver
        self.base = base

    def open(self) -> Page:
        self.driver.get(f"{self.base}/ui")
        self.wait(lambda: self.text("#service").startswith("Service "), "the service's status")
        return self

    def find(self, css: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def all(self, css: str) -> list[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def text(self, css: str) -> str:
        found = self.all(css)
        return found[0].text if found else ""

    def wait(self, check: Callable[[], Any], what: str) -> Any:
        def attempt(_: Any) -> Any:
            try:
                return check()
            except StaleElementReferenceException:
                return False

        return WebDriverWait(self.driver, TIMEOUT_S).until(attempt, f"waited for {what}")

    def wait_text(self, css: str, part: str) -> str:
        """Wait until the element shows `part`; returns its whole text."""
        self.wait(lambda: part in self.text(css), f"{part!r} in {css}")
        return self.text(css)

    def type(self, css: str, value: str) -> None:
        field = self.find(css)
        field.clear()
        field.send_keys(value)

    def click(self, css: str) -> None:
        self.find(css).click()

    def choose_files(self, css: str, *paths: Path) -> None:
        self.find(css).send_keys("\n".join(str(p) for p in paths))

    def drop_files(self, css: str, *paths: Path) -> None:
        """Drop files on an element as a drag from the desktop would: a `drop` event carrying them."""
        files = [[p.name, base64.b64encode(p.read_bytes()).decode()] for p in paths]
        self.driver.execute_script(DROP_SCRIPT, self.find(css), files)

    def tab(self, name: str) -> None:
        self.click(f"#tab-{name}")
        self.wait(lambda: self.find(f"#panel-{name}").is_displayed(), f"the {name} tab")

    def confirm(self, expected: str) -> None:
        """Answer yes to the confirmation dialog, after checking its question."""
        self.wait(lambda: self.find("#confirm").is_displayed(), "the confirmation dialog")
        assert expected in self.text("#confirm-text")
        self.click("#confirm-yes")
        self.wait(lambda: not self.find("#confirm").is_displayed(), "the dialog to close")

    def gallery_names(self) -> list[str]:
        return [b.get_attribute("data-gallery") for b in self.all("#gallery-list .gallery-choose")]

    def choose_gallery(self, name: str) -> None:
        self.click(f'#gallery-list [data-gallery="{name}"]')
        self.wait_text("#gallery-title", f"Gallery {name}")

    def create_gallery(self, name: str, model: str) -> None:
        if not self.find("#create").get_attribute("open"):
            self.click("#create summary")
        self.type("#create-name", name)
        self.find(f'#create-model option[value="{model}"]').click()
        self.click('#create-form button[type="submit"]')
        self.wait_text("#create-message", f"Gallery {name} created")
        self.wait_text("#gallery-title", f"Gallery {name}")

    def enroll(self, identity: str, *images: Path, metadata: str = "", drop: bool = False) -> str:
        """Enroll through the form, the images chosen (or dropped on the zone); returns the result's text once
        it has one (stored or refused)."""
        self.tab("enroll")
        self.type("#enroll-identity", identity)
        if drop:
            self.drop_files("#enroll-drop", *images)
        else:
            self.choose_files("#enroll-files", *images)
        self.type("#enroll-metadata", metadata)
        self.click("#enroll-submit")
        self.wait(
            lambda: (
                self.find("#enroll-submit").is_enabled()
                and self.text("#enroll-result")
                and "Upload" not in self.text("#enroll-result")
            ),
            "the enroll answer",
        )
        return self.text("#enroll-result")

    def identify(self, image: Path) -> str:
        """Identify through the form; returns the identity shown ("unknown" for none)."""
        self.tab("identify")
        self.choose_files("#identify-file", image)
        self.wait(lambda: image.name in self.text("#identify-result figcaption"), "the identify answer")
        return self.text('[data-testid="identity"]')

    def identities(self) -> dict[str, str]:
        """The Browse tab's identities and their reference counts, as shown."""
        return {
            row.find_element(By.CSS_SELECTOR, ".identity-name").text: row.find_element(
                By.CSS_SELECTOR, ".count"
            ).text
            for row in self.all("#browse-list .identity")
        }
