"""mkdocs hook: the Commands page shows each command's ``--help`` as the installed CLI prints it.

The page holds one placeholder; the help texts are rendered at build time from the one Typer app,
so the page can never drift from the commands it documents.
"""

from __future__ import annotations

PLACEHOLDER = "<!-- mouseface-commands -->"


def _help_texts() -> str:
    import click
    import typer

    from mouseface.cli import app
    from mouseface.cli._app import COMMAND_ORDER

    group = typer.main.get_command(app)
    parts = []
    with click.Context(group, info_name="mouseface", terminal_width=100,
                       max_content_width=100) as ctx:
        parts.append("```text\n" + group.get_help(ctx) + "\n```\n")
        names = group.list_commands(ctx)
        for name in names:
            command = group.get_command(ctx, name)
            with click.Context(command, parent=ctx, info_name=name, terminal_width=100,
                               max_content_width=100) as sub:
                parts.append(f"## `mouseface {name}`\n\n```text\n{command.get_help(sub)}\n```\n")
    assert set(COMMAND_ORDER) <= set(names), "a command named in COMMAND_ORDER is not registered"
    return "\n".join(parts)


def on_page_markdown(markdown: str, page, config, files) -> str:
    if PLACEHOLDER not in markdown:
        return markdown
    return markdown.replace(PLACEHOLDER, _help_texts())
