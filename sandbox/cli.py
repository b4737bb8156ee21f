"""`crm360-sandbox`: the local Salesforce org and the synthetic company, from one command.

    crm360-sandbox serve --port 8443 --data .sandbox      # the org (sandbox/salesforce)
    crm360-sandbox generate --customers 2000 --days 3 ... # a company (sandbox/generator)
    crm360-sandbox load ...                               # its CRM records into a running org
    crm360-sandbox respond --plan ... --population ...    # the market's response, with a planted lift
"""

from __future__ import annotations

import typer

from sandbox.generator.cli import app as generator_app
from sandbox.generator.response_cli import app as response_app
from sandbox.salesforce.cli import app as salesforce_app

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="The crm360 sandbox: a local Salesforce org and a synthetic company.")
# One flat command list: each part keeps its own typer app, registered here side by side.
for part in (salesforce_app, generator_app, response_app):
    app.registered_commands.extend(part.registered_commands)

if __name__ == "__main__":
    app()
