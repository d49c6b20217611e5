"""The presets shipped with sointu: data (TOML), not code.

This file only makes the folder the package ``sointu._presets``, so that an installed sointu
finds its presets through importlib.resources (see ``sointu/shipped.py``).
"""
