"""The WSGI app bench_market serves under gunicorn: the function template's app over quote-snapshot."""

from autostock.runtime.wsgi import single_function_app
from tests.helpers import load_handler

app = single_function_app(load_handler("quote-snapshot").handle)
