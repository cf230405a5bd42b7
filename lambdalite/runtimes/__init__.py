"""The runtimes layer: what runs inside an execution environment.

``lookup``               which program starts an environment for a runtime (``command_for``)
``python/bootstrap.py``  the Python runtime interface client (stdlib only, Python 3.9-3.14)
``node/bootstrap.js``    the Node.js runtime interface client (Node 18-22)

Both bootstraps speak only the Lambda Runtime API (2018-06-01); ``provided*``
runtimes run the function's own ``bootstrap``.
"""
