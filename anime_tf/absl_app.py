"""absl's `app.run` with a `--help` that scripts can rely on.

absl prints only the flags of `__main__` (a wrapper, for console scripts) and
exits with 1 on --help; here --help prints the given module's doc and flags
and exits with 0.
"""
import os
import sys

from absl import app, flags, logging

HELP = ("-h", "--help", "-?", "--helpshort")


def run(main, module, argv=None):
    argv = list(sys.argv if argv is None else argv)
    if any(arg in HELP for arg in argv[1:]):
        print(module.__doc__)
        print(flags.FLAGS.module_help(module))
        sys.exit(0)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out
    app.run(lambda args: _quiet(main, args), argv=argv)


def _quiet(main, argv):
    """TensorFlow logs converter INFO lines through absl; warnings (bad files) still show."""
    logging.set_verbosity(logging.WARNING)
    return main(argv)
