"""
Runs the trial suite and ends the output with the line CI reads:
``N passed, N failed`` (``, N skipped`` when some were skipped).

Trial's own summary ("PASSED (successes=...)") stays above it; failures and
errors both count as failed, as do unexpected successes.
"""

import sys

from twisted.scripts import trial
from twisted.trial.reporter import TreeReporter


class SummaryReporter(TreeReporter):
    """TreeReporter plus one machine-readable count line after the summary."""

    def _printSummary(self):
        super()._printSummary()
        failed = len(self.failures) + len(self.errors) + len(self.unexpectedSuccesses)
        line = "%d passed, %d failed" % (self.successes, failed)
        skipped = len(self.skips) + len(self.expectedFailures)
        if skipped:
            line += ", %d skipped" % (skipped,)
        self._write("%s\n", line)


def main(argv=None):
    config = trial.Options()
    try:
        config.parseOptions(sys.argv[1:] if argv is None else argv)
    except Exception as e:
        sys.stderr.write("%s\n" % (e,))
        return 2
    config["reporter"] = SummaryReporter
    trial._initialDebugSetup(config)
    trialRunner = trial._makeRunner(config)
    suite = trial._getSuite(config)
    test_result = trialRunner.run(suite)
    return 0 if test_result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
