"""Errors in the shapes Salesforce sends them."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A REST error: HTTP status plus one ``{"message", "errorCode", "fields"}`` entry.

    ``fields=None`` leaves the key out, as Salesforce does for session and not-found errors.
    """

    def __init__(self, status: int, code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields

    def entry(self) -> dict[str, Any]:
        """The error as one element of a REST error list."""
        out: dict[str, Any] = {"message": self.message, "errorCode": self.code}
        if self.fields is not None:
            out["fields"] = self.fields
        return out

    def collection_entry(self) -> dict[str, Any]:
        """The error as sObject Collections report it inside a per-record result."""
        return {"statusCode": self.code, "message": self.message, "fields": self.fields or []}

    def body(self) -> list[dict[str, Any]]:
        return [self.entry()]


def invalid_session() -> ApiError:
    return ApiError(401, "INVALID_SESSION_ID", "Session expired or invalid")


def not_found(message: str = "The requested resource does not exist") -> ApiError:
    return ApiError(404, "NOT_FOUND", message)


def entity_deleted() -> ApiError:
    return ApiError(404, "ENTITY_IS_DELETED", "entity is deleted", [])


def invalid_type(name: str) -> ApiError:
    """An unknown object named inside a request body or a query (URL paths answer NOT_FOUND instead)."""
    return ApiError(400, "INVALID_TYPE", f"sObject type '{name}' is not supported.", [])
