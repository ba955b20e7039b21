"""Extra catalog resources of every type for LTI tests (the shared fixture catalog has only links)."""

from __future__ import annotations

from pathlib import Path

EXTRA_RESOURCES = {
    "leaf-reading": ("reading", 'body = "## Why leaves are green\\nChlorophyll absorbs red and blue.\\n\\n'
                                '- red\\n- blue\\n\\n<script>alert(1)</script>"\nminutes = 3'),
    "embed-snippet": ("html", 'html = "<p>Light makes <strong>sugar</strong>.</p>"'),
    "leaf-image": ("image", 'url = "https://upload.example/leaf.png"\nwidth = 640\nheight = 480\n'
                            'alt = "A green leaf"'),
    "leaf-worksheet": ("file", 'path = "leaf.pdf"\nmedia_type = "application/pdf"'),
    "leaf-quiz": ("quiz", 'max_score = 2\n[[payload.questions]]\nprompt = "Green?"\noptions = ["yes", "no"]\n'
                          'answer = 0\npoints = 2'),
}


def write_extra_resources(content_dir: Path) -> None:
    (content_dir / "files" / "leaf.pdf").write_bytes(b"%PDF-1.4 test")
    folder = content_dir / "resources" / "biology"
    for resource_id, (kind, payload) in EXTRA_RESOURCES.items():
        (folder / f"{resource_id}.toml").write_text(
            f'id = "{resource_id}"\ntitle = "Leaf {kind} resource"\n'
            'description = "A resource about leaves, long enough for the loader."\nsubject = "biology"\n'
            f'grade_levels = ["6-8"]\ntype = "{kind}"\nlanguage = "en"\nkeywords = ["leaf"]\n'
            'thumbnail = "thumbnails/biology.svg"\n[author]\nname = "Editors"\n[license]\nid = "CC-BY-4.0"\n'
            f'attribution = "Leaf {kind} resource by the Editors, LTI Marketplace (CC BY 4.0)"\n'
            f'[payload]\n{payload}\n', encoding="utf-8")
