"""Presets, banks and snapshots (docs/presets.md): the format of a preset file, the presets
folder and its banks, and the zip a rig is shared in. Torch-free, no audio: the pedal's
control side, the web page and the command line read presets through this package."""
