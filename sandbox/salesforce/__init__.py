"""An HTTPS server that speaks enough of the Salesforce API for the unmodified simple-salesforce client.

Start it with ``python -m sandbox.salesforce serve --state-dir .sandbox`` or, from Python,
:func:`sandbox.salesforce.process.start_sandbox`.
"""
