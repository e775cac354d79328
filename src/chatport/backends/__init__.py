"""Built-in backends, one module each, plus :mod:`chatport.backends.base`."""
