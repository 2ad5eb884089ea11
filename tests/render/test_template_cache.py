"""The compiled DAG template is kept in the user's cache folder (issue 18: compiling
dag.py.j2 was ~0.07 s of every build); it is never stale, and a damaged or unwritable cache
only costs that time."""

from __future__ import annotations

from amlcompile.render.dag import _environment


def _render(template) -> str:
    env, name = _environment(template)
    return env.get_template(name).render(x=1)


def test_compiled_templates_are_cached_never_stale_and_damage_is_harmless(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    template = tmp_path / "t.j2"
    template.write_text("a={{ x }}\n")
    assert _render(template) == "a=1\n"
    folder = tmp_path / "cache" / "amlcompile" / "templates"
    assert len(list(folder.iterdir())) == 1
    assert _render(template) == "a=1\n"  # from the cache
    template.write_text("b={{ x }}\n")  # same name, new text: compiled again
    assert _render(template) == "b=1\n"
    for f in folder.iterdir():
        f.write_bytes(b"not a compiled template")
    assert _render(template) == "b=1\n"
    monkeypatch.setenv("XDG_CACHE_HOME", str(template))  # a file: no folder can be made
    assert _render(template) == "b=1\n"
