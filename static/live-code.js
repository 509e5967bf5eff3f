// "Live Code" (the rocket button of a chapter page): run the page's cells in a Jupyter
// kernel, on Binder (or, in the tests, on a local server: tools/sphinx_fixes.py), with the
// book's own copy of Thebe (static/vendor/thebe), loaded when the button is pressed.
//
// This takes the place of sphinx-thebe's loader, which fetches Thebe 0.8 from a CDN. The
// vendored Thebe is the 0.9 line (tools/vendor.sh says why), which differs in three ways:
//  * bootstrap() must be asked for a kernel, its name (kernelOptions.kernelName) and
//    whether to go through Binder; the page's x-thebe-config blocks give the rest;
//  * cells and outputs are paired in order, so every cell gets an output placeholder;
//  * its widget manager fetches require.js from a CDN first: it gets the vendored text.
(function () {
  "use strict";
  var here = document.currentScript.src.replace(/[^/]*$/, "");  // .../_static/
  var REQUIREJS_CDN = "https://cdnjs.cloudflare.com/ajax/libs/require.js/2.3.6/require.min.js";
  var started = false;

  function load(src) {
    return new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = src;
      script.onload = resolve;
      script.onerror = function () { reject(new Error("could not load " + src)); };
      document.head.appendChild(script);
    });
  }

  function say(text) {
    document.querySelectorAll(".thebe-launch-button").forEach(function (button) {
      button.textContent = text;
    });
  }

  // sphinx-thebe's selectors: a cell's source is its <pre>, its output .cell_output
  function markCells() {
    document.querySelectorAll(".thebe, .cell").forEach(function (cell) {
      var source = cell.querySelector("pre");
      if (!source) return;
      source.setAttribute("data-executable", "true");
      source.setAttribute("data-language", "python");
      var output = cell.querySelector(".output, .cell_output");
      if (!output) {
        output = document.createElement("div");
        output.className = "cell_output";
        cell.appendChild(output);
      }
      output.setAttribute("data-output", "");
      cell.querySelectorAll("button.copybtn").forEach(function (b) { b.remove(); });
    });
  }

  function answerRequireJs() {
    var fetchFromNetwork = window.fetch.bind(window);
    window.fetch = function (input, init) {
      if (input === REQUIREJS_CDN) {
        return Promise.resolve(new Response(window.bookRequireJsText,
          { status: 200, headers: { "Content-Type": "text/javascript" } }));
      }
      return fetchFromNetwork(input, init);
    };
  }

  window.initThebe = function () {
    if (started) return;
    started = true;
    say("Loading Thebe ...");
    Promise.all([load(here + "vendor/thebe/index.js"), load(here + "vendor/thebe/require-text.js")])
      .then(function () {
        answerRequireJs();
        markCells();
        var page = window.thebe.getPageConfig();
        var where = page.useBinder === false ? "Jupyter server" : "Binder";
        window.thebe.on("status", function (event, data) {
          say(where + ": " + data.status);
        });
        window.thebe.on("error", function (event, data) {
          say(where + ": " + data.status + " (" + data.message + ")");
        });
        return window.thebe.bootstrap({
          requestKernel: true,
          useBinder: page.useBinder !== false,
          kernelOptions: { kernelName: window.kernelName || "python3" },
          // no MathJax 2 from a CDN: LaTeX outputs show as text, widget labels use the page's
          mathjaxUrl: "",
        });
      })
      .catch(function (err) {
        say("Live Code failed: " + err);
        console.error(err);
      });
  };
})();
