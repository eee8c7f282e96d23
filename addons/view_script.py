"""mitmllm's contentviews as a script for stock mitmproxy tools, to read saved flows:

    mitmweb -r FLOWS -s addons/view_script.py
    mitmdump -nr FLOWS --flow-detail 3 -s addons/view_script.py

It only adds the `mitmllm` and `SSE` views (addons/views.py); nothing is routed or sent.
Loaded by path, so imports are absolute.
"""

from mitmllm.addons.views import MitmllmViews

addons = [MitmllmViews()]
