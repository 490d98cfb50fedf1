"""
smtpd's control socket (C{environment.controlsocket}): process-stats,
config reload and live stage, answered from the running service.  Other
parts of the process (the queue) add their calls with
C{smtpd.control.register(name, handler)}.
"""

from halon.config import ConfigError

__all__ = ["control_service", "livestage_handlers"]


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
        dict(
            {
                "ProcessStats": handlers.process_stats(stats),
                "ConfigReload": handlers.reload("ConfigReload", reload),
            },
            **livestage_handlers(smtpd.livestage),
        ),
        program="smtpd",
        mode=mode if isinstance(mode, int) else int(str(mode), 8),
        group=conf.get("group"),
    )
    smtpd.control = control
    return control


def livestage_handlers(livestage):
    """
    halonctl config livestage start, status and cancel on a
    L{halon.smtpd.livestage.LiveStages}.  A configuration with problems is
    refused with every problem (file, path, reason), as a reload is.
    """
    from halon.control import api
    from halon.control.commands import ControlError
    from halon.smtpd.livestage import LiveStageError

    deploy_response, status_response, cancel_response = (
        api.CALLS[name].response_class() for name in ("ConfigGreenDeploy", "ConfigGreenStatus", "ConfigGreenCancel")
    )

    def deploy(request):
        given = request.conditions
        try:
            livestage.start(
                request.id,
                request.config,
                remoteips=list(given.remoteips),
                serverids=list(given.serverids),
                probability=given.probability if given.HasField("probability") else None,
                time=given.time if given.HasField("time") else None,
                count=given.count if given.HasField("count") else None,
            )
        except (ConfigError, LiveStageError) as e:
            raise ControlError(str(e))
        return deploy_response()

    def status(request):
        stage = livestage.current
        if stage is None:
            return status_response()
        response = status_response(id=stage.id, connections=stage.connections, runtime=livestage.runtime(stage))
        conditions = response.conditions
        conditions.remoteips.extend(stage.remoteip_list)
        conditions.serverids.extend(sorted(stage.serverids))
        if stage.probability is not None:
            conditions.probability = stage.probability
        if stage.time is not None:
            conditions.time = stage.time
        if stage.count is not None:
            conditions.count = stage.count
        return response

    def cancel(request):
        if not livestage.cancel():
            raise ControlError("no live stage is running")
        return cancel_response()

    return {"ConfigGreenDeploy": deploy, "ConfigGreenStatus": status, "ConfigGreenCancel": cancel}
