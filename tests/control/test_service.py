"""ControlService's socket: its mode and group, stale and live sockets at start, and removal at stop."""

import grp
import os
import socket
import stat

from twisted.internet import reactor
from twisted.trial import unittest

from halon.control.service import ControlService, configured
from tests.control.helpers import serve, short_tempdir


def other_group():
    """A group that is not this process's own, so a chgrp is visible: "staff" as Halon recommends, if it exists."""
    try:
        return grp.getgrnam("staff")
    except KeyError:
        pass
    for gid in os.getgroups():
        if gid != os.getegid():
            return grp.getgrgid(gid)
    return None


class SocketTests(unittest.TestCase):
    def test_defaultModeIs0660(self):
        """Without configuration the socket is a socket with mode 0660, as Halon's control sockets are."""
        control = serve(self, {})
        mode = os.stat(control.path).st_mode
        self.assertTrue(stat.S_ISSOCK(mode))
        self.assertEqual(stat.S_IMODE(mode), 0o660)

    def test_configuredModeAndGroup(self):
        """A configured mode is applied, and a configured group (by name or gid) owns the socket."""
        group = other_group()
        if group is None or (os.geteuid() != 0 and group.gr_gid not in os.getgroups()):
            raise unittest.SkipTest("no second group this user may chgrp to")
        control = serve(self, {}, mode=0o600, group=group.gr_name)
        info = os.stat(control.path)
        self.assertEqual(stat.S_IMODE(info.st_mode), 0o600)
        self.assertEqual(info.st_gid, group.gr_gid)
        self.assertNotEqual(info.st_gid, os.getegid())
        by_gid = serve(self, {}, group=str(group.gr_gid))
        self.assertEqual(os.stat(by_gid.path).st_gid, group.gr_gid)

    def test_unknownGroupIsAnError(self):
        """A group that does not exist stops the service at start with the group named."""
        path = os.path.join(short_tempdir(self), "smtpd.ctl")
        control = ControlService(reactor, path, {}, group="no-such-group-halon")
        error = self.assertRaises(ValueError, control.startService)
        self.assertIn("no-such-group-halon", str(error))
        self.assertFalse(os.path.exists(path))

    def test_staleSocketIsReplaced(self):
        """A socket file nobody listens on (left by a crash) is removed and the service listens."""
        path = os.path.join(short_tempdir(self), "smtpd.ctl")
        stale = socket.socket(socket.AF_UNIX)
        stale.bind(path)
        stale.close()
        control = serve(self, {}, path=path)
        probe = socket.socket(socket.AF_UNIX)
        self.addCleanup(probe.close)
        probe.connect(control.path)

    def test_liveSocketIsNotTakenOver(self):
        """A socket another process listens on is an error, and that socket stays."""
        path = os.path.join(short_tempdir(self), "smtpd.ctl")
        live = socket.socket(socket.AF_UNIX)
        self.addCleanup(live.close)
        live.bind(path)
        live.listen(1)
        control = ControlService(reactor, path, {})
        error = self.assertRaises(ValueError, control.startService)
        self.assertIn("another process is listening", str(error))
        self.assertTrue(stat.S_ISSOCK(os.stat(path).st_mode))

    def test_otherFileIsNotReplaced(self):
        """A regular file at the socket's path is left alone and named in the error."""
        path = os.path.join(short_tempdir(self), "smtpd.ctl")
        with open(path, "w") as f:
            f.write("not a socket")
        error = self.assertRaises(ValueError, ControlService(reactor, path, {}).startService)
        self.assertIn("is not a socket", str(error))
        with open(path) as f:
            self.assertEqual(f.read(), "not a socket")

    async def test_stopRemovesTheSocket(self):
        """Stopping the service closes the socket and removes its file."""
        path = os.path.join(short_tempdir(self), "run", "halon", "smtpd.ctl")
        control = ControlService(reactor, path, {})
        control.startService()
        self.assertTrue(os.path.exists(path))
        await control.stopService()
        self.assertFalse(os.path.exists(path))

    def test_unknownCallCannotBeRegistered(self):
        """Registering a handler under a name that is no control call fails at once, not when called."""
        self.assertRaises(ValueError, ControlService, reactor, "/nonexistent/x.ctl", {"QueueLst": lambda r: None})


class ConfiguredTests(unittest.TestCase):
    """configured(): a helper daemon's control socket from its environment.controlsocket."""

    def test_pathModeAndDefaultPath(self):
        """path and chmod (Halon writes it as a string of octal digits) are used; a missing path is Halon's default."""
        path = os.path.join(short_tempdir(self), "queued.ctl")
        control = configured(reactor, "rated", {"controlsocket": {"path": path, "chmod": "0600"}}, {})
        self.assertEqual((control.path, control.mode, control.program), (path, 0o600, "rated"))
        self.assertEqual(configured(reactor, "rated", {"controlsocket": {}}, {}).path, "/var/run/halon/queued.ctl")
        self.assertEqual(configured(reactor, "dlpd", {"controlsocket": {}}, {}).path, "/var/run/halon/dlpd.ctl")

    def test_noSocketUnlessConfigured(self):
        """No section (a minimal file) or a TCP port (not served by this build): no control socket."""
        self.assertIsNone(configured(reactor, "rated", {}, {}))
        self.assertIsNone(configured(reactor, "rated", None, {}))
        self.assertIsNone(configured(reactor, "dlpd", {"controlsocket": {"port": 9000}}, {}))
