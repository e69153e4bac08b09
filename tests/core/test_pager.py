"""The one pager of every list (templates/_pager.html): its links keep the list's own
search, filters and sort, and replace only the page."""

from django.core.paginator import Paginator
from django.template.loader import render_to_string
from django.test import RequestFactory


def pager(query: str, number: int, pages: int = 3) -> str:
    request = RequestFactory().get(f"/list/{query}")
    page = Paginator(range(pages * 10), 10).page(number)
    return render_to_string("_pager.html", {"page": page}, request=request)


def test_the_links_keep_the_search_filters_and_sort_and_replace_the_page():
    html = pager("?q=%E6%A1%88%E4%BB%B6&status=offline&sort=-last_seen&page=2", 2)
    assert 'href="?q=%E6%A1%88%E4%BB%B6&amp;status=offline&amp;sort=-last_seen&amp;page=1"' in html
    assert 'href="?q=%E6%A1%88%E4%BB%B6&amp;status=offline&amp;sort=-last_seen&amp;page=3"' in html
    assert "2 / 3ページ" in html


def test_the_first_page_adds_the_page_and_offers_no_previous_one():
    html = pager("?q=a%26b", 1)
    assert 'href="?q=a%26b&amp;page=2" rel="next"' in html
    assert 'rel="prev"' not in html


def test_a_given_value_is_encoded_never_written_as_markup():
    html = pager('?q="><script>', 1)
    assert "<script>" not in html and "q=%22%3E%3Cscript%3E&amp;page=2" in html


def test_one_page_shows_no_pager():
    assert pager("", 1, pages=1).strip() == ""
