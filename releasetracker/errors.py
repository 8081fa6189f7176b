"""The one domain error type that services raise and every entry point turns into a 4xx."""


class DomainError(Exception):
    """A request the domain refuses. ``field`` names the input at fault, when there is one."""

    code = "validation_error"
    status = 400

    def __init__(self, message: str, *, field: str | None = None, fields: dict | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.fields = fields if fields is not None else ({field: [message]} if field else {})

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class NotFound(DomainError):
    code = "not_found"
    status = 404


class Conflict(DomainError):
    code = "conflict"
    status = 409


class Unprocessable(DomainError):
    code = "idempotency_key_reused"
    status = 422
