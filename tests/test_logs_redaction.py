"""The gateway's log lines keep which upstream failed but never its credentials (an attack review found a tier's
URL, password included, in the retry warning)."""

from __future__ import annotations

import logging

import orjson

from router.logs import JSONFormatter


def _line(msg: str, *args: object, exc: BaseException | None = None, **extra: object) -> dict[str, str]:
    record = logging.LogRecord("switchyard", logging.WARNING, __file__, 1, msg, args, None)
    if exc is not None:
        record.exc_info = (type(exc), exc, exc.__traceback__)
    for key, value in extra.items():
        setattr(record, key, value)
    return orjson.loads(JSONFormatter().format(record))


def test_credentials_are_removed_and_hosts_kept() -> None:
    url = "http://admin:s3cret-pass@llm.internal:8443/v1"
    entry = _line("tier %s failed (upstream %s); retry 1", "paid", url, upstream=url)
    assert "s3cret-pass" not in entry["msg"] and "admin:" not in entry["msg"]
    assert "llm.internal:8443" in entry["msg"] and "tier paid failed" in entry["msg"]
    assert "s3cret-pass" not in entry["upstream"]
    entry = _line("calling with key %s and Authorization: Bearer %s", "sk-live-abcdefgh1234", "tok_0123456789abcdef")
    assert "sk-live-abcdefgh1234" not in entry["msg"] and "tok_0123456789abcdef" not in entry["msg"]


def test_an_exceptions_text_is_redacted_too() -> None:
    try:
        raise ConnectionError("cannot reach https://u:p4ssw0rd-xyz@example.com:443/v1")
    except ConnectionError as exc:
        entry = _line("unhandled error", exc=exc)
    assert "p4ssw0rd-xyz" not in entry["exc"] and "example.com:443" in entry["exc"]


def test_ordinary_words_are_not_taken_for_credentials() -> None:
    for text in ("tier basic returned 502", "a basic configuration error", "max token: 4096 exceeded",
                 "GET http://localhost:8000?user=a@b.com", "cluster rk-node-01234567 down"):
        assert _line(text)["msg"] == text
    for text, gone in (("Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"), ("password=hunter2", "hunter2"),
                       ("token=abc123def456", "abc123def456")):
        assert gone not in _line(text)["msg"], text


def test_a_huge_field_is_cut_not_scanned_at_length() -> None:
    entry = _line("dropping a row: %s", "a." * 100_000)
    assert len(entry["msg"]) < 40_000 and entry["msg"].endswith("more characters)")


def test_the_banner_hides_a_database_password_however_it_is_written() -> None:
    from router.gateway import _shown_url

    for url in ("postgresql://u:p/ss@db.internal/ledger", "postgresql://u:p ss@db.internal/ledger", "postgresql://u:p%40ss@db/l"):
        shown = _shown_url(url)
        assert "p/ss" not in shown and "p ss" not in shown and "p%40ss" not in shown and "p@ss" not in shown, shown
        assert "db" in shown
    assert _shown_url("sqlite:////var/lib/switchyard/ledger.db") == "sqlite:////var/lib/switchyard/ledger.db"
