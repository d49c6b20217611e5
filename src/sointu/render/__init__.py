"""Rendering sessions to files: formats, loudness, dither, tags, chapters, atomic writes and
the render pipeline.

The package is also the library's one-call render: ``sointu.render(preset, path, ...)``
calls :func:`sointu.library.render` (see it for the parameters and units). The function and
this package share the name ``sointu.render``, and importing a submodule would replace a
plain function there, so the package itself is callable.
"""

import sys
import types

from ..library import render as _render


class _CallableModule(types.ModuleType):
    def __call__(self, *args, **kwargs):
        return _render(*args, **kwargs)

    __call__.__doc__ = _render.__doc__

    @property
    def __signature__(self):  # what inspect.signature(sointu.render) and help() show
        import inspect

        return inspect.signature(_render)


sys.modules[__name__].__class__ = _CallableModule
