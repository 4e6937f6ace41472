"""apply_patch behaviour beyond the conformance suite, each case checked against Codex 0.169.0.

Every expected text here (messages, resulting bytes) was produced by Codex's own apply_patch on the
same input; tests/tools/test_apply_patch_differential.py keeps checking that automatically.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agentrt.tools.apply_patch import (
    AddFile,
    DeleteFile,
    PatchError,
    PatchResult,
    UpdateFile,
    UpdateFileChunk,
    apply_patch,
    parse_patch,
)

HUNK_HEADERS = (
    "Valid hunk headers: '*** Add File: {path}', '*** Delete File: {path}', '*** Update File: {path}'"
)
LINE_KINDS = "Every line should start with ' ' (context line), '+' (added line), or '-' (removed line)"


def patch(*lines: str) -> str:
    return "\n".join(["*** Begin Patch", *lines, "*** End Patch"])


def write_files(root: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def tree(root: Path) -> dict[str, bytes | None]:
    return {p.relative_to(root).as_posix(): None if p.is_dir() else p.read_bytes() for p in root.rglob("*")}


def applied(tmp_path: Path, files: dict[str, bytes], text: str) -> dict[str, bytes | None]:
    """The tree after applying ``text`` successfully to ``files``."""
    write_files(tmp_path, files)
    apply_patch(text, tmp_path)
    return tree(tmp_path)


def failure(tmp_path: Path, files: dict[str, bytes], text: str) -> str:
    """The message of the PatchError that applying ``text`` to ``files`` raises."""
    write_files(tmp_path, files)
    with pytest.raises(PatchError) as info:
        apply_patch(text, tmp_path)
    return info.value.message.replace(str(tmp_path), "<CWD>")


# --- error messages -------------------------------------------------------------------------------

PARSE_ERRORS = [
    ("bad", "Invalid patch: The first line of the patch must be '*** Begin Patch'"),
    ("  ", "Invalid patch: The last line of the patch must be '*** End Patch'"),
    ("*** Begin Patch\nbad", "Invalid patch: The last line of the patch must be '*** End Patch'"),
    ("*** Begin Patch", "Invalid patch: The last line of the patch must be '*** End Patch'"),
    (
        patch("*** Frob File: x"),
        f"Invalid patch hunk on line 2: '*** Frob File: x' is not a valid hunk header. {HUNK_HEADERS}",
    ),
    (
        patch("*** Add File:"),
        f"Invalid patch hunk on line 2: '*** Add File:' is not a valid hunk header. {HUNK_HEADERS}",
    ),
    (
        patch("*** Add File: a", "+x", "", "+y"),
        f"Invalid patch hunk on line 4: '' is not a valid hunk header. {HUNK_HEADERS}",
    ),
    (
        patch("*** Add File: a", " +x"),
        f"Invalid patch hunk on line 3: '+x' is not a valid hunk header. {HUNK_HEADERS}",
    ),
    (patch("*** Update File: x"), "Invalid patch hunk on line 2: Update file hunk for path 'x' is empty"),
    (
        patch("*** Update File: x", "*** Move to: y"),
        "Invalid patch hunk on line 2: Update file hunk for path 'x' is empty",
    ),
    (
        patch("*** Update File: f", "*** Foo"),
        f"Invalid patch hunk on line 3: Unexpected line found in update hunk: '*** Foo'. {LINE_KINDS}",
    ),
    (
        patch("*** Update File: f", "-a", "+b", "*** Foo"),
        "Invalid patch hunk on line 5: Expected update hunk to start with a @@ context marker, got: '*** Foo'",
    ),
    (
        patch("*** Update File: f", "@@ a", "@@ b", "-c"),
        f"Invalid patch hunk on line 4: Unexpected line found in update hunk: '@@ b'. {LINE_KINDS}",
    ),
    (
        patch("*** Update File: f", "@@ a", "*** End of File"),
        "Invalid patch hunk on line 4: Update hunk does not contain any lines",
    ),
    (
        patch("*** Update File: f", "@@"),
        "Invalid patch hunk on line 4: Update hunk does not contain any lines",
    ),
    (
        patch("*** Update File: f", "@@", "*** Add File: x  "),
        f"Invalid patch hunk on line 4: Unexpected line found in update hunk: '*** Add File: x'. {LINE_KINDS}",
    ),
    (
        patch("*** Update File: f", "-a", "+b", "\t"),
        "Invalid patch hunk on line 5: Expected update hunk to start with a @@ context marker, got: '\t'",
    ),
    (
        patch("*** Update File: f", "*** Move to: ", "-a"),
        f"Invalid patch hunk on line 3: Unexpected line found in update hunk: '*** Move to: '. {LINE_KINDS}",
    ),
    (
        patch("*** Add File: a", "+x", "*** End Patch", "+y"),
        "Invalid patch: The last line of the patch must be '*** End Patch'",
    ),
]


@pytest.mark.parametrize(("text", "message"), PARSE_ERRORS)
def test_parse_error_messages(text: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(PatchError) as info:
        parse_patch(text)
    assert info.value.message == message == str(info.value)
    assert failure(tmp_path, {}, text) == message


def test_hunk_errors_carry_their_line_number() -> None:
    with pytest.raises(PatchError) as info:
        parse_patch(patch("*** Add File: a", "+x", "*** Update File: b"))
    assert info.value.line_number == 4


def test_an_empty_patch_parses_but_modifies_nothing(tmp_path: Path) -> None:
    assert parse_patch(patch()) == []
    assert failure(tmp_path, {}, patch()) == "No files were modified."


APPLY_ERRORS = [
    (
        patch("*** Update File: x", "-a"),
        "Failed to read file to update <CWD>/x: No such file or directory (os error 2)",
    ),
    (
        patch("*** Update File: d", "-a"),
        "Failed to read file to update <CWD>/d: path `<CWD>/d` is not a file",
    ),
    (
        patch("*** Update File: bin", "-b"),
        "Failed to read file to update <CWD>/bin: invalid utf-8 sequence of 1 bytes from index 1",
    ),
    (
        patch("*** Update File: cut", "-b"),
        "Failed to read file to update <CWD>/cut: incomplete utf-8 byte sequence from index 1",
    ),
    (patch("*** Delete File: x"), "Failed to delete file <CWD>/x"),
    (patch("*** Delete File: d"), "Failed to delete file <CWD>/d"),
    (patch("*** Update File: m", "-zz", "+A"), "Failed to find expected lines in <CWD>/m:\nzz"),
    (patch("*** Update File: m", "@@ nope", "-a"), "Failed to find context 'nope' in <CWD>/m"),
    (patch("*** Add File: m/g", "+x"), "Failed to write file <CWD>/m/g"),
    (patch("*** Add File: d", "+x"), "Failed to write file <CWD>/d"),
    (patch("*** Update File: m", "*** Move to: d", "-a", "+b"), "Failed to write file <CWD>/d"),
    (
        patch("*** Update File: ./q/../x//y/./z", "-a"),
        "Failed to read file to update <CWD>/x/y/z: No such file or directory (os error 2)",
    ),
]


@pytest.mark.parametrize(("text", "message"), APPLY_ERRORS)
def test_apply_error_messages(text: str, message: str, tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "keep").write_bytes(b"k\n")
    files = {"m": b"a\n", "bin": b"a\xff\nb\n", "cut": b"a\xe2\x82"}
    assert failure(tmp_path, files, text) == message


def test_a_dangling_link_is_not_deleted(tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to("nowhere")
    assert failure(tmp_path, {}, patch("*** Delete File: link")) == "Failed to delete file <CWD>/link"
    assert (tmp_path / "link").is_symlink()


def test_failure_leaves_earlier_hunks_applied(tmp_path: Path) -> None:
    text = patch("*** Add File: a", "+1", "*** Delete File: gone", "*** Add File: b", "+2")
    assert failure(tmp_path, {}, text) == "Failed to delete file <CWD>/gone"
    assert tree(tmp_path) == {"a": b"1\n"}


# --- success text ---------------------------------------------------------------------------------


def test_summary_lists_added_then_modified_then_deleted_as_written(tmp_path: Path) -> None:
    write_files(tmp_path, {"f": b"a\nb\n", "d": b"x"})
    text = patch(
        "*** Delete File: d", "*** Add File: a", "+1", "*** Update File: f", "*** Move to: ./q/../g",
        "-a", "+A", "*** Add File: a", "+2",
    )  # fmt: skip
    result = apply_patch(text, tmp_path)
    assert result == PatchResult(added=["a", "a"], modified=["./q/../g"], deleted=["d"])
    assert result.summary() == "Success. Updated the following files:\nA a\nA a\nM ./q/../g\nD d\n"
    assert tree(tmp_path) == {"a": b"2\n", "g": b"A\nb\n"}


def test_absolute_paths_and_new_parent_directories(tmp_path: Path) -> None:
    target = tmp_path / "abs" / "deep" / "file.txt"
    result = apply_patch(patch(f"*** Add File: {target}", "+x"), tmp_path / "elsewhere")
    assert result.summary() == f"Success. Updated the following files:\nA {target}\n"
    assert target.read_bytes() == b"x\n"


# --- parsing leniencies ---------------------------------------------------------------------------


@pytest.mark.parametrize("opener", ["<<EOF", "<<'EOF'", '<<"EOF"'])
def test_heredoc_wrapper_is_unwrapped(opener: str) -> None:
    text = f"{opener}\n*** Begin Patch\n*** Add File: a\n+x\n*** End Patch\nEOF\n"
    assert parse_patch(text) == [AddFile("a", "x\n")]


def test_heredoc_needs_an_exact_opener_and_an_eof_last_line() -> None:
    with pytest.raises(PatchError, match="first line of the patch must be"):
        parse_patch("<<'EOF'  \n*** Begin Patch\n*** Add File: a\n+x\n*** End Patch\nEOF")
    with pytest.raises(PatchError, match="first line of the patch must be"):
        parse_patch("<<EOF\n*** Begin Patch\n*** Add File: a\n+x\n*** End Patch\nEND")
    with pytest.raises(PatchError, match="last line of the patch must be"):
        parse_patch("<<EOF\n*** Begin Patch\n*** Add File: a\n+x\nEOF")
    assert parse_patch("<<EOF\n*** Begin Patch\n*** Add File: a\n+x\n*** End Patch\nxxEOF") == [
        AddFile("a", "x\n")
    ]


def test_markers_may_carry_white_space_and_crlf() -> None:
    text = "\n  *** Begin Patch \r\n\t*** Add File:  a  \r\n+x\r\n*** End Patch\t\n\n"
    assert parse_patch(text) == [AddFile(" a", "x\n")]


def test_a_stray_end_patch_is_fine_when_only_blank_lines_follow() -> None:
    assert parse_patch(patch("*** Add File: a", "+x", "*** End Patch", "   ")) == [AddFile("a", "x\n")]


def test_update_structure() -> None:
    text = patch(
        "*** Update File: f",
        "*** End of File",
        "*** Move to: g  ",
        " keep",
        "-old",
        "+new",
        "",
        "@@ def f():   ",
        "-x",
        "*** End of File",
        "  ",
        "@@",
        "+tail",
        "*** Delete File: h",
    )
    chunks = (
        UpdateFileChunk(None, (" keep", "-old", "+new", " ")),
        UpdateFileChunk("def f():", ("-x",), is_end_of_file=True),
        UpdateFileChunk(None, ("+tail",)),
    )
    assert parse_patch(text) == [UpdateFile("f", "g", chunks), DeleteFile("h")]
    assert chunks[0].old_lines == ["keep", "old", ""]
    assert chunks[0].new_lines == ["keep", "new", ""]


# --- applying updates -----------------------------------------------------------------------------


def test_multiple_chunks_with_context(tmp_path: Path) -> None:
    source = b"class A:\n    def f(self):\n        return 1\n\nclass B:\n    def f(self):\n        return 1\n"
    text = patch(
        "*** Update File: m.py",
        "@@ class A:",
        "@@ class B:",  # a second @@ right after the first is an error, so use two chunks instead
    )
    with pytest.raises(PatchError):
        parse_patch(text)
    text = patch(
        "*** Update File: m.py",
        "@@ class B:",
        "     def f(self):",
        "-        return 1",
        "+        return 2",
        "@@ class A:",  # context is searched after the previous chunk only
        "-x",
    )
    assert "Failed to find context 'class A:'" in failure(tmp_path, {"m.py": source}, text)
    text = patch(
        "*** Update File: m.py",
        "@@ class A:",
        "-        return 1",
        "+        return 0",
        "@@ class B:",
        "     def f(self):",
        "-        return 1",
        "+        return 2",
    )
    assert applied(tmp_path, {"m.py": source}, text)["m.py"] == source.replace(
        b"return 1", b"return 0", 1
    ).replace(b"return 1", b"return 2")


def test_move_and_update(tmp_path: Path) -> None:
    text = patch("*** Update File: src/a.txt", "*** Move to: dst/sub/b.txt", "-one", "+two")
    assert applied(tmp_path, {"src/a.txt": b"one\n"}, text) == {
        "src": None,
        "dst": None,
        "dst/sub": None,
        "dst/sub/b.txt": b"two\n",
    }


def test_move_onto_itself_deletes_the_file_as_codex_does(tmp_path: Path) -> None:
    assert applied(tmp_path, {"f": b"a\n"}, patch("*** Update File: f", "*** Move to: f", "-a", "+b")) == {}


def test_end_of_file_anchors_the_chunk_to_the_last_lines(tmp_path: Path) -> None:
    files = {"f": b"x\ny\nx\n"}
    assert (
        applied(tmp_path, files, patch("*** Update File: f", "-x", "+X", "*** End of File"))["f"]
        == b"x\ny\nX\n"
    )
    message = failure(tmp_path, {"g": b"a\nb\nc\n"}, patch("*** Update File: g", "-a", "*** End of File"))
    assert message == "Failed to find expected lines in <CWD>/g:\na"


def test_pure_addition_goes_to_the_end_of_the_file(tmp_path: Path) -> None:
    text = patch("*** Update File: f", "@@ a", "+X")
    assert applied(tmp_path, {"f": b"a\nb\n\n"}, text)["f"] == b"a\nb\n\nX\n"


def test_a_trailing_empty_line_in_the_chunk_stands_for_the_final_newline(tmp_path: Path) -> None:
    text = patch("*** Update File: f", "-b", "-", "+B", "+")
    assert applied(tmp_path, {"f": b"a\nb\n"}, text)["f"] == b"a\nB\n"


def test_update_adds_the_missing_final_newline(tmp_path: Path) -> None:
    assert applied(tmp_path, {"f": b"a\nb"}, patch("*** Update File: f", "-a", "+A"))["f"] == b"A\nb\n"


@pytest.mark.parametrize(
    ("line", "pattern"),
    [
        ("value = 1   ", "value = 1"),  # trailing white space: the trim-end pass
        ("    value = 1", "value = 1"),  # indentation: the trim pass
        ("\u3000value = 1\u00a0", "value = 1"),  # Unicode white space is trimmed too
        ("a \u2014 b \u2018c\u2019 \u201cd\u201d\u00a0e", "a - b 'c' \"d\" e"),  # the normalising pass
        ("a - b 'c' \"d\" e", "a \u2013 b \u2019c\u2019 \u201dd\u201d e"),  # and the other way round
    ],
)
def test_lenient_matching_keeps_the_file_line(line: str, pattern: str, tmp_path: Path) -> None:
    files = {"f": f"first\n{line}\nlast\n".encode()}
    text = patch("*** Update File: f", " first", f" {pattern}", "-last", "+LAST")
    assert applied(tmp_path, files, text)["f"] == f"first\n{line}\nLAST\n".encode()


def test_exact_matches_win_over_earlier_lenient_ones(tmp_path: Path) -> None:
    files = {"f": b"x  \nx\n"}
    assert applied(tmp_path, files, patch("*** Update File: f", "-x", "+X"))["f"] == b"x  \nX\n"


def test_a_removed_and_readded_line_is_rewritten(tmp_path: Path) -> None:
    assert applied(tmp_path, {"f": b"a  \n"}, patch("*** Update File: f", "-a", "+a"))["f"] == b"a\n"


def test_crlf_file_keeps_its_line_endings(tmp_path: Path) -> None:
    files = {"f": b"a\r\nb\r\nc\r\n"}
    text = patch("*** Update File: f", " a", "-b", "+B", "+B2")
    assert applied(tmp_path, files, text)["f"] == b"a\r\nB\r\nB2\r\nc\r\n"


def test_mixed_endings_new_lines_take_the_first_lines_ending(tmp_path: Path) -> None:
    files = {"f": b"x\r\na  \nb\n", "g": b"a\nb\r\nc"}
    text = patch("*** Update File: f", " a", "-b", "+B", "*** Update File: g", " a", "-b", "+B", "+X")
    result = applied(tmp_path, files, text)
    assert result["f"] == b"x\r\na  \nB\r\n"
    assert result["g"] == b"a\nB\nX\nc\n"


def test_a_lone_carriage_return_ends_a_line_in_the_file(tmp_path: Path) -> None:
    files = {"f": b"a\rb\n"}
    assert applied(tmp_path, files, patch("*** Update File: f", "-b", "+B"))["f"] == b"a\rB\r"


def test_added_files_get_plain_newlines(tmp_path: Path) -> None:
    text = "*** Begin Patch\r\n*** Add File: a\r\n+x\r\n+y\rz\r\n*** End Patch\r\n"
    assert applied(tmp_path, {}, text) == {"a": b"x\ny\rz\n"}


def test_write_seam_sees_every_change(tmp_path: Path) -> None:
    write_files(tmp_path, {"f": b"a\n", "g": b"x\n"})
    calls: list[tuple[str, bytes | None]] = []

    def record(path: Path, data: bytes | None) -> None:
        calls.append((path.relative_to(tmp_path).as_posix(), data))

    text = patch(
        "*** Add File: n/new", "+1", "*** Update File: f", "*** Move to: h", "-a", "+b", "*** Delete File: g"
    )
    apply_patch(text, tmp_path, write=record)
    assert calls == [("n/new", b"1\n"), ("h", b"b\n"), ("f", None), ("g", None)]
    assert tree(tmp_path) == {"f": b"a\n", "g": b"x\n"}


def test_write_seam_failures_become_codex_messages(tmp_path: Path) -> None:
    def refuse(path: Path, data: bytes | None) -> None:
        raise PermissionError(13, "refused", str(path))

    with pytest.raises(PatchError) as info:
        apply_patch(patch("*** Add File: a", "+x"), tmp_path, write=refuse)
    assert info.value.message == f"Failed to write file {tmp_path}/a"


def test_non_utf8_patch_text_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PatchError) as info:
        apply_patch(patch("*** Add File: a", "+\udcff"), tmp_path)
    assert info.value.message == "Error: apply_patch requires a UTF-8 PATCH argument."
