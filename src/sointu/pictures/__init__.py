"""Pictures: a session's score and loudness, an instrument's stroke, and cover art.

- :mod:`.session`: the session at a glance (phases, strokes per instrument, rubs, gong
  waves, recordings, and the loudness over time with its target).
- :mod:`.strike`: one stroke's spectrogram with its partials and how each decays.
- :mod:`.cover`: the front cover embedded in rendered files (title, the session's shape,
  practitioner, a gift's recipient).

Plots need the optional ``plot`` extra (matplotlib, which brings Pillow):
``pip install 'sointu[plot]'``. Nothing here imports it at ``import sointu`` or in a render
that asks for no picture; :func:`.files.require` says in one line how to install it.
"""

__all__: list[str] = []
