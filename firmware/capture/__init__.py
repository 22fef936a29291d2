"""`tubeless capture`: the pedal as the capture rig (docs/capture.md).

A process of its own, a peer of the engine: it plays the trainer's capture signal out of the
HAT and records the amp's return in the same duplex ALSA stream, checks what came back, and
writes a folder `tubeless-train fit` takes unchanged.

    signal    the capture signal and its layout (the one definition; training re-exports it)
    measure   levels, clipping, latency from the blips, the dry residual (shared with training)
    duplex    one take: a buffer played and the return recorded, period by period
    checks    the level check's verdict and the checks on a take's return
    folder    the output folder, written aside and renamed into place when complete
    session   the whole capture: level checks, takes, prompts, progress, abort
"""
