"""Level units, one definition for every part of the firmware."""


def db_to_gain(db, floor_db=None):
    """dB -> a linear factor; at or below `floor_db` (when given) silence, as AIDA-X treats
    anything at or below -90 dB."""
    if floor_db is not None and db <= floor_db:
        return 0.0
    return float(10.0 ** (db / 20.0))
