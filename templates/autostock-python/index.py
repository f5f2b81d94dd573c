"""Entry point of every function image: gunicorn serves `app`, of-watchdog proxies to it.

The same Flask glue as the local runtime (autostock.runtime.wsgi), so a function answers
identically under `autostock dev` and on OpenFaaS.
"""

import socket

from autostock.contract import Context
from autostock.runtime.wsgi import single_function_app
from function import handler

app = single_function_app(handler.handle, Context(hostname=socket.gethostname()))
