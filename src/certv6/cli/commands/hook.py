"""`certv6 hook ...`: the group lives in certv6.hookcmd (it starts without the CLI's imports)."""

from certv6.cli.app import cli
from certv6.hookcmd import hook_group

cli.add_command(hook_group)
