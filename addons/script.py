"""mitmllm as a script for stock mitmproxy tools:

    mitmdump --mode reverse:http://mitmllm.invalid@1337 --listen-host 127.0.0.1 \
        --set connection_strategy=lazy -s addons/script.py [--set mitmllm_config=FILE]

(or `mitmweb ...` with the same arguments). Loaded by path, so imports are absolute.
"""

from mitmllm.addons import pipeline

addons = pipeline()
