"""
The configuration `twistd halon` (and `make run`) starts with when there
is none: every program's files under C{./etc/halon/}, every state path
under C{./var/}, one SMTP server on 127.0.0.1:2525 that is not an open
relay, and delivery by MX.

Only missing files are written, so an edited configuration is never
overwritten; delete a file to get its default back.
"""

import os
import pwd

from halon.config.loader import RUNNING, STARTUP

VERSION = "6.0"

RCPTTO_HOOK = """\
// Who may send to whom.  Clients on this machine may send to anyone;
// other clients only to the domains this server receives mail for.
$localdomains = ["localhost"];

$remoteip = $connection["remoteip"];
if (inet_includes($remoteip, "127.0.0.0/8") or $remoteip == "::1")
    Accept();

$domain = str_lower($arguments["address"]["domain"] ?? "");
if (array_includes($domain, $localdomains))
    Accept();

Reject("Relaying denied");
"""

EOD_HOOK = """\
// Queue the message once for each accepted recipient, on the transport
// the RCPT TO phase chose for it, then confirm.
foreach ($transaction["recipients"] as $recipient)
    $arguments["mail"]->queue($transaction["senderaddress"], $recipient["address"], $recipient["transportid"]);
Accept();
"""

_SMTPD = """\
# smtpd startup configuration (not reloadable).  See docs/config.md.
version: "{version}"
servers:
  - id: default
    listeners:
      - port: 2525
        address: 127.0.0.1
environment:
  appconf: {etc}/smtpd-app.yaml
  policyconf: {etc}/smtpd-policy.yaml
  suspendconf: {etc}/smtpd-suspend.yaml
  deliveryconf: {etc}/smtpd-delivery.yaml
  spool:
    path: {var}/spool/halon/queue
  tmpdir: {var}/spool/halon/tmp
  controlsocket:
    path: {var}/run/halon/smtpd.ctl
    chmod: "0660"
  sockets:
    rated:
      path: {var}/run/halon/rated.sock
    httprd:
      path: {var}/run/halon/httprd.sock
    dlpd:
      path: {var}/run/halon/dlpd.sock
  umask: "0027"
{privdrop}"""

_SMTPD_APP = """\
# smtpd running configuration; reload with `halonctl config reload`.
version: "{version}"
servers:
  - id: default
    transport: mx
    phases:
      rcptto:
        hook: default
      eod:
        hook: default
transportgroups:
  - id: default
    dsn:
      transport: mx
    transports:
      - id: mx
        session:
          tls:
            mode: optional
resolver:
  cache:
    size: 10000
scripting:
  hooks:
    rcptto:
      - id: default
        data: |
{rcptto}
    eod:
      - id: default
        data: |
{eod}
"""

_POLICY = """\
# Active queue policies; reload with `halonctl queue policy reload`.
version: "{version}"
policies:
  - fields: [remotemx]
    default:
      concurrency: 20
"""

_SUSPEND = """\
# Active queue suspends; reload with `halonctl queue suspend reload`.
version: "{version}"
suspends: []
"""

_DELIVERY = """\
# Active queue delivery settings; reload with `halonctl queue delivery reload`.
version: "{version}"
delivery:
  conditions: []
"""

_RATED = """\
# rated startup configuration.  Add `key` and peers in rated-app.yaml to
# share counters with other nodes.
version: "{version}"
environment:
  appconf: {etc}/rated-app.yaml
  socket:
    path: {var}/run/halon/rated.sock
    chmod: "0660"
  controlsocket:
    path: {var}/run/halon/queued.ctl
    chmod: "0660"
{privdrop}"""

_RATED_APP = """\
# rated running configuration; reload with `halonctl config reload --program rated`.
version: "{version}"
peers: []
"""

_HTTPRD = """\
# httprd startup configuration.
version: "{version}"
environment:
  socket:
    path: {var}/run/halon/httprd.sock
    chmod: "0660"
{privdrop}"""

_DLPD = """\
# dlpd startup configuration.
version: "{version}"
environment:
  appconf: {etc}/dlpd-app.yaml
  tmpdir: {var}/spool/halon/tmp
  socket:
    path: {var}/run/halon/dlpd.sock
    chmod: "0600"
  controlsocket:
    path: {var}/run/halon/dlpd.ctl
    chmod: "0660"
{privdrop}"""

_DLPD_APP = """\
# dlpd running configuration (the rules dlp() scans for); reload with
# `halonctl config reload --program dlpd`.
version: "{version}"
rules: []
"""

TEMPLATES = {
    "smtpd": _SMTPD,
    "smtpd-app": _SMTPD_APP,
    "smtpd-policy": _POLICY,
    "smtpd-suspend": _SUSPEND,
    "smtpd-delivery": _DELIVERY,
    "rated": _RATED,
    "rated-app": _RATED_APP,
    "httprd": _HTTPRD,
    "dlpd": _DLPD,
    "dlpd-app": _DLPD_APP,
}

STATE_DIRS = ("var/spool/halon/queue", "var/spool/halon/tmp", "var/run/halon")


def write_default(workdir):
    """
    Write the default configuration under C{workdir}/etc/halon (files that
    exist are left alone) and create the state folders under
    C{workdir}/var.  Returns the path of smtpd.yaml.

    Privileges are dropped only when running as root and a user "halon"
    exists; the state folders are then given to that user.
    """
    workdir = os.path.abspath(workdir)
    etc = os.path.join(workdir, "etc", "halon")
    var = os.path.join(workdir, "var")
    os.makedirs(etc, exist_ok=True)
    owner = _halon_user() if os.geteuid() == 0 else None
    for folder in STATE_DIRS:
        path = os.path.join(workdir, folder)
        os.makedirs(path, mode=0o750, exist_ok=True)
        if owner is not None:
            os.chown(path, owner.pw_uid, owner.pw_gid)
    privdrop = "  privdrop:\n    user: halon\n    group: halon\n" if owner is not None else ""
    values = {
        "version": VERSION,
        "etc": _yaml_path(etc),
        "var": _yaml_path(var),
        "privdrop": privdrop,
        "rcptto": _indent(RCPTTO_HOOK, 10),
        "eod": _indent(EOD_HOOK, 10),
    }
    for kind, template in TEMPLATES.items():
        path = os.path.join(etc, kind + ".yaml")
        if os.path.exists(path):
            continue
        text = template.format(**values)
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    return os.path.join(etc, "smtpd.yaml")


def default_paths(workdir):
    """Where L{write_default} puts each file: kind -> path."""
    etc = os.path.join(os.path.abspath(workdir), "etc", "halon")
    return {kind: os.path.join(etc, kind + ".yaml") for kind in tuple(STARTUP) + tuple(RUNNING)}


def _halon_user():
    try:
        return pwd.getpwnam("halon")
    except KeyError:
        return None


def _indent(text, spaces):
    pad = " " * spaces
    return "\n".join(pad + line if line else "" for line in text.rstrip("\n").split("\n"))


def _yaml_path(path):
    """A path as a YAML plain scalar when it can be one, else quoted."""
    if all(c.isalnum() or c in "/._-+" for c in path):
        return path
    return '"%s"' % (path.replace("\\", "\\\\").replace('"', '\\"'),)
