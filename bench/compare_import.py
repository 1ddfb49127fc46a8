"""Import the same messy workbook with two checkouts' code and compare what they stored.

    python bench/compare_import.py /path/to/other/checkout [--rows 3000]

A generated sheet of ROWS rows over ~600 people (repeated rows, names that differ, phones as text,
numbers, ``+86 …`` and invalid, addresses with and without regions, birthdays in several forms,
notes, tags, sources, OpenIDs, opt-outs) is imported twice into a fresh SQLite pool by each
checkout, each in its own process. The two reports and the ``customer``, ``customer_note`` and
``field_conflict`` tables must be equal (``updated_at`` aside; notes compared as a set). Exit
status 1 when they differ. Not part of the test suite: it checks a speed-up against the code it
replaced.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOW = dt.datetime(2026, 11, 1)


def make_workbook(path: Path, rows: int) -> None:
    import openpyxl

    rng = random.Random(7)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "客户"
    ws.append(["姓名", "手机号", "地址", "标签", "生日", "备注", "来源", "OpenID", "已退订"])
    addresses = [
        "广东省深圳市南山区科技园路{}号",
        "浙江杭州西湖区文三路{}号",
        "北京市朝阳区建国路{}号",
        "随便写的{}",
        "",
    ]
    for i in range(rows):
        k = rng.randrange(600)
        ws.append(
            [
                rng.choice([f"客户{k}", f"客户{k}", f"别名{k}", None]),
                rng.choice(
                    [f"139{k:08d}", 13900000000 + k, f"+86 139-{k:04d}-0000", "12345", None, f"110{k:08d}"]
                ),
                rng.choice(addresses).format(k) or None,
                rng.choice([None, "VIP", "面膜、眼霜", f"t{i % 7}"]),
                rng.choice(
                    [
                        None,
                        "1990-05-20",
                        dt.datetime(1988, 2, 29),
                        "农历八月十五",
                        "2月30日",
                        f"{1 + k % 12}月{1 + k % 28}日",
                    ]
                ),
                rng.choice([None, "怕冷", "怕冷\n爱喝茶", f"备注{k}"]),
                rng.choice([None, "朋友圈", "微博"]),
                rng.choice([None, None, f"o_{k}"]),
                rng.choice([None, None, "是", "否"]),
            ]
        )
    wb.save(path)


def child(code: str, source: str, database: str) -> None:
    sys.path.insert(0, code)
    from sqlalchemy import text

    from app import create_app
    from storage.db import get_db
    from storage.excel_import import import_file

    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{database}",
            "SECRET_KEY": "x",
            "WECHAT_TOKEN": "x",
            "AUTO_MIGRATE": True,
        }
    )
    db = get_db(app)
    out: dict = {}
    for n in (1, 2):
        r = import_file(db, source, now=NOW, error_report=f"{database}.{n}.err.xlsx")
        out[f"report{n}"] = [r.rows, r.created, r.updated, r.unchanged, r.merged_in_file, r.conflicts]
        out[f"bad{n}"] = [list(x) for x in r.bad_rows + r.partial_rows]
    with db.read_session() as session:
        for table in ("customer", "customer_note", "field_conflict"):
            out[table] = [
                list(map(str, row)) for row in session.execute(text(f"SELECT * FROM {table} ORDER BY id"))
            ]
    out["customer"] = [
        row[:-1] for row in out["customer"]
    ]  # updated_at: the old code's onupdate read the clock
    out["customer_note"] = sorted(row[1:] for row in out["customer_note"])
    out["field_conflict"] = [row[1:] for row in out["field_conflict"]]
    print(json.dumps(out, ensure_ascii=False))


def stored(code: Path, source: Path, workdir: Path) -> dict:
    output = subprocess.run(
        [sys.executable, __file__, "--child", str(code), str(source), str(workdir / f"{code.name}.db")],
        check=True,
        capture_output=True,
        text=True,
        cwd=code,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main(argv: list[str]) -> int:
    if argv[:1] == ["--child"]:
        child(*argv[1:])
        return 0
    other = Path(argv[0]).resolve()
    rows = int(argv[argv.index("--rows") + 1]) if "--rows" in argv else 3000
    with tempfile.TemporaryDirectory(prefix="huitou-compare-") as tmp:
        workdir = Path(tmp)
        source = workdir / "mixed.xlsx"
        make_workbook(source, rows)
        (workdir / "a").mkdir()
        (workdir / "b").mkdir()
        theirs, ours = stored(other, source, workdir / "a"), stored(ROOT, source, workdir / "b")
    same = True
    for key in ours:
        equal = theirs.get(key) == ours[key]
        same &= equal
        print(f"{key}: {'same' if equal else 'DIFFERENT'} ({len(ours[key])})")
    print(
        f"reports: {ours['report1']} then {ours['report2']} (rows, created, updated, unchanged, merged, conflicts)"
    )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
