"""Export a generator to TFLite (not implemented yet: see the export issue).

Kept as an absl entry point so the command exists and says so honestly.
"""
import sys

from absl import app


def main(argv):
    del argv
    print("export_tflite.py: TFLite export is not implemented yet in this version of anime-tf.",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    app.run(main)
