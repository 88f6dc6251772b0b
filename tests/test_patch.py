"""Pure tests of ssh_mcp.tools._patch: strict unified diffs and exact replacement."""

from __future__ import annotations

import pytest

from ssh_mcp.errors import RemoteError
from ssh_mcp.tools._patch import (
    PatchError,
    apply_patch,
    decode_text,
    join_lines,
    parse,
    replace_exact,
    split_lines,
)

TEN = "".join(f"{i}\n" for i in range(1, 11))


def _fails(text: str, diff: str) -> str:
    with pytest.raises(PatchError) as info:
        apply_patch(text, diff)
    return str(info.value)


def test_single_hunk_replaces_a_line() -> None:
    diff = "@@ -2,3 +2,3 @@\n 2\n-3\n+three\n 4\n"
    assert apply_patch(TEN, diff) == (TEN.replace("3\n", "three\n"), 1)


def test_headers_are_ignored_and_multiple_hunks_apply() -> None:
    diff = (
        "diff --git a/x b/x\nindex 123..456 100644\n--- a/some/name\n+++ b/other/name\n"
        "@@ -1,2 +1,2 @@\n-1\n+one\n 2\n"
        "@@ -9,2 +9,2 @@\n 9\n-10\n+ten\n"
    )
    new, hunks = apply_patch(TEN, diff)
    assert hunks == 2 and new == TEN.replace("1\n", "one\n", 1).replace("10\n", "ten\n")


def test_adding_lines_at_start_middle_and_end() -> None:
    diff = "@@ -0,0 +1,1 @@\n+zero\n@@ -5,0 +7 @@\n+five and a half\n@@ -10 +12,2 @@\n 10\n+11\n"
    new, _ = apply_patch(TEN, diff)
    lines = new.splitlines()
    assert lines[0] == "zero" and lines[6] == "five and a half" and lines[-2:] == ["10", "11"]
    assert len(lines) == 13


def test_removing_lines() -> None:
    diff = "@@ -3,4 +3,1 @@\n-3\n-4\n-5\n 6\n"
    assert apply_patch(TEN, diff)[0] == TEN.replace("3\n4\n5\n", "")


def test_creating_content_in_an_empty_file() -> None:
    assert apply_patch("", "--- /dev/null\n+++ b/f\n@@ -0,0 +1,2 @@\n+a\n+b\n") == ("a\nb\n", 1)


def test_no_newline_marker_on_the_old_side() -> None:
    diff = "@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n"
    assert apply_patch("a\nb", diff)[0] == "a\nb\n"


def test_no_newline_marker_on_the_new_side() -> None:
    diff = "@@ -1,2 +1,2 @@\n a\n-b\n+b\n\\ No newline at end of file\n"
    assert apply_patch("a\nb\n", diff)[0] == "a\nb"


def test_no_newline_marker_on_a_context_line() -> None:
    diff = "@@ -1,2 +1,3 @@\n-a\n+A\n+inserted\n b\n\\ No newline at end of file\n"
    assert apply_patch("a\nb", diff)[0] == "A\ninserted\nb"


def test_missing_marker_is_named() -> None:
    message = _fails("a\nb", "@@ -1,2 +1,2 @@\n a\n-b\n+c\n")
    assert "hunk 1 (@@ -1,2 +1,2 @@)" in message
    assert "line 2 is the last line and has no newline" in message


def test_context_mismatch_names_the_hunk_and_line() -> None:
    diff = "@@ -2,2 +2,2 @@\n 2\n-3\n+x\n@@ -7,3 +7,3 @@ def f():\n 7\n-EIGHT\n+8!\n 9\n"
    message = _fails(TEN, diff)
    assert message.startswith("hunk 2 (@@ -7,3 +7,3 @@ def f():) does not apply: line 8 is '8'")
    assert "the diff expects 'EIGHT'" in message


def test_no_offset_search_even_when_the_text_is_elsewhere() -> None:
    message = _fails(TEN, "@@ -3,1 +3,1 @@\n-5\n+five\n")
    assert "hunk 1 (@@ -3,1 +3,1 @@) does not apply: line 3 is '3'" in message


def test_whitespace_differences_are_mismatches() -> None:
    message = _fails("x = 1\n", "@@ -1 +1 @@\n-x  = 1\n+x = 2\n")
    assert "line 1 is 'x = 1' but the diff expects 'x  = 1'" in message


def test_hunk_past_the_end_of_the_file() -> None:
    assert "starts at line 40 but the file has 10 lines" in _fails(TEN, "@@ -40 +40 @@\n-x\n+y\n")
    message = _fails("a\n", "@@ -1,2 +1,2 @@\n a\n-b\n+c\n")
    assert "line 2 is past the end of the file" in message


def test_crlf_lines_match_only_crlf_diffs() -> None:
    crlf = "a\r\nb\r\n"
    assert apply_patch(crlf, "@@ -1,2 +1,2 @@\n a\r\n-b\r\n+c\r\n")[0] == "a\r\nc\r\n"
    assert "does not apply" in _fails(crlf, "@@ -1,2 +1,2 @@\n a\n-b\n+c\n")


def test_stripped_blank_context_line_still_counts() -> None:
    text = "a\n\nb\n"
    assert apply_patch(text, "@@ -1,3 +1,3 @@\n a\n\n-b\n+c\n")[0] == "a\n\nc\n"


@pytest.mark.parametrize(
    ("diff", "expected"),
    [
        ("", "no hunks"),
        ("--- a/f\n+++ b/f\n", "no hunks"),
        ("@@ -1,1 +1,1\n-a\n+b\n", "bad hunk header"),
        ("@@ -x +1 @@\n-a\n+b\n", "bad hunk header"),
        ("@@ -0,1 +1 @@\n-a\n+b\n", "starts at line 0 but removes lines"),
        ("hello\n@@ -1 +1 @@\n-a\n+b\n", "unexpected text 'hello' before the first hunk"),
        ("@@ -1,2 +1,2 @@\n a\n-b\n", "ends after 2 old and 1 new lines"),
        ("@@ -1 +1 @@\n-a\n-b\n+c\n", "has more old lines than its header counts"),
        ("@@ -1 +1 @@\n-a\n+b\n c\n", "unexpected text ' c' after hunk 1"),
        ("@@ -1 +1 @@\n-a\n*b\n", "starts with '*'"),
        ("--- a/f\n+++ /dev/null\n@@ -1 +0,0 @@\n-a\n", "deletes the file"),
        ("--- a/f\n+++ b/f\n--- a/g\n+++ b/g\n@@ -1 +1 @@\n-a\n+b\n", "more than one file"),
        ("@@ -1 +1 @@\n-a\n+b\n--- a/g\n+++ b/g\n@@ -1 +1 @@\n-a\n+b\n", "more than one file"),
        ("@@ -1 +1 @@\n-a\n+b\ndiff --git a/g b/g\n", "more than one file"),
    ],
)
def test_malformed_diffs_are_refused(diff: str, expected: str) -> None:
    with pytest.raises(PatchError) as info:
        parse(diff)
    assert expected in str(info.value), str(info.value)


def test_removed_line_starting_with_dashes_is_not_a_header() -> None:
    text = "-- a comment\nx\n"
    assert apply_patch(text, "@@ -1,2 +1 @@\n--- a comment\n x\n")[0] == "x\n"


def test_trailing_blank_lines_after_the_last_hunk_are_ignored() -> None:
    assert apply_patch("a\n", "@@ -1 +1 @@\n-a\n+b\n\n\n")[0] == "b\n"


def test_overlapping_or_unordered_hunks_are_refused() -> None:
    diff = "@@ -5,2 +5,2 @@\n 5\n-6\n+six\n@@ -2,1 +2,1 @@\n-2\n+two\n"
    assert "hunks must be in file order" in _fails(TEN, diff)


def test_a_misplaced_no_newline_marker_is_refused() -> None:
    diff = "@@ -1,2 +1,2 @@\n-a\n+A\n\\ No newline at end of file\n b\n"
    assert "without a newline in the middle of the file" in _fails("a\nb\n", diff)


def test_failure_changes_nothing_even_after_good_hunks() -> None:
    diff = "@@ -1 +1 @@\n-1\n+one\n@@ -5 +5 @@\n-nope\n+x\n"
    text = TEN
    _fails(text, diff)
    assert text == TEN  # apply_patch builds a new text; the caller writes only on success


@pytest.mark.parametrize("text", ["", "a", "a\n", "a\nb", "a\r\nb\r\n", "\n\n", "x\n\ny"])
def test_split_and_join_round_trip(text: str) -> None:
    assert join_lines(split_lines(text)) == text


# -- exact replacement and text decoding -----------------------------------------------


def test_replace_exact_once_and_all() -> None:
    assert replace_exact("a b a", "b", "B", every=False, path="/f") == ("a B a", 1)
    assert replace_exact("a b a", "a", "A", every=True, path="/f") == ("A b A", 2)


def test_replace_exact_refuses_missing_and_ambiguous() -> None:
    with pytest.raises(RemoteError, match="old_string was not found in /f; it is unchanged"):
        replace_exact("abc", "x", "y", every=False, path="/f")
    with pytest.raises(RemoteError, match=r'occurs 2 times in /f.*occurrence="all"'):
        replace_exact("a b a", "a", "A", every=False, path="/f")
    with pytest.raises(RemoteError, match="CRLF line endings"):
        replace_exact("a\r\nb\r\n", "a\nb", "c", every=False, path="/f")


def test_decode_text_refuses_binary() -> None:
    assert decode_text("héllo".encode(), "/f") == "héllo"
    with pytest.raises(RemoteError, match=r"not UTF-8 text \(invalid byte at offset 1\)"):
        decode_text(b"a\xffb", "/f")
    with pytest.raises(RemoteError, match="NUL bytes"):
        decode_text(b"a\x00b", "/f")
