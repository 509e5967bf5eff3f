#!/usr/bin/env bash
# Refresh the JavaScript the built book serves from its own _static (read offline).
# Run by hand when a version changes; the result is committed, so a build needs no npm.
set -euo pipefail
HTML_MANAGER=1.0.15   # @jupyter-widgets/html-manager, the ipywidgets 8.1 line
MATHJAX=3.2.2
# "Live Code": sphinx-thebe 0.3.1 names thebe 0.8.2, which the npm registry reachable here
# does not offer (it has 0.9.2 and 0.9.3); static/live-code.js starts the 0.9 line.
THEBE=0.9.3
THEBE_CORE=0.5.0      # only for the licence: thebe's package ships none (same project, BSD-3)
REQUIREJS=2.3.6       # the require.js thebe-core fetches as text to load widget classes
cd "$(dirname "$0")/.."
dest=static/vendor
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "@jupyter-widgets/html-manager@$HTML_MANAGER" "mathjax@$MATHJAX" \
   "thebe@$THEBE" "thebe-core@$THEBE_CORE" "requirejs@$REQUIREJS" >/dev/null)
mkdir -p "$tmp/hm" "$tmp/mj" "$tmp/th" "$tmp/tc" "$tmp/rq"
tar xzf "$tmp"/jupyter-widgets-html-manager-$HTML_MANAGER.tgz -C "$tmp/hm"
tar xzf "$tmp"/mathjax-$MATHJAX.tgz -C "$tmp/mj"
tar xzf "$tmp"/thebe-$THEBE.tgz -C "$tmp/th"
tar xzf "$tmp"/thebe-core-$THEBE_CORE.tgz -C "$tmp/tc"
tar xzf "$tmp"/requirejs-$REQUIREJS.tgz -C "$tmp/rq"
# html-manager/LICENSE (ipywidgets' BSD-3-Clause text; the package ships none) is kept
find "$dest/html-manager" -mindepth 1 ! -name LICENSE -delete 2>/dev/null || true
rm -rf "$dest/mathjax" "$dest/thebe"
mkdir -p "$dest/html-manager" "$dest/mathjax/output/chtml/fonts" "$dest/mathjax/input/tex"
# the standalone bundle (no RequireJS) and the Font Awesome faces it links relative to itself
cp "$tmp"/hm/package/dist/embed.js "$tmp"/hm/package/dist/embed.js.LICENSE.txt "$dest/html-manager/"
cp "$tmp"/hm/package/dist/*.woff "$tmp"/hm/package/dist/*.woff2 "$dest/html-manager/"
# MathJax: the TeX -> CommonHTML component, its fonts, and the TeX extensions it autoloads
cp "$tmp"/mj/package/es5/tex-chtml.js "$tmp"/mj/package/LICENSE "$dest/mathjax/"
cp -r "$tmp"/mj/package/es5/output/chtml/fonts/woff-v2 "$dest/mathjax/output/chtml/fonts/"
cp -r "$tmp"/mj/package/es5/input/tex/extensions "$dest/mathjax/input/tex/"
# Thebe: the bundle and every chunk it loads on demand (no source maps), their licences
mkdir -p "$dest/thebe"
cp "$tmp"/th/package/lib/*.js "$tmp"/th/package/lib/*.LICENSE.txt "$dest/thebe/"
cp "$tmp"/tc/package/LICENSE "$dest/thebe/LICENSE"
# require.js as a string (MIT, its licence in its header): a page opened from disk cannot
# fetch it, so static/live-code.js hands thebe-core this text
node -e 'const fs = require("fs"); process.stdout.write(
  "// RequireJS " + process.argv[2] + " as text, for thebe-core (see static/live-code.js).\n" +
  "window.bookRequireJsText = " + JSON.stringify(fs.readFileSync(process.argv[1], "utf8")) + ";\n")' \
  "$tmp"/rq/package/require.js "$REQUIREJS" > "$dest/thebe/require-text.js"
echo "html-manager $HTML_MANAGER, mathjax $MATHJAX, thebe $THEBE, requirejs $REQUIREJS -> $dest"
