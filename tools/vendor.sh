#!/usr/bin/env bash
# Refresh the JavaScript the built book serves from its own _static (read offline).
# Run by hand when a version changes; the result is committed, so a build needs no npm.
set -euo pipefail
HTML_MANAGER=1.0.15   # @jupyter-widgets/html-manager, the ipywidgets 8.1 line
MATHJAX=3.2.2
cd "$(dirname "$0")/.."
dest=static/vendor
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "@jupyter-widgets/html-manager@$HTML_MANAGER" "mathjax@$MATHJAX" >/dev/null)
mkdir -p "$tmp/hm" "$tmp/mj"
tar xzf "$tmp"/jupyter-widgets-html-manager-$HTML_MANAGER.tgz -C "$tmp/hm"
tar xzf "$tmp"/mathjax-$MATHJAX.tgz -C "$tmp/mj"
rm -rf "$dest/html-manager" "$dest/mathjax"
mkdir -p "$dest/html-manager" "$dest/mathjax/output/chtml/fonts" "$dest/mathjax/input/tex"
# the standalone bundle (no RequireJS) and the Font Awesome faces it links relative to itself
cp "$tmp"/hm/package/dist/embed.js "$tmp"/hm/package/dist/embed.js.LICENSE.txt "$dest/html-manager/"
cp "$tmp"/hm/package/dist/*.woff "$tmp"/hm/package/dist/*.woff2 "$dest/html-manager/"
# MathJax: the TeX -> CommonHTML component, its fonts, and the TeX extensions it autoloads
cp "$tmp"/mj/package/es5/tex-chtml.js "$tmp"/mj/package/LICENSE "$dest/mathjax/"
cp -r "$tmp"/mj/package/es5/output/chtml/fonts/woff-v2 "$dest/mathjax/output/chtml/fonts/"
cp -r "$tmp"/mj/package/es5/input/tex/extensions "$dest/mathjax/input/tex/"
echo "html-manager $HTML_MANAGER, mathjax $MATHJAX -> $dest"
