#!/bin/sh
# Refresh the vendored onnxruntime-web (WASM build only) from npm:
#   sh anime_tf/web/vendor.sh 1.31.1
# Copies the three files the page loads and writes the licence; run the web tests after.
set -eu
version=${1:?usage: vendor.sh VERSION}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "onnxruntime-web@$version" >/dev/null && tar xzf onnxruntime-web-*.tgz)
rm -rf "$here/ort" && mkdir "$here/ort"
for file in ort.wasm.min.mjs ort-wasm-simd-threaded.mjs ort-wasm-simd-threaded.wasm; do
  cp "$work/package/dist/$file" "$here/ort/"
done
cp "$work/package/package.json" "$here/ort/package.json"
cat > "$here/ort/LICENSE" <<'LICENSE'
onnxruntime-web (https://github.com/microsoft/onnxruntime), vendored from npm unchanged.

MIT License

Copyright (c) Microsoft Corporation

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
LICENSE
echo "onnxruntime-web $version vendored into $here/ort ($(du -sh "$here/ort" | cut -f1))"
