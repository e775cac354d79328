"""What the built-in backends share on the wire: request and answer shapes, SSE, reading
to a deadline, transports and the one mapping of failures into the error tree.

Private: backends in :mod:`chatport.backends` use it; plugins should not.
"""
