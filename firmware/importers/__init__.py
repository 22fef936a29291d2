"""Importers of the community's model files: NAM `.nam`, GuitarML and AIDA-X JSON.

Each format's module registers itself (`registry`) and turns a foreign document into a
`ModelFile` (the pedal's own format, see `firmware/models/modelfile.py`) that plays sample
for sample as the format's reference player does. `loader.load` is the one way to read any
model file: the format is told from the content, not the file name.
"""
# Imported for their registration, in detection order.
from firmware.importers import nam, guitarml, aidax  # noqa: F401, I001
from firmware.importers.loader import detect, import_file, load  # noqa: F401
from firmware.importers.nam import submodel_sizes  # noqa: F401  (the sizes of a slimmable file)
