"""anime-tf: AnimeGANv2 in TensorFlow 2 / Keras 3, from training to the edge.

The base install is the edge runner (LiteRT, NumPy, Pillow): it runs exported
.tflite models on a Raspberry Pi without TensorFlow; the `onnx` extra adds ONNX
Runtime for .onnx exports. The `tf` extra adds TensorFlow (CPU build) for
stylizing with Keras, importing weights, training and exporting (TFLite and
ONNX); `gpu` is the same with the CUDA build of TensorFlow. Both include
MediaPipe for faces and the web app; `faces` adds MediaPipe to the edge runner
alone, `serve` the web app's libraries alone.
"""
from setuptools import setup

TENSORFLOW = "2.21.*"
# absl for the train/export entry points, OpenCV (the build MediaPipe also uses) for edge
# smoothing, TensorBoard for tf.summary and for looking at runs.
TRAINING = ["absl-py>=2.0", "opencv-contrib-python>=4.8", "tensorboard>=2.16"]
# ONNX Runtime runs .onnx exports (the edge runner's `onnx` extra); tf2onnx and onnx convert
# them, at export time only.
ONNX_RUNTIME = ["onnxruntime>=1.20"]
ONNX_EXPORT = ["tf2onnx>=1.16", "onnx>=1.16", *ONNX_RUNTIME]
# Video (`anime-tf video`): PyAV, whose wheels carry FFmpeg with libx264 and AAC; OpenCV for optical flow.
VIDEO = ["av>=14", "opencv-contrib-python>=4.8"]
# MediaPipe's Face Landmarker (Tasks API) for the face pass and the face loss; no TensorFlow needed.
FACES = ["mediapipe>=1.2"]
# The web app (`anime-tf serve`): FastAPI on uvicorn, uploads parsed by python-multipart; Redis and
# RQ carry jobs to `anime-tf worker` processes on other machines (only with --broker).
SERVE = ["fastapi>=0.165", "uvicorn[standard]>=0.30", "python-multipart>=0.0.20", "redis>=5", "rq>=2"]

# Name, version and entry points: pyproject.toml.
setup(
    install_requires=[
        "numpy>=1.26",
        "pillow>=10.0",
        "ai-edge-litert>=2.0",
        "tqdm>=4.60",
    ],
    extras_require={
        "tf": [f"tensorflow-cpu=={TENSORFLOW}", *TRAINING, *FACES, *SERVE, *ONNX_EXPORT, *VIDEO],
        "gpu": [f"tensorflow[and-cuda]=={TENSORFLOW}", *TRAINING, *FACES, *SERVE, *ONNX_EXPORT, *VIDEO],
        "faces": FACES,
        "onnx": ONNX_RUNTIME,
        "video": VIDEO,  # for the edge runner's --video; the tf and gpu extras have it
        "serve": SERVE,
        # httpx for the API tests; Playwright drives the system's Chromium (no browser download).
        "test": ["pytest>=8", "pytest-xdist>=3.6", "httpx>=0.27", "playwright>=1.45"],
    },
)
