"""man/ is generated from the Typer app: a page per command, and never stale."""

from pathlib import Path

from vidsynth import manpages

MAN = Path(__file__).resolve().parent.parent / "man"


def test_every_command_has_an_up_to_date_page():
    pages = manpages.render_pages()
    assert "vidsynth.1" in pages and "vidsynth-plugins-list.1" in pages
    stale = [name for name, text in pages.items() if not (MAN / name).exists() or (MAN / name).read_text() != text]
    assert not stale, f"stale man pages {stale}: run `python -m vidsynth.manpages man/`"


def test_no_page_for_a_command_that_does_not_exist():
    pages = manpages.render_pages()
    extra = [p.name for p in MAN.glob("vidsynth*.1") if p.name not in pages]
    assert not extra


def test_pages_document_options_not_just_names():
    page = manpages.render_pages()["vidsynth-plugins-list.1"]
    assert ".SH OPTIONS" in page and "\\-\\-json" in page
    assert ".TH \"VIDSYNTH-PLUGINS-LIST\" \"1\"" in page
