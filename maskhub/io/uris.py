"""Inputs named by a filesystem URI: ``s3://bucket/photos/``, ``gs://...``, ``hdfs://...``, ``file:///...`` or
any other scheme pyarrow.fs knows, else one fsspec knows (through pyarrow's fsspec handler).

An input URI is an image file, a folder (listed recursively) or a glob (``*``, ``?``, ``[`` in its last
parts); the items keep their URI as their ``path`` in every table. Images are read as bytes through the
filesystem; videos are opened by OpenCV, which reads local files and http(s) URLs only.
"""
import fnmatch
from functools import lru_cache

GLOB_CHARS = '*?['


def is_uri(path):
    return '://' in str(path)


class URIError(OSError):
    """A URI that cannot be reached or read: the message names it and says why."""


@lru_cache(maxsize=32)
def _filesystem_for(scheme_and_host):
    """The pyarrow filesystem for 'scheme://host' (cached: connecting to an object store costs a round trip)."""
    import pyarrow as pa
    import pyarrow.fs as pafs
    try:
        return pafs.FileSystem.from_uri(scheme_and_host + '/')[0]
    except (pa.ArrowInvalid, ValueError, OSError) as arrow_err:
        try:
            import fsspec
            protocol = scheme_and_host.split('://', 1)[0]
            return pafs.PyFileSystem(pafs.FSSpecHandler(fsspec.filesystem(protocol)))
        except (ImportError, ValueError) as err:
            raise URIError('no filesystem for %s (pyarrow: %s; fsspec: %s)' % (scheme_and_host, arrow_err, err)) \
                from None


def split(uri):
    """'s3://bucket/a/b.jpg' -> (filesystem, 'bucket/a/b.jpg'); file:// URIs keep their absolute path."""
    scheme, rest = str(uri).split('://', 1)
    if scheme == 'file':
        return _filesystem_for('file://'), rest
    return _filesystem_for('%s://' % scheme), rest


def _join(uri, path):
    scheme = str(uri).split('://', 1)[0]
    return '%s://%s' % (scheme, path)


def list_files(uri):
    """-> (sorted file URIs that ``uri`` names, error text or None)."""
    import pyarrow.fs as pafs
    try:
        fs, path = split(uri)
        parts = path.split('/')
        fixed = next((i for i, p in enumerate(parts) if any(c in p for c in GLOB_CHARS)), None)
        if fixed is not None:                    # a glob: list below its fixed prefix, then match
            base = '/'.join(parts[:fixed]) or '/'
            infos = fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
            found = [i.path for i in infos if i.type == pafs.FileType.File
                     and fnmatch.fnmatch(i.path.lstrip('/'), path.lstrip('/'))]
            return sorted(_join(uri, p) for p in found), None if found else 'pattern matches no file'
        info = fs.get_file_info(path)
        if info.type == pafs.FileType.File:
            return [str(uri)], None
        if info.type == pafs.FileType.Directory:
            infos = fs.get_file_info(pafs.FileSelector(path, recursive=True))
            return sorted(_join(uri, i.path) for i in infos if i.type == pafs.FileType.File), None
        return [], 'file not found'
    except (OSError, ValueError) as err:
        return [], 'cannot list (%s)' % str(err).strip().splitlines()[0]


def read_bytes(uri):
    """The content of the file at ``uri``; URIError (naming it, saying why) when it cannot be read."""
    try:
        fs, path = split(uri)
        with fs.open_input_stream(path) as f:
            return f.read()
    except (OSError, ValueError) as err:
        raise URIError('cannot read %s (%s)' % (uri, str(err).strip().splitlines()[0])) from None
