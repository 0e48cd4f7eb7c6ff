from dvcpulse.cli import app

app()
