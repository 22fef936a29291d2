"""The engine: the pedal's audio process (see engine.py; entry point `python -m firmware.engine`)."""
