from twisted.application.service import ServiceMaker

halon_dlpd = ServiceMaker("halon-dlpd", "halon.dlpd.tap", "Halon dlpd: content scanning of spooled messages", "halon-dlpd")
