"""What the browser tests share: a Chromium that fails the test on any Content Security
Policy violation, another person's tab, the monitoring site's login, and the phone-width
check."""

from __future__ import annotations

from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, WebError, expect

from tests import factories

# Chromium reports a blocked inline script, style, eval or load on the console ("Refused
# to ..."), and an eval it refused as an EvalError naming the policy.
CSP_SIGNS = ("Content Security Policy", "Refused to")
# Chromium's own message does not say which element was refused; this one does.
NAME_THE_CULPRIT = """
document.addEventListener("securitypolicyviolation", (e) => {
  const culprit = e.target && e.target.outerHTML ? e.target.outerHTML.slice(0, 200) : "";
  console.error(`Content Security Policy: ${e.violatedDirective} refused ${culprit} ` +
                `(${e.sourceFile}:${e.lineNumber})`);
});
"""


class WatchedBrowser:
    """The session's Chromium as one test sees it: every context made through it reports
    the policy violations of its pages (pop-ups included) to ``violations``, and is closed
    at the end of the test."""

    def __init__(self, browser: Browser) -> None:
        self._browser = browser
        self._contexts: list[BrowserContext] = []
        self.violations: list[str] = []

    def new_context(self, **options) -> BrowserContext:
        context = self._browser.new_context(**options)
        context.on("console", self._console)
        context.on("weberror", self._error)
        context.add_init_script(NAME_THE_CULPRIT)
        self._contexts.append(context)
        return context

    def new_page(self, **options) -> Page:
        return self.new_context(**options).new_page()

    def _note(self, text: str, where: str) -> None:
        if any(sign in text for sign in CSP_SIGNS):
            self.violations.append(f"{where}: {text}")

    def _console(self, message: ConsoleMessage) -> None:
        page_url = message.page.url if message.page else ""
        self._note(message.text, message.location.get("url") or page_url)

    def _error(self, error: WebError) -> None:
        self._note(str(error.error), error.page.url if error.page else "")

    def close(self) -> None:
        for context in self._contexts:
            context.close()

    def __getattr__(self, name: str):
        return getattr(self._browser, name)


def new_tab(browser: Browser, live_server, **options) -> Page:
    """A fresh browser context (another person at another computer: no shared cookies)."""
    context = browser.new_context(locale="ja-JP", **options)
    context.set_default_timeout(15_000)
    tab = context.new_page()
    tab.base_url = live_server.url
    return tab


def log_in(page: Page, email: str) -> None:
    """The monitoring site's own login page, as the product has it."""
    page.goto(page.base_url + "/monitoring/login/")
    expect(page.get_by_role("heading", name="ログイン")).to_be_visible()
    page.get_by_label("ユーザID(メールアドレス)").fill(email)
    page.get_by_label("パスワード").fill(factories.USER_PASSWORD)
    page.get_by_role("button", name="ログイン").click()


def fits_width(page: Page, width: int) -> bool:
    # not window.innerWidth: a mobile browser widens its layout viewport to wide content
    return page.evaluate("document.documentElement.scrollWidth") <= width
