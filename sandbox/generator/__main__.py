from sandbox.generator.cli import app

app(prog_name="python -m sandbox.generator")
