"""Every adapter implements the whole of each port it subclasses.

An adapter subclasses its Protocol so that the contract is visible, but a method it forgets is
then inherited from the Protocol, whose body is a docstring: it returns None instead of failing.
(A wrapper that missed a method added to UserRepository answered None to the dummy-cost
calibration, found by its Postgres test; this finds such a gap in every adapter at once.)"""

import importlib
import inspect
import pkgutil
from typing import Protocol

import pytest

import adapters
import domain.ports


def ports() -> list[type]:
    return [
        cls
        for _, cls in inspect.getmembers(domain.ports, inspect.isclass)
        if cls.__module__ == domain.ports.__name__ and Protocol in cls.__mro__[1:]
    ]


def adapter_classes() -> list[type]:
    found = []
    for info in pkgutil.walk_packages(adapters.__path__, prefix="adapters."):
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and any(p in cls.__mro__[1:] for p in ports()):
                found.append(cls)
    return found


def protocol_methods(port: type) -> list[str]:
    return [
        name
        for name, value in vars(port).items()
        if inspect.isfunction(value) and not name.startswith("_")
    ]


def test_the_adapters_are_found():
    names = {cls.__name__ for cls in adapter_classes()}
    assert {
        "InMemoryUserRepository",
        "PostgresUserRepository",
        "CachedUserRepository",
        "Argon2PasswordHasher",
    } <= names


@pytest.mark.parametrize("adapter", adapter_classes(), ids=lambda cls: cls.__name__)
def test_no_port_method_falls_through_to_the_protocol(adapter):
    missing = [
        f"{port.__name__}.{name}"
        for port in ports()
        if port in adapter.__mro__
        for name in protocol_methods(port)
        if getattr(adapter, name) is vars(port)[name]
    ]
    assert not missing, (
        f"{adapter.__name__} inherits these from the Protocol (they would return None): {missing}"
    )
