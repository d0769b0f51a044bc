"""Text on the API description and the trust page wraps at spaces, in a real Chromium: no English
word is split across two lines at 390 or 1280 px unless it is longer than the line itself (a path,
a URL), and such a token breaks rather than overflowing (the width is checked in
test_pages_browser)."""

from __future__ import annotations

import contextlib

import pytest

from tests.conftest import HubUnderTest

with contextlib.suppress(ImportError):  # without playwright the `browser` fixture skips
    from playwright.async_api import Browser

# Every run of ASCII without spaces or hyphens (a word, a path, an option; a line may end after a
# hyphen, as in print) in the blocks' text that lies on more than one line although, laid out on
# one line, it would take under 90% of its block's width.
SPLIT_WORDS = """(selector) => {
  const split = [];
  for (const block of document.querySelectorAll(selector)) {
    const walker = document.createTreeWalker(block, NodeFilter.SHOW_TEXT);
    const room = block.getBoundingClientRect().width;
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const match of node.data.matchAll(/[\x21-\x2c\x2e-\x7e’]*[A-Za-z][\x21-\x2c\x2e-\x7e’]*/g)) {
        const range = document.createRange();
        range.setStart(node, match.index);
        range.setEnd(node, match.index + match[0].length);
        const rects = [...range.getClientRects()];
        const tops = new Set(rects.map((r) => Math.round(r.top)));
        const wide = rects.reduce((sum, r) => sum + r.width, 0);  // the word laid out on one line
        if (tops.size > 1 && wide < room * 0.9) split.push(match[0]);
      }
    }
  }
  return split;
}"""


@pytest.mark.parametrize("width", [390, 1280])
async def test_words_wrap_at_spaces_on_the_api_and_trust_pages(hub: HubUnderTest, browser: Browser, width: int) -> None:
    context = await browser.new_context(
        ignore_https_errors=True, locale="ja-JP", viewport={"width": width, "height": 800}
    )
    page = await context.new_page()
    for path in ("/api", "/trust"):
        await page.goto(hub.url + path)
        split = await page.evaluate(SPLIT_WORDS, "main ul, main ol, main p, main pre, main h3")
        assert split == [], f"{path} at {width}px splits {split[:5]}"
    await context.close()
