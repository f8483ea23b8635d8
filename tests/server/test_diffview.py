"""gate.server.web.diffview: guarded files first, renames and mode changes, binaries, collapsing."""

from __future__ import annotations

from gate.server.web.diffview import COLLAPSE_LINES, diff_views, patch_lines


def entry(path: str, **fields: object) -> dict[str, object]:
    base = {
        "path": path,
        "old_path": None,
        "status": "modified",
        "old_mode": "100644",
        "new_mode": "100644",
        "old_id": "a" * 40,
        "new_id": "b" * 40,
        "old_size": 10,
        "new_size": 12,
        "patch": f"diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n@@ -1 +1 @@\n-x = 1\n+x = 2\n",
    }
    return base | fields


def test_guarded_files_first_and_marked() -> None:
    diffs = [{"parent": "p" * 40, "files": [entry("a.md"), entry("train/z.py"), entry("b.txt")]}]
    (view,) = diff_views(diffs, {"training": ["train/z.py"]})
    assert [f.path for f in view.files] == ["train/z.py", "a.md", "b.txt"]
    assert view.files[0].guards == ["training"] and view.files[1].guards == []


def test_rename_out_of_a_guarded_path_is_marked_by_its_old_path() -> None:
    moved = entry("scratch.py", old_path="train/loop.py", status="renamed", patch="")
    (view,) = diff_views([{"parent": None, "files": [moved]}], {"training": ["train/loop.py"]})
    assert view.files[0].guards == ["training"] and view.files[0].old_path == "train/loop.py"


def test_mode_change_and_binary() -> None:
    chmod = entry("run.sh", new_mode="100755", patch="")
    blob = entry("w.bin", binary=True, patch="")
    (view,) = diff_views([{"parent": None, "files": [chmod, blob]}], {})
    by_path = {f.path: f for f in view.files}
    assert by_path["run.sh"].mode_changed and not by_path["run.sh"].lines
    assert by_path["w.bin"].binary and not by_path["w.bin"].lines
    added = entry("new.sh", status="added", old_mode="000000", new_mode="100755")
    (view,) = diff_views([{"parent": None, "files": [added]}], {})
    assert not view.files[0].mode_changed


def test_line_numbers_highlighting_and_escaping() -> None:
    lines = patch_lines(
        "x.py", "@@ -3,2 +3,2 @@\n a = '<b>'\n-b = 1\n+b = 2\n\\ No newline at end of file\n"
    )
    assert [(line.kind, line.old_no, line.new_no) for line in lines] == [
        ("hunk", None, None),
        ("ctx", 3, 3),
        ("del", 4, None),
        ("add", None, 4),
        ("note", None, None),
    ]
    assert "&lt;b&gt;" in lines[1].html and "<b>" not in lines[1].html
    assert 'class="mi"' in lines[3].html


def test_long_diffs_are_collapsed_but_complete() -> None:
    body = "".join(f"+line {i}\n" for i in range(COLLAPSE_LINES + 5))
    long = entry("big.txt", patch=f"@@ -0,0 +1,{COLLAPSE_LINES + 5} @@\n{body}")
    (view,) = diff_views([{"parent": None, "files": [long, entry("small.txt")]}], {})
    by_path = {f.path: f for f in view.files}
    assert by_path["big.txt"].collapsed and len(by_path["big.txt"].lines) == COLLAPSE_LINES + 6
    assert not by_path["small.txt"].collapsed


def test_garbage_diff_json_does_not_crash() -> None:
    assert diff_views([], {}) == []
    (view,) = diff_views([{"files": [{"path": "x", "patch": 3}]}], {})
    assert view.files[0].lines == []
