"""The pedal's own web page (`tubeless web`, docs/web.md): a separate process that reaches
the running pedal only through its control socket and the models folder."""
