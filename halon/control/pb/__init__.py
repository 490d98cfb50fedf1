"""
The protobuf modules generated from proto/halon/*.proto (by setup.py's
build_py; never edited or committed): C{control_pb2}, C{smtpd_pb2},
C{rated_pb2}, C{dlpd_pb2}, C{hsh_pb2}.

Importing protobuf costs more than everything else halonctl does, so
nothing imports these modules until a message is needed: L{message_class}
loads the one module a call uses.
"""

import importlib


def message_class(full_name):
    """The class of the message called C{full_name}, such as C{"smtpd.QueueListRequest"}."""
    package, _, name = full_name.rpartition(".")
    try:
        module = importlib.import_module("%s.%s_pb2" % (__name__, package))
    except ImportError as e:
        raise ImportError(
            "%s: the protobuf modules are not generated (run `make venv`): %s" % (full_name, e)
        ) from e
    return getattr(module, name)
