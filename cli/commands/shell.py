"""`stratus complete bash|zsh`: prints the shell completion script."""

from cli import completion
from cli.registry import arg, command


@command("complete", help="print a shell completion script (bash or zsh)", session=False)
@arg("shell", choices=sorted(completion.SCRIPTS), help="the shell to complete for")
def complete(ctx, args):
    ctx.stdout.write(completion.SCRIPTS[args.shell](ctx.parser))
