"""Rendering sessions to files.

The package is also the library's one-call render: ``sointu.render(preset, path, ...)``
calls :func:`sointu.library.render` (see it for the parameters). The function and this
package share the name ``sointu.render``, and importing a submodule would replace a plain
function there, so the package itself is callable.
"""

import sys
import types


class _CallableModule(types.ModuleType):
    def __call__(self, *args, **kwargs):
        """:func:`sointu.library.render`."""
        from ..library import render

        return render(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
