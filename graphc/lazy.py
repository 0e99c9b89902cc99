"""Attributes a package loads when first asked for (PEP 562's module __getattr__): what
`import graphc` need not load (nn, the drawing code...), and what graphc.viz need not load
for the compiler, which needs only its names."""
from __future__ import annotations

import importlib


def lazy_attributes(namespace: dict, table: dict) -> tuple:
    """(__getattr__, __dir__) for the module whose globals are `namespace`: `table` maps a name
    to (module, attribute), attribute None for the module itself. A value, once loaded, is
    kept in the namespace (the next lookup finds it there)."""
    package = namespace["__name__"]

    def __getattr__(name):
        try:
            module, attr = table[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = importlib.import_module(module)
        if attr is not None:
            value = getattr(value, attr)
        namespace[name] = value
        return value

    def __dir__():
        return sorted(list(namespace) + list(table))
    return __getattr__, __dir__
