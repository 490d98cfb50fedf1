"""
smtpd's control socket (C{environment.controlsocket}): process-stats and
config reload, answered from the running service.  Other parts of the
process (the queue) add their calls with C{smtpd.control.register(name,
handler)}.
"""

from halon.config import ConfigError

__all__ = ["control_service"]


def control_service(reactor, startup, smtpd, stats):
    """
    The L{halon.control.service.ControlService} for C{smtpd} on the
    configured Unix socket (None when the control socket is a TCP port,
    which this build does not serve).  It is also kept as C{smtpd.control}.
    """
    from halon.control import handlers
    from halon.control.service import ControlService

    conf = startup.get("environment", {}).get("controlsocket", {})
    if "port" in conf:
        return None

    def reload():
        problems = smtpd.reload()
        if problems:
            raise ConfigError(problems)

    mode = conf.get("chmod", "0660")
    control = ControlService(
        reactor,
        conf.get("path", "/var/run/halon/smtpd.ctl"),
        {
            "ProcessStats": handlers.process_stats(stats),
            "ConfigReload": handlers.reload("ConfigReload", reload),
        },
        program="smtpd",
        mode=mode if isinstance(mode, int) else int(str(mode), 8),
        group=conf.get("group"),
    )
    smtpd.control = control
    return control
