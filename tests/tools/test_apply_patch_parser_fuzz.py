"""Property tests of the patch parser: it only ever fails with PatchError, and valid patches round-trip."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from agentrt.tools.apply_patch import (
    AddFile,
    DeleteFile,
    Hunk,
    PatchError,
    UpdateFile,
    UpdateFileChunk,
    parse_patch,
)
from agentrt.tools.apply_patch.text import trim, trim_end

MARKERS = [
    "*** Begin Patch", "*** End Patch", "*** Add File: a", "*** Delete File: b", "*** Update File: c",
    "*** Move to: d", "*** End of File", "@@", "@@ x", "<<EOF", "<<'EOF'", "EOF", "", " ", "\t", "+", "-",
    "+x", "-x", " x", "***", "@@@", "\u3000", "\r",
]  # fmt: skip
line = st.one_of(st.sampled_from(MARKERS), st.text(max_size=12))
soup = st.lists(line, max_size=14).map("\n".join)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), soup, soup.map(lambda s: f"*** Begin Patch\n{s}\n*** End Patch")))
def test_any_text_parses_or_raises_patch_error(text: str) -> None:
    try:
        hunks = parse_patch(text)
    except PatchError as exc:
        assert exc.message and str(exc) == exc.message
    else:
        assert all(isinstance(h, AddFile | DeleteFile | UpdateFile) for h in hunks)


# Text without line breaks; paths and contexts also without surrounding white space.
plain = st.text(st.characters(exclude_characters="\n\r"), max_size=10)
path = plain.filter(lambda p: p != "" and trim(p) == p)
context = plain.filter(lambda c: c != "" and trim_end(c) == c)
diff_line = st.tuples(st.sampled_from(" -+"), plain).map("".join)


@st.composite
def chunks(draw: st.DrawFn) -> tuple[UpdateFileChunk, ...]:
    count = draw(st.integers(1, 3))
    return tuple(
        UpdateFileChunk(
            draw(st.none() | context),
            tuple(draw(st.lists(diff_line, min_size=1, max_size=4))),
            draw(st.booleans()),
        )
        for _ in range(count)
    )


hunk: st.SearchStrategy[Hunk] = st.one_of(
    st.builds(AddFile, path, st.lists(plain, max_size=4).map(lambda ls: "".join(f"{x}\n" for x in ls))),
    st.builds(DeleteFile, path),
    st.builds(UpdateFile, path, st.none() | path, chunks()),
)


def render(hunks: list[Hunk], bare_first_chunk: bool) -> str:
    """The patch text for ``hunks``, in the format's canonical spelling."""
    out = ["*** Begin Patch"]
    for h in hunks:
        if isinstance(h, AddFile):
            out += [f"*** Add File: {h.path}", *(f"+{x}" for x in h.contents.split("\n")[:-1])]
        elif isinstance(h, DeleteFile):
            out.append(f"*** Delete File: {h.path}")
        else:
            out.append(f"*** Update File: {h.path}")
            out += [f"*** Move to: {h.move_to}"] if h.move_to is not None else []
            for index, c in enumerate(h.chunks):
                bare = bare_first_chunk and index == 0 and c.change_context is None
                out += [] if bare else ["@@" if c.change_context is None else f"@@ {c.change_context}"]
                out += list(c.lines) + (["*** End of File"] if c.is_end_of_file else [])
    return "\n".join([*out, "*** End Patch"])


@settings(max_examples=300, deadline=None)
@given(st.lists(hunk, max_size=4), st.booleans())
def test_rendered_patches_round_trip(hunks: list[Hunk], bare_first_chunk: bool) -> None:
    assert parse_patch(render(hunks, bare_first_chunk)) == hunks
