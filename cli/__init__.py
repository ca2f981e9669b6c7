"""The `profilestore` command (Typer + Rich, from the `cli` extra): the demo and the operator
tools. An entry point, not one of the library's layers: it uses the public API, plus URL
resolution. `main.py` holds the app, `reading.py` and `writing.py` the operator commands,
`database.py` what they share (their arguments, the database they open, errors as one line),
`render.py` their parsing and output."""

if __name__ != "profilestore.cli":  # pragma: no cover - a second copy of the commands' module state
    raise ImportError("import this package as profilestore.cli, not by its folder name")
