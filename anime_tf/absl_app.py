"""Parsing for the two absl scripts (train.py and export_tflite.py), which `anime-tf train` and
`anime-tf export` run as well.

Each script defines its flags on a `FlagValues` of its own when it runs (none
are registered at import, none are global), and `parse` gives what scripts can
rely on: --help prints the script's doc and flags and exits 0, a bad or
missing flag prints why and exits 2, as the argparse commands do.
"""
from __future__ import annotations

import os
import sys

from absl import flags, logging

HELP = ("-h", "--help", "-?", "--helpshort", "--helpfull")
EXIT_USAGE = 2


def parse(define_flags, argv, prog, doc, module):
    """(parsed FlagValues, None), or (None, the exit code to return) after --help (0) or a usage error (2).

    `define_flags(flag_values)` defines the script's flags; `argv` holds its
    arguments without the program's name (None: sys.argv's); `module` is the
    name of the module that defines the flags, whose flags --help lists after `doc`.
    """
    flag_values = flags.FlagValues()
    define_flags(flag_values)
    argv = [prog, *(sys.argv[1:] if argv is None else argv)]
    if any(arg in HELP for arg in argv[1:]):
        print(doc)
        print(flag_values.module_help(module))
        return None, 0
    try:
        rest = flag_values(argv)
    except flags.Error as err:
        print(f"{prog}: error: {err}\nTry '{prog} --help'.", file=sys.stderr)
        return None, EXIT_USAGE
    if len(rest) > 1:
        print(f"{prog}: error: unexpected arguments: {' '.join(rest[1:])}", file=sys.stderr)
        return None, EXIT_USAGE
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out
    logging.set_verbosity(logging.WARNING)  # TensorFlow logs converter INFO lines through absl
    return flag_values, None
