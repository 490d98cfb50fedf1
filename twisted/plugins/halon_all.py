from twisted.application.service import ServiceMaker

halon = ServiceMaker(
    "halon", "halon.tap", "Halon: every daemon in one process on the embedded default", "halon"
)
