"""
The security defaults of `twistd -n halon`, checked against the running
process: who may use a control socket, and that scripts reach no file
outside their root path.  (Socket modes, the umask and the open-relay
check are in tests.allinone.)
"""

import grp
import os
import smtplib
import socket

from twisted.internet import defer, threads
from twisted.trial import unittest

from tests.allinone.helpers import Workdir

def _group(name):
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        return None


class ControlSocketTests(unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0:
            raise unittest.SkipTest("switching users needs root")
        self.staff = _group("nogroup") or _group("nobody")
        self.other = _group("daemon")
        if self.staff is None or self.other is None:
            raise unittest.SkipTest("needs the groups nogroup and daemon")

    def probe(self, path, gid):
        """
        Connect to C{path} as user nobody with only group C{gid}, in a
        forked child (the venv's interpreter may not be reachable by nobody).
        """
        pid = os.fork()
        if pid == 0:
            code = 2
            try:
                os.setgroups([])
                os.setgid(gid)
                os.setuid(65534)
                s = socket.socket(socket.AF_UNIX)
                try:
                    s.connect(path)
                    code = 0
                except PermissionError:
                    code = 1
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        return {0: "connected", 1: "refused"}.get(os.waitstatus_to_exitcode(status), "probe failed")

    @defer.inlineCallbacks
    def test_onlyTheGroupGetsIn(self):
        """With controlsocket.group set, its members connect; a user outside it is refused by the socket itself."""
        work = Workdir(self)
        group = grp.getgrgid(self.staff).gr_name
        work.edit("smtpd", lambda c: c["environment"]["controlsocket"].update(group=group))
        process = work.start()
        yield process.expect(rb"smtpd control socket on ")
        path = os.path.join(work.run, "smtpd.ctl")
        st = os.stat(path)
        self.assertEqual((st.st_mode & 0o777, st.st_gid), (0o660, self.staff))
        # Let anyone reach the folder, so only the socket's own mode and group decide.
        folder = path
        while folder != os.path.dirname(work.path):
            folder = os.path.dirname(folder)
            os.chmod(folder, 0o755)
        inside = yield threads.deferToThread(self.probe, path, self.staff)
        outside = yield threads.deferToThread(self.probe, path, self.other)
        self.assertEqual((inside, outside), ("connected", "refused"))


SANDBOX_HOOK = """
$outcome = [];
foreach (["inside.txt", "/etc/hostname", "../../etc/hostname", "escape/hostname"] as $path) {
    $data = File::read($path);
    if ($data === none)
        $outcome[] = "refused";
    else if ($data == "inside")
        $outcome[] = "inside";
    else
        $outcome[] = "read";
}
Reject(array_join($outcome, " "));
"""


class RootPathTests(unittest.TestCase):
    @defer.inlineCallbacks
    def test_scriptsStayInsideTheRootPath(self):
        """Absolute paths, .. and a symbolic link out of the root are all refused; a file inside is read."""
        work = Workdir(self)
        root = os.path.join(work.path, "scripts")
        os.makedirs(root)
        with open(os.path.join(root, "inside.txt"), "w") as f:
            f.write("inside")
        os.symlink("/etc", os.path.join(root, "escape"))
        work.edit("smtpd", lambda c: c.setdefault("scripting", {}).update(rootpath=root))
        work.edit("smtpd-app", lambda c: c["scripting"]["hooks"]["eod"][0].update(data=SANDBOX_HOOK))
        process = work.start()
        port = yield process.listening

        def send():
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
                try:
                    smtp.sendmail("a@example.com", ["b@example.org"], b"Subject: x\r\n\r\nx\r\n")
                except smtplib.SMTPDataError as e:
                    return e.smtp_code, e.smtp_error
                return 250, b""

        code, text = yield threads.deferToThread(send)
        self.assertEqual((code, text.split(b" ", 1)[-1]), (550, b"inside refused refused refused"))
