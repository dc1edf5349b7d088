"""The ``xuncha`` command line: parse arguments, call ``graph``/``loaders``, format output."""
