"""A notes application of "your own" that embeds sessionauth (see app.py)."""
