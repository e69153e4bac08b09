"""What the monitoring site's browser tests share: another person's tab, the monitoring
site's login, and the phone-width check."""

from playwright.sync_api import Browser, Page, expect

from tests import factories


def new_tab(browser: Browser, live_server, **options) -> Page:
    """A fresh browser context (another person at another computer: no shared cookies)."""
    context = browser.new_context(locale="ja-JP", **options)
    context.set_default_timeout(15_000)
    tab = context.new_page()
    tab.base_url = live_server.url
    return tab


def log_in(page: Page, email: str) -> None:
    """The monitoring site's own login page, as the seed describes it."""
    page.goto(page.base_url + "/monitoring/login/")
    expect(page.get_by_role("heading", name="ログイン")).to_be_visible()
    page.get_by_label("ユーザID(メールアドレス)").fill(email)
    page.get_by_label("パスワード").fill(factories.USER_PASSWORD)
    page.get_by_role("button", name="ログイン").click()


def fits_width(page: Page, width: int) -> bool:
    # not window.innerWidth: a mobile browser widens its layout viewport to wide content
    return page.evaluate("document.documentElement.scrollWidth") <= width
