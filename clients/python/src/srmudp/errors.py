"""Errors of srmudp: one base class with a stable string ``code`` (tests match on the code, the
message is for humans), as in the TypeScript packages (``SrmudpError`` in ``@srmudp/wire``)."""

from __future__ import annotations

from typing import Literal

WireDecodeErrorCode = Literal[
    "TRUNCATED",
    "UNKNOWN_TYPE",
    "BAD_VALUE",
    "VARINT_RANGE",
    "TRAILING_BYTES",
    "UNSUPPORTED_VERSION",
]


class SrmudpError(Exception):
    """Base class of every error srmudp raises on purpose. ``code`` is stable."""

    code: str

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {str(self)!r})"


class WireDecodeError(SrmudpError):
    """Raised by every decoder on malformed input, and nothing else is (wire-format.md §8)."""

    code: WireDecodeErrorCode

    def __init__(self, code: WireDecodeErrorCode, message: str) -> None:
        super().__init__(code, message)


class KeyFileError(SrmudpError):
    """Key file problems: KEYFILE_NOT_FOUND, KEYFILE_EXISTS, KEYFILE_PERMISSIONS, KEYFILE_FORMAT,
    KEYFILE_IO (the codes of ``@srmudp/crypto-node``)."""

    def __init__(self, code: str, path: str, message: str) -> None:
        super().__init__(code, f"{path}: {message}")
        self.path = path
