"""What the built-in backends share on the wire: request and answer shapes, SSE,
transports and the one mapping of failures into the error tree (reading an answer to
its deadline is :mod:`chatport._deadline`'s).

Private: backends in :mod:`chatport.backends` use it; plugins should not.
"""
