"""The generated section of RESULTS.md: replaced between its markers, the rest of the file untouched."""

from bench.report import BEGIN, END, figures_markdown, replace_section


def test_replace_section_keeps_text_outside_the_markers():
    text = f"# Title\n\nhow to run\n\n{BEGIN}\nold figures\n{END}\n\ntrailer\n"
    updated = replace_section(text, "new figures")
    assert updated == f"# Title\n\nhow to run\n\n{BEGIN}\nnew figures\n{END}\n\ntrailer\n"
    assert replace_section(updated, "new figures") == updated


def test_replace_section_without_markers_appends_them():
    updated = replace_section("# Title\n", "figures")
    assert updated == f"# Title\n\n{BEGIN}\nfigures\n{END}\n"


def test_figures_markdown_without_results_says_so():
    assert "No results yet" in figures_markdown([], plot_ref=None)
