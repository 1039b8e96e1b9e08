"""What an Android or iOS app needs inside a .tflite: one named signature and TFLite metadata.

The signature `stylize` takes `image` and gives `stylized`, so an app binds
tensors by name (LiteRT `runSignature`, TensorFlowLiteSwift `SignatureRunner`)
instead of by index. Both are 1xHxWx3 RGB, float32 in [-1, 1] (int8 with the
file's quantization for `--int8_io`): `value = pixel / 127.5 - 1` in and
`pixel = (value + 1) * 127.5` out, the AnimeGANv2 convention, so the
reference INT8 model and every earlier export keep working unchanged.
The metadata (MediaPipe's maintained writer of the TFLite metadata schema,
which Android Studio's model import reads) says the same in words and as
NormalizationOptions mean = std = 127.5 on both tensors.
"""
from __future__ import annotations


SIGNATURE_KEY = "stylize"
INPUT_NAME = "image"
OUTPUT_NAME = "stylized"
PIXEL_MEAN = PIXEL_STD = 127.5  # value = (pixel - mean) / std; pixel = value * std + mean
AUTHOR = "anime-tf (code); the weights' trainer (official styles: AnimeGANv2 by TachibanaYoshino)"
LICENSE = ("Weights derived from the official AnimeGANv2 weights are for non-commercial use only, "
           "under the terms of https://github.com/TachibanaYoshino/AnimeGANv2; weights you trained "
           "yourself are yours.")
INPUT_ABOUT = ("RGB photo, 1xHxWx3, value = pixel / 127.5 - 1 (so [-1, 1]); fixed-size models take "
               "the photo scaled to fit and reflect-padded on the bottom and right; dynamic ones any "
               "size (multiples of 4 avoid internal padding).")
OUTPUT_ABOUT = "Stylized RGB image of the input's size, pixel = round((value + 1) * 127.5), clipped to 0-255."


METADATA_NAME = "TFLITE_METADATA"  # the model.metadata entry that apps' metadata readers look for
METADATA_IDENTIFIER = b"M001"
MIN_PARSER_VERSION = "1.0.0"  # every field written here is in the schema's first version


def for_apps(model_bytes, *, style, quantization, version):
    """The model with its `stylize` signature and its TFLite metadata, in one rewrite of the file."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(model_bytes))
    add_signature(model)
    description = (f"AnimeGANv2 generator, {style} style, {quantization}: a photo in, an anime-style "
                   "image of the same size out. Made with anime-tf.")
    add_metadata(model, metadata_bytes(model, name=f"anime-tf {style} ({quantization})",
                                       description=description, version=version))
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def add_signature(model):
    """Give a parsed model (`schema_py_generated.ModelT`) the one signature `stylize`."""
    from tensorflow.lite.python import schema_py_generated as schema

    graph = model.subgraphs[0]
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise ValueError(f"expected one input and one output, got {len(graph.inputs)} and {len(graph.outputs)}")
    signature = schema.SignatureDefT()
    signature.signatureKey, signature.subgraphIndex = SIGNATURE_KEY, 0
    signature.inputs = [_tensor_map(schema, INPUT_NAME, graph.inputs[0])]
    signature.outputs = [_tensor_map(schema, OUTPUT_NAME, graph.outputs[0])]
    model.signatureDefs = [signature]


def _tensor_map(schema, name, index):
    entry = schema.TensorMapT()
    entry.name, entry.tensorIndex = name, int(index)
    return entry


def metadata_bytes(model, *, name, description, version):
    """The metadata flatbuffer, built with MediaPipe's writer classes for the TFLite metadata schema."""
    import flatbuffers
    from mediapipe.tasks.metadata import metadata_schema_py_generated as fb
    from mediapipe.tasks.python.metadata.metadata_writers import metadata_info

    graph = model.subgraphs[0]
    model_md = metadata_info.GeneralMd(name=name, version=version, description=description,
                                       author=AUTHOR, licenses=LICENSE).create_metadata()
    model_md.minParserVersion = MIN_PARSER_VERSION
    subgraph = fb.SubGraphMetadataT()
    subgraph.inputTensorMetadata = [_image_md(INPUT_NAME, INPUT_ABOUT, graph.tensors[graph.inputs[0]].type)]
    subgraph.outputTensorMetadata = [_image_md(OUTPUT_NAME, OUTPUT_ABOUT, graph.tensors[graph.outputs[0]].type)]
    model_md.subgraphMetadata = [subgraph]
    builder = flatbuffers.Builder(0)
    builder.Finish(model_md.Pack(builder), METADATA_IDENTIFIER)
    return bytes(builder.Output())


def _image_md(name, about, tensor_type):
    from mediapipe.tasks.metadata import metadata_schema_py_generated as fb
    from mediapipe.tasks.python.metadata.metadata_writers import metadata_info

    return metadata_info.InputImageTensorMd(
        name=name, description=about, norm_mean=[PIXEL_MEAN], norm_std=[PIXEL_STD],
        color_space_type=fb.ColorSpaceType.RGB, tensor_type=tensor_type).create_metadata()


def add_metadata(model, data):
    """Store `data` in a parsed model's buffer named by its METADATA_NAME entry (made if missing).

    This is what MediaPipe's MetadataPopulator does, whose compiled half the
    current wheels lack; the file's tensors and buffers are left as they are.
    """
    from tensorflow.lite.python import schema_py_generated as schema

    entry = next((m for m in (model.metadata or []) if _name(m) == METADATA_NAME), None)
    if entry is None:
        model.buffers.append(schema.BufferT())
        entry = schema.MetadataT()
        entry.name, entry.buffer = METADATA_NAME, len(model.buffers) - 1
        model.metadata = [*(model.metadata or []), entry]
    model.buffers[entry.buffer].data = list(data)


def _name(entry):
    return entry.name.decode() if isinstance(entry.name, bytes) else entry.name


def read_metadata(model_bytes):
    """The file's TFLite metadata as a dict, the fields apps read; None if it has none."""
    from mediapipe.tasks.metadata import metadata_schema_py_generated as fb
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(model_bytes))
    entry = next((m for m in (model.metadata or []) if _name(m) == METADATA_NAME), None)
    if entry is None:
        return None
    data = bytes(bytearray(model.buffers[entry.buffer].data))
    if not fb.ModelMetadata.ModelMetadataBufferHasIdentifier(data, 0):
        raise ValueError("the TFLITE_METADATA buffer is not a TFLite metadata flatbuffer")
    md = fb.ModelMetadataT.InitFromPackedBuf(data, 0)
    graph = md.subgraphMetadata[0]
    return {"name": _text(md.name), "description": _text(md.description), "version": _text(md.version),
            "author": _text(md.author), "license": _text(md.license),
            "min_parser_version": _text(md.minParserVersion),
            "inputs": [_tensor_dict(t) for t in graph.inputTensorMetadata],
            "outputs": [_tensor_dict(t) for t in graph.outputTensorMetadata]}


def _text(value):
    return value.decode() if isinstance(value, bytes) else value


def _tensor_dict(tensor):
    from mediapipe.tasks.metadata import metadata_schema_py_generated as fb

    props = tensor.content.contentProperties
    norm = next(u.options for u in tensor.processUnits or []
                if u.optionsType == fb.ProcessUnitOptions.NormalizationOptions)
    return {"name": _text(tensor.name), "description": _text(tensor.description),
            "image": tensor.content.contentPropertiesType == fb.ContentProperties.ImageProperties,
            "color_space": {fb.ColorSpaceType.RGB: "RGB"}.get(props.colorSpace, "other"),
            "mean": _floats(norm.mean), "std": _floats(norm.std),
            "min": _floats(tensor.stats.min), "max": _floats(tensor.stats.max)}


def _floats(values):
    return [float(v) for v in (values if values is not None else [])]
