"""Rendering sessions to files: formats, loudness, dither, tags, chapters, atomic writes and
the render pipeline.

The one-call render is :func:`sointu.render` (:func:`sointu.library.render`); this package is
what it is built on.
"""
