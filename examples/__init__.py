"""Examples of embedding sessionauth. A package, so that tests and `python -m` reach them by
module path from the repository root."""
