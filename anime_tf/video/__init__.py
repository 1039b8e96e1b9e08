"""Video: `anime-tf video IN -o OUT`.

`pipeline.stylize_video` runs decode, model and encode in three threads;
`io` reads and writes through PyAV, `smooth` removes flicker after the model
and `frames` runs batches of frames through the Keras generator. Only
`frames` imports TensorFlow.
"""
