"""rutp: Python bindings (ctypes, no compiled extension) for rutp's ``libutp.so``.

Importing the package loads the library (see :mod:`rutp._lib` for the search order) and raises
:class:`RutpLibraryNotFound`, an ``ImportError``, when none is found.
"""

__version__ = "0.1.0"

from rutp._lib import RutpLibraryNotFound  # noqa: E402
from rutp.context import Context  # noqa: E402
from rutp.context import CSocket  # noqa: E402
from rutp.context import Callback  # noqa: E402
from rutp.context import ErrorCode  # noqa: E402
from rutp.context import Option  # noqa: E402
from rutp.context import State  # noqa: E402
from rutp.context import UdpFlag  # noqa: E402

# ---- The socket layer (Socket, Stream, asyncio): its exports go below this line, one a line. ----
from rutp.streams import Socket  # noqa: E402
from rutp.streams import Stream  # noqa: E402
from rutp.stats import StreamStats  # noqa: E402
from rutp.aio import open_connection  # noqa: E402
from rutp.aio import start_server  # noqa: E402
