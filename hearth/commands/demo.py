"""`hearth demo`: the demo (as `hearth up`), or with --accounts its current sign-ins.

    hearth demo --port 8080           # the same as `hearth up --port 8080`
    hearth demo --accounts            # the sign-ins the running (or last) demo printed

The passwords cannot be recovered from the database (argon2id hashes): each start keeps
its demo sign-ins in ``<data dir>/demo-accounts.txt``, created readable by its owner only
(0600); --accounts prints that file and refuses it if others may read it.
"""

from __future__ import annotations

import click


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                                 "help_option_names": ["-h", "--help"]})
@click.option("--accounts", is_flag=True,
              help="Print the demo's current sign-ins (from the 0600 file in the data dir).")
@click.pass_context
def demo(ctx: click.Context, accounts: bool) -> None:
    """Run the demo (options as `hearth up`), or print its sign-ins with --accounts."""
    from core.config import get_settings
    from hearth import demo as demo_accounts

    if not accounts:
        from hearth.commands.up import up

        with up.make_context("demo", list(ctx.args), parent=ctx) as sub:
            up.invoke(sub)
        return
    if ctx.args:
        raise click.UsageError(f"--accounts takes no other options: {' '.join(ctx.args)}")
    path = demo_accounts.accounts_path(get_settings().data_dir)
    try:
        text = demo_accounts.load_accounts(path)
    except (FileNotFoundError, PermissionError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Demo sign-ins (role, name, password), from {path.resolve()}:")
    click.echo(text, nl=False)
