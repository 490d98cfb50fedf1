"""
hsh: run an HSL script, check its syntax, or explore HSL in a REPL.

    hsh test.hsl                 run a file (- reads the script from stdin)
    hsh -R . test.hsl            with the current folder as the root path
    hsh -s test.hsl              check the syntax only
    hsh -c /etc/halon/smtpd.yaml the environment smtpd's configuration gives
    hsh                          the interactive shell

Scripts run on a worker thread while the reactor runs on the main thread,
as they do in smtpd, so dns_query(), http() and the other functions that
wait for I/O work the same here.  Errors print as C{file:line:column:
message} on stderr and make hsh exit with 1.
"""

import argparse
import base64
import os
import sys

import halon
from halon.hsl.errors import HSLError

PROMPT = "HSH> "
CONTINUE = "...> "


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="hsh", description="The HSL script interpreter and interactive shell.")
    parser.add_argument("-c", "--config", metavar="PATH", help="smtpd's startup configuration (use /dev/null for none)")
    parser.add_argument("-P", "--privdrop", action="store_true", help="drop privileges to the configured user")
    parser.add_argument("-F", "--ffi", action="store_true", help="enable the FFI class")
    parser.add_argument("-R", "--rootpath", metavar="PATH", help="the folder scripts may read files under")
    parser.add_argument("-A", "--appconf", metavar="PATH", help="the running configuration (smtpd-app.yaml)")
    parser.add_argument("-s", "--syntax", action="store_true", help="check the script's syntax only")
    parser.add_argument("-v", "--version", action="store_true", help="print the version and exit")
    parser.add_argument("script", nargs="?", help="the script to run (- for stdin); none starts the shell")
    return parser.parse_args(argv)


class Environment:
    """What the options and configuration files say scripts may reach."""

    def __init__(self, rootpath=None, files=None, ffi=False, publicsuffix=None, pki=None, servers=None, privdrop=None):
        self.rootpath = rootpath
        self.files = files or {}
        self.ffi = ffi
        self.publicsuffix = publicsuffix
        self.pki = pki
        self.servers = servers
        self.privdrop = privdrop


def load_environment(args):
    from halon.config.loader import load_running, load_startup

    env = Environment()
    startup = None
    if args.config and args.config != "/dev/null":
        startup = load_startup("smtpd", args.config)
        environment = startup.get("environment", {})
        env.publicsuffix = environment.get("publicsuffix")
        env.privdrop = environment.get("privdrop")
        scripting = startup.get("scripting", {})
        env.rootpath = scripting.get("rootpath")
        env.ffi = scripting.get("ffi", False)
    appconf = args.appconf
    if appconf is None and startup is not None:
        appconf = startup.get("environment", {}).get("appconf")
    if appconf:
        app = load_running("smtpd-app", appconf, startup=startup, check_hsl=False)
        scripting = app.get("scripting", {})
        env.rootpath = scripting.get("rootpath", env.rootpath)
        for entry in scripting.get("files", []):
            data = entry.get("data", "")
            if entry.get("binary"):
                env.files[entry["id"]] = base64.b64decode(data)
            else:
                env.files[entry["id"]] = data.encode("utf-8") if isinstance(data, str) else data
        env.pki = app.get("pki")
        resolver = app.get("resolver", {})
        env.servers = [_server(s) for s in resolver.get("servers", [])] or None
    if args.rootpath:
        env.rootpath = args.rootpath
    if args.ffi:
        env.ffi = True
    return env


def _server(text):
    """(address, port) from "address", "address:port" or "[v6]:port"."""
    if text.startswith("["):
        address, _, port = text[1:].partition("]:")
        return address.rstrip("]"), int(port or 53)
    if text.count(":") == 1:
        address, port = text.split(":")
        return address, int(port)
    return text, 53


def make_host(env, reactor, stdout):
    from halon.hsl.host import Host
    from halon.mailauth import service as mailauth

    host = Host(
        rootpath=env.rootpath,
        files=env.files,
        ffi=env.ffi,
        reactor=reactor,
        stdout=stdout,
        publicsuffix=env.publicsuffix,
    )
    mailauth.install(host, reactor, env.servers, env.pki)
    try:
        from halon.httprd.client import HTTPService
        from halon.httprd.fetch import Fetcher
    except ImportError:
        pass
    else:
        host.services.setdefault("http", HTTPService(host, Fetcher(reactor)))
    return host


def _privdrop(env):
    if env.privdrop is None:
        raise SystemExit("hsh: -P needs environment.privdrop in the startup configuration")
    import grp
    import pwd

    user = env.privdrop.get("user")
    group = env.privdrop.get("group")
    if group:
        os.setgid(grp.getgrnam(group).gr_gid)
    if user:
        os.setuid(pwd.getpwnam(user).pw_uid)


def read_script(path):
    if path == "-":
        return sys.stdin.buffer.read(), "<stdin>"
    with open(path, "rb") as f:
        return f.read(), path


def report(error):
    sys.stdout.flush()
    sys.stderr.write("%s\n" % (error,))
    sys.stderr.flush()


def run_file(host, source, filename):
    """Run one script; the exit status."""
    from halon.hsl import compile_program

    try:
        compile_program(source, filename, host=host).run(host)
    except HSLError as e:
        report(e)
        return 1
    finally:
        sys.stdout.flush()
    return 0


def repl(host, interactive):
    """Read pieces of script until end of input, running each in one kept scope."""
    from halon.hsl import Session

    session = Session(host)
    history = None
    if interactive:
        history = _start_history()
    buffer = []
    while True:
        try:
            line = input((CONTINUE if buffer else PROMPT) if interactive else "")
        except EOFError:
            if interactive:
                sys.stdout.write("\n")
            break
        buffer.append(line)
        source = "\n".join(buffer)
        if not source.strip():
            buffer = []
            continue
        if not session.is_complete(source):
            continue
        buffer = []
        try:
            session.execute(source)
        except HSLError as e:
            report(e)
        sys.stdout.flush()
    if history is not None:
        history.save()
    return 0


class _History:
    """Line editing and a history kept in ~/.hsh_history (readline, when Python has it)."""

    def __init__(self, readline, path):
        self.readline = readline
        self.path = path

    def save(self):
        try:
            self.readline.set_history_length(1000)
            self.readline.write_history_file(self.path)
        except OSError:
            pass


def _start_history():
    try:
        import readline
    except ImportError:
        return None
    path = os.path.join(os.path.expanduser("~"), ".hsh_history")
    try:
        readline.read_history_file(path)
    except OSError:
        pass
    return _History(readline, path)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.version:
        print("hsh (Halon on Twisted) %s, HSL of Halon %s" % (halon.__version__, halon.HALON_COMPAT_VERSION))
        return 0
    if args.syntax:
        from halon.hsl import check_syntax

        if not args.script:
            sys.stderr.write("hsh: -s needs a script\n")
            return 2
        source, filename = read_script(args.script)
        try:
            check_syntax(source, filename)
        except HSLError as e:
            report(e)
            return 1
        return 0
    from halon.config.errors import ConfigError

    try:
        env = load_environment(args)
    except ConfigError as e:
        sys.stderr.write("hsh: %s\n" % (e,))
        return 2
    if args.privdrop:
        _privdrop(env)
    if args.script:
        try:
            source, filename = read_script(args.script)
        except OSError as e:
            sys.stderr.write("hsh: %s: %s\n" % (args.script, e.strerror))
            return 2
        return _with_reactor(env, lambda host: run_file(host, source, filename))
    return _with_reactor(env, lambda host: repl(host, sys.stdin.isatty()))


def _with_reactor(env, work):
    """Run C{work(host)} on a thread while the reactor serves its I/O; its result is the exit status."""
    from twisted.internet import reactor, threads

    host = make_host(env, reactor, sys.stdout.buffer)
    status = []

    def finished(result):
        status.append(result)
        reactor.stop()

    def failed(failure):
        report("hsh: internal error: %s" % (failure.getErrorMessage(),))
        status.append(70)
        reactor.stop()

    def start():
        threads.deferToThread(work, host).addCallbacks(finished, failed)

    reactor.callWhenRunning(start)
    reactor.run(installSignalHandlers=False)
    return status[0] if status else 1


if __name__ == "__main__":
    sys.exit(main())
