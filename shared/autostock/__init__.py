"""AutoStock NAS domain package: everything the functions, deployments and tests share.

Layer rule: nothing here imports Flask or Werkzeug except `autostock.runtime`, which is the
local stand-in for the OpenFaaS gateway and the template's entry point.
"""

__version__ = "0.1.0"
