"""The core of sessionauth: entities, value objects, rules and ports. Standard library only."""
