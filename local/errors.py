"""The local backend's errors, each carrying its HTTP answer in OpenAI's error shape.

    LocalError                 500 server_error
    ├── BadRequest             400 invalid_request_error   (param names the field)
    ├── ModelNotFound          404 invalid_request_error   code model_not_found
    ├── MlxUnavailable         503 server_error            code mlx_unavailable
    └── ModelLoadFailed        500 server_error            code model_load_failed

The server turns any of them into `{"error": {"message", "type", "param", "code"}}` with
the translators' own error body; in a stream that has already started, the same object is
sent as one SSE event before `[DONE]`.
"""

from __future__ import annotations

from typing import Any

from ..translators.errors import ErrorInfo, openai_error_body


class LocalError(Exception):
    status = 500
    type = "server_error"
    code: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code

    def to_openai(self) -> dict[str, Any]:
        return openai_error_body(ErrorInfo(self.status, self.message, self.type, self.param,
                                           self.code))


class BadRequest(LocalError):
    status = 400
    type = "invalid_request_error"


class ModelNotFound(LocalError):
    status = 404
    type = "invalid_request_error"
    code = "model_not_found"


class MlxUnavailable(LocalError):
    status = 503
    code = "mlx_unavailable"


class ModelLoadFailed(LocalError):
    code = "model_load_failed"
