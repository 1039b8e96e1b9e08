r"""Export AnimeGANv2 generator weights to TFLite or ONNX (`anime-tf export` is the same command).

    python export_tflite.py --weights hayao.weights.h5 --quantize int8 --size 256 \
        --calibration_dir photos/ --output hayao_int8.tflite

`python export_tflite.py --help` lists the flags (anime_tf/export/main.py).
"""
import sys

from anime_tf.export.main import main

if __name__ == "__main__":
    sys.exit(main())
