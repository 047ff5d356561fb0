"""libutp's callback API for Python (work in progress on branch pyffi)."""


class Context:
    """Placeholder: the callback-API context is being written."""

    def __init__(self) -> None:
        raise NotImplementedError("rutp.Context is not written yet")


class CSocket:
    """Placeholder: a socket of a :class:`Context`."""
