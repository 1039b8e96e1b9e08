r"""Export AnimeGANv2 generator weights to TFLite (see anime_tf/export/main.py for the flags).

    python export_tflite.py --weights hayao.weights.h5 --quantize int8 --size 256 \
        --calibration_dir photos/ --output hayao_int8.tflite
"""
from anime_tf.export import main as export_main

if __name__ == "__main__":
    export_main.run()
