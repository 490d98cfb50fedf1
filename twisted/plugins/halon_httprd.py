from twisted.application.service import ServiceMaker

halon_httprd = ServiceMaker("halon-httprd", "halon.httprd.tap", "Halon httprd: background http() requests", "halon-httprd")
