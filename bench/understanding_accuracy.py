"""Accuracy of the customer-text understanding on the repository's own corpus, per category.

Plays every row of ``tests/test_customer_messages.py`` (single messages, category = expected
intent) and ``tests/test_dialogues.py`` (multi-turn chats, category = the table's category)
through the real webhook, as the test suite does, and prints how many are right. A row is right
when the test passes; the xfail rows (known misses) count as wrong.

    python bench/understanding_accuracy.py            # SQLite
    HUITOU_TEST_DATABASE_URL=postgresql+psycopg://… python bench/understanding_accuracy.py
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ("tests/test_customer_messages.py::test_customer_message", "tests/test_dialogues.py::test_dialogue")


class Collector:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, bool]] = []

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        params = getattr(getattr(item, "callspec", None), "params", {})
        row = params.get("case") or params.get("dialogue")
        if row is None or report.when != "call":
            return
        table = "single" if "case" in params else "dialogue"
        category = row.intent if table == "single" else row.category
        self.rows.append((table, category, report.passed and not hasattr(report, "wasxfail")))


def main() -> int:
    collector = Collector()
    code = pytest.main(
        [
            "-q",
            "-p",
            "no:cacheprovider",
            "--no-header",
            "-o",
            "console_output_style=classic",
            *(str(ROOT / t) for t in TARGETS),
        ],
        plugins=[collector],
    )
    by: dict[tuple[str, str], list[bool]] = defaultdict(list)
    for table, category, ok in collector.rows:
        by[(table, category)].append(ok)
    print()
    for table in ("single", "dialogue"):
        rows = [(c, oks) for (t, c), oks in sorted(by.items()) if t == table]
        total = [ok for _c, oks in rows for ok in oks]
        if not total:
            continue
        print(f"{table} messages: {sum(total)}/{len(total)} right ({100 * sum(total) / len(total):.1f}%)")
        for category, oks in rows:
            print(f"  {category:<16} {sum(oks):>3}/{len(oks):<3} {100 * sum(oks) / len(oks):5.1f}%")
    return 0 if code in (0, pytest.ExitCode.OK) else int(code)


if __name__ == "__main__":
    sys.exit(main())
