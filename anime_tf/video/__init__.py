"""Video: `anime-tf video IN -o OUT` and `anime-tf-edge --video`.

`pipeline.stylize_video` runs decode, model and encode in three threads and
keeps finished segments in `parts` so a killed run resumes; `io` reads and
writes through PyAV, `smooth` removes flicker after the model, `faces`
repaints faces with landmarks smoothed over time, `frames` runs batches of
frames through the Keras generator and `exported` through an exported
model. Only `frames` imports TensorFlow.
"""
