"""Request parameters as OAuth reads them: each one at most once (RFC 6749 section 3.1)."""

from __future__ import annotations

from collections.abc import Iterable


class ParameterError(Exception):
    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


class Params:
    def __init__(self, items: Iterable[tuple[str, object]]) -> None:
        self._values: dict[str, list[str]] = {}
        for name, value in items:
            # Uploaded files are not parameters; a form field that is one is simply absent.
            if isinstance(value, str):
                self._values.setdefault(name, []).append(value)

    def one(self, name: str) -> str | None:
        values = self._values.get(name, [])
        if len(values) > 1:
            raise ParameterError("invalid_request", f"{name} is given more than once")
        return values[0] if values and values[0] else None

    def required(self, name: str) -> str:
        value = self.one(name)
        if value is None:
            raise ParameterError("invalid_request", f"{name} is required")
        return value

    def subset(self, names: Iterable[str]) -> dict[str, str]:
        return {name: values[0] for name in names if (values := self._values.get(name))}
