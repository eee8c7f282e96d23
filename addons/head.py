"""HEAD requests: the headers a GET would get, and no body (RFC 9110, section 9.3.2).

Ingress routes HEAD wherever GET goes; whatever then answers (a gateway answer, an error,
a provider's answer) builds a whole response. Hook `response`, last in the pipeline: the
body goes, its length stays in `content-length`, as a GET would have said. Claude Code
checks the gateway with a HEAD request before its first call.
"""

from __future__ import annotations

from mitmproxy import http


class HeadRequests:
    def response(self, flow: http.HTTPFlow) -> None:
        response = flow.response
        if flow.request.method != "HEAD" or response is None or response.stream:
            return
        body = response.raw_content or b""
        if body:
            response.raw_content = b""
            response.headers["content-length"] = str(len(body))
