"""Is this process's system zlib bound to Paddle's copy? (the cause of the PNG crash under ``hub serving``)

``libpaddle.so`` (paddlepaddle 2.6) carries a zlib of its own and exports its symbols (``inflate``,
``inflateReset2``, ...), and it also lists the system ``libz.so.1`` as a dependency. When libpaddle is
the first library to need libz, the dynamic linker loads libz.so.1 as part of libpaddle's group, and
libz's own internal calls (``inflateInit2_`` -> ``inflateReset2``) are resolved in that group, where
libpaddle's copy comes first (``LD_DEBUG=bindings`` shows ``binding file libz.so.1 to libpaddle.so:
inflateReset2``). Every later zlib user (OpenCV's libpng, Pillow, Python's ``zlib`` module) then runs
half of one zlib and half of another on the same stream: "could not decode" on small PNGs and
SIGSEGV (``free()`` of a bad pointer) on large ones.

If anything loads libz.so.1 before libpaddle, libz.so.1 keeps its own scope and both copies work:
``import zlib`` does (``maskhub/__init__`` does it first), and so does ``import numpy`` (its bundled
libgfortran needs libz), which is why most processes never see the clash. ``import paddle`` as the
first import loads libpaddle before numpy, and PaddleHub's ``hub`` command does exactly that. A process that imported Paddle before maskhub
(``hub serving start``, ``hub run``, user code) cannot be repaired after the fact: there
``maskhub.io.images`` decodes every non-JPEG image in a clean helper process
(``maskhub.io.clean_decoder``) instead.
"""
import ctypes
import os

_state = None       # once libz.so.1 is loaded the answer cannot change


class _PhdrInfo(ctypes.Structure):
    _fields_ = [('dlpi_addr', ctypes.c_void_p), ('dlpi_name', ctypes.c_char_p)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(_PhdrInfo), ctypes.c_size_t, ctypes.c_void_p)


def loaded_libraries():
    """Base names of the shared objects of this process, in load order (``dl_iterate_phdr``)."""
    names = []

    def collect(info, size, data):
        names.append(os.path.basename((info.contents.dlpi_name or b'').decode('utf-8', 'replace')))
        return 0

    try:
        libc = ctypes.CDLL(None)
        libc.dl_iterate_phdr(_CALLBACK(collect), None)
    except (OSError, AttributeError):
        return []
    return names


def zlib_bound_to_paddle():
    """True when libz.so.1 was loaded after libpaddle.so (as its dependency): zlib is unsafe in-process."""
    global _state
    if _state is not None:
        return _state
    names = loaded_libraries()
    libz = next((i for i, n in enumerate(names) if n.startswith('libz.so')), None)
    paddle = next((i for i, n in enumerate(names) if n == 'libpaddle.so'), None)
    if libz is None:
        return False            # not loaded yet: whoever loads it first decides; ask again later
    _state = paddle is not None and paddle < libz
    return _state
