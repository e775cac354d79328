"""Built-in backends, one module each named after the backend it registers, plus
:mod:`chatport.backends.base` (the interface). Shared wire code lives in ``chatport._wire``.
"""
