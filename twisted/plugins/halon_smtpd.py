from twisted.application.service import ServiceMaker

halon_smtpd = ServiceMaker("halon-smtpd", "halon.smtpd.tap", "Halon smtpd: the Halon SMTP server (hooks, queue and delivery)", "halon-smtpd")
