"""The review UI on a phone-sized screen (375 px), its keyboard help as a real modal
dialog, and single-key shortcuts a reviewer can turn off (WCAG 2.1.4): Debian's Chromium,
headless, against the real app."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.e2e.test_review_browser import _sign_in
from tests.review_data import Scenario

NARROW = {"width": 375, "height": 740}

#: How far the page scrolls sideways, and every control outside the screen that no
#: scrolling box of its own brings into view.
_OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const inScroller = (e) => {
    for (let p = e.parentElement; p; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX;
      if ((o === "auto" || o === "scroll") && p !== document.documentElement
          && p !== document.body) { return true; }
    }
    return false;
  };
  const outside = [...document.querySelectorAll("button, a, input, select, textarea, summary")]
    .filter((e) => {
      const r = e.getBoundingClientRect();
      if (r.width === 0 || e.classList.contains("skip") || e.closest("dialog:not([open])")
          || e.type === "hidden") { return false; }
      return (r.left < -1 || r.right > width + 1) && !inScroller(e);
    })
    .map((e) => e.outerHTML.slice(0, 120));
  const wide = [...document.querySelectorAll("body *")]
    .filter((e) => e.getBoundingClientRect().right > width + 1 && !inScroller(e))
    .map((e) => e.tagName + "." + e.className + "#" + e.id).slice(-8);
  return {sideways: document.documentElement.scrollWidth - width, outside: outside, wide: wide};
}"""


def _fits(page: Any, where: str) -> None:
    found = page.evaluate(_OVERFLOW)
    assert found["sideways"] <= 0, (
        f"{where}: the page scrolls sideways by {found['sideways']} px: {found['wide']}"
    )
    assert not found["outside"], f"{where}: controls off the screen: {found['outside']}"


def test_every_page_is_usable_at_375_px(
    pages: list[Any], live_server: str, scenario: Scenario, shots: Path
) -> None:
    page, admin = pages
    page.set_viewport_size(NARROW)
    admin.set_viewport_size(NARROW)
    page.goto(f"{live_server}/review/login")
    _fits(page, "sign-in")
    _sign_in(page, live_server, "alice")
    _fits(page, "queue")
    page.screenshot(path=str(shots / "review-queue-375.png"), full_page=True)
    page.locator(f'tr[data-item="{scenario.john_item}"]').get_by_role("button").click()
    page.wait_for_url(re.compile(rf"/review/items/{scenario.john_item}$"))
    _fits(page, "decision page")
    page.screenshot(path=str(shots / "review-decision-375.png"), full_page=True)
    page.get_by_role("button", name="Same person").click()  # a merge across NHS numbers
    _fits(page, "confirmation page")
    for path, where in (
        (f"/review/persons/{scenario.alice}", "person page"),
        ("/review/persons?family_name=Okonkwo", "search"),
        ("/review/dashboard", "dashboard"),
        ("/review/password", "change password"),
        ("/review/nosuch", "error page"),
    ):
        page.goto(f"{live_server}{path}")
        _fits(page, where)
    _sign_in(admin, live_server, "carol")
    admin.goto(f"{live_server}/review/users")
    _fits(admin, "accounts")
    admin.get_by_role("button", name="Reset the password of bob").click()
    _fits(admin, "temporary password")


def test_the_help_is_a_modal_dialog_that_takes_and_returns_the_focus(
    pages: list[Any], live_server: str, scenario: Scenario
) -> None:
    page = pages[0]
    _sign_in(page, live_server, "alice")
    nav = page.get_by_role("link", name="Dashboard")
    nav.focus()
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    assert dialog.is_visible()
    assert page.evaluate("document.getElementById('shortcuts').matches(':modal')")
    assert dialog.get_attribute("aria-modal") == "true"
    assert page.evaluate("document.activeElement.id") == "shortcuts-close"
    page.keyboard.press("n")  # the page's shortcuts do nothing while the dialog is open
    assert page.url.endswith("/review/")
    page.keyboard.press("Escape")
    assert not dialog.is_visible()
    assert page.evaluate("document.activeElement.textContent") == "Dashboard"
    page.get_by_role("button", name="Keyboard shortcuts").click()  # also without keys
    assert dialog.is_visible()
    page.get_by_role("button", name="Close").click()
    assert not dialog.is_visible()


def test_single_key_shortcuts_can_be_turned_off_and_stay_off(
    pages: list[Any], live_server: str, scenario: Scenario
) -> None:
    page, other = pages
    _sign_in(page, live_server, "alice")
    page.get_by_role("button", name="Turn them off").click()
    page.wait_for_url(re.compile(r"/review/$"))
    assert "Single-key shortcuts are off" in page.locator("#shortcuts-state").inner_text()
    # the page's script marks every key it acts on (preventDefault); a listener on the
    # window, which hears each key after it, records whether it did
    page.evaluate(
        "window.acted = []; window.addEventListener('keydown',"
        " (e) => window.acted.push(e.key + ':' + e.defaultPrevented))"
    )
    for key in ("n", "?", "/", "g", "q"):
        page.keyboard.press(key)
    assert page.evaluate("window.acted") == ["n:false", "?:false", "/:false", "g:false", "q:false"]
    assert page.url.endswith("/review/")
    assert not page.get_by_role("dialog").is_visible()
    _sign_in(other, live_server, "alice")  # another browser: the choice is the account's
    assert other.locator("body").get_attribute("data-shortcuts") == "off"
    other.get_by_role("button", name="Turn them on").click()
    other.wait_for_url(re.compile(r"/review/$"))
    other.keyboard.press("n")
    other.wait_for_url(re.compile(r"/review/items/\d+$"))
