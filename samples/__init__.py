"""The samples shipped with sointu: recordings (data), not code.

This file only makes the folder the package ``sointu._samples``, so that an installed sointu
finds its samples through importlib.resources (see ``sointu/shipped.py``).
"""
