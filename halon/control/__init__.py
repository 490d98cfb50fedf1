"""
The control plane: the daemons' control sockets and what halonctl says to
them.

- L{api}: every call, its protobuf messages (proto/halon/*.proto, compiled
  into L{pb}) and whether it is paged.
- L{commands}: one AMP command per call; the L{Protobuf<commands.Protobuf>}
  argument chunks messages past AMP's 64 KiB value limit.
- L{service}: L{ControlService<service.ControlService>}, a daemon's socket
  (mode 0660, optional group) answering the calls it registered handlers for.
- L{handlers}: ready handlers (process-stats, reloads, rates ...).
- L{client}: the blocking client halonctl uses; L{boxes}: AMP's wire form
  without Twisted.

Importing this package imports nothing else: halonctl starts fast.
"""
