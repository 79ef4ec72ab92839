"""The `sessionauth` command. Importing this module imports the `sessionauth` package first, which
checks that the layer packages are sessionauth's own, so a shadowed install fails with that
message before `entrypoints.cli` imports any of them."""

from entrypoints.cli import main

__all__ = ["main"]
