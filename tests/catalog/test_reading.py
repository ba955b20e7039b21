"""Reading bodies become headings, paragraphs (line breaks kept) and lists."""

from marketplace.catalog.reading import Block, reading_blocks


def test_blocks() -> None:
    body = "## Intro\nFirst line\nsecond line\n\n- one\n- two\nAfter list\n\n<script>x</script>"
    assert reading_blocks(body) == [
        Block("heading", ("Intro",)),
        Block("paragraph", ("First line", "second line")),
        Block("list", ("one", "two")),
        Block("paragraph", ("After list",)),
        Block("paragraph", ("<script>x</script>",)),  # text, escaped by the template
    ]
