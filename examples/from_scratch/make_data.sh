#!/usr/bin/env bash
# The experiment's data, made from ../shared (nothing here is committed): the teacher (the official
# Hayao weights, imported from the shared INT8 model) renders half of bsds500/train as the "anime
# frames"; the other half are the training photos, so no photo's own rendering is ever a target.
#   bash examples/from_scratch/make_data.sh [WORK]      (default WORK: data/from_scratch)
set -euo pipefail
shared="$(cd "$(dirname "$0")/../../.." && pwd)/shared"
work="${1:-data/from_scratch}"
mkdir -p "$work/frame_photos" "$work/photos"
[ -f "$work/hayao.weights.h5" ] ||
    anime-tf import-weights "$shared/models/animeganv2_hayao_256x256_integer_quant.tflite" -o "$work/hayao.weights.h5"
# Sorted by name: the first 100 photos become frames, the other 100 are the training photos (links, not copies).
i=0
for photo in $(ls "$shared/images/bsds500/train/"*.jpg | sort); do
    if [ $i -lt 100 ]; then dest="$work/frame_photos"; else dest="$work/photos"; fi
    ln -sf "$photo" "$dest/"
    i=$((i + 1))
done
anime-tf stylize "$work/frame_photos" --weights "$work/hayao.weights.h5" -o "$work/frames" --no-keep-brightness
anime-tf prepare-style "$work/frames" --out "$work/HayaoTeacher" --size 256
echo "photos: $work/photos; style: $work/HayaoTeacher; teacher: $work/hayao.weights.h5"
