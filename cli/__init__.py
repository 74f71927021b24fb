"""The `vzoo` command line (Typer): one module per command group; they only parse and delegate."""
