"""The package imports and the twistd plugins are found."""

from twisted.trial import unittest


class PackageTests(unittest.TestCase):
    def test_plugins(self):
        """Every daemon has a twistd plugin."""
        from twisted.plugin import getPlugins
        from twisted.application.service import IServiceMaker

        names = {p.tapname for p in getPlugins(IServiceMaker)}
        for name in ("halon", "halon-smtpd", "halon-rated", "halon-httprd", "halon-dlpd"):
            self.assertIn(name, names)
