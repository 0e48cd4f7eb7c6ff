"""One module per command or command group: the commands are module-level functions; `register(app)` adds them."""
