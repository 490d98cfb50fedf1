from twisted.application.service import ServiceMaker

halon_rated = ServiceMaker("halon-rated", "halon.rated.tap", "Halon rated: rate() counters, synchronised across a cluster", "halon-rated")
