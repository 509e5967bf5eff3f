// The Jupyter widgets typeset their labels with MathJax 2's `MathJax.Hub.Queue`; the book
// uses MathJax 3, which has no `Hub`. Give every MathJax object (the configuration first,
// then the one MathJax 3 installs when it starts) a small `Hub` that forwards to MathJax 3.
(function () {
  function typeset(cmd) {
    var el = cmd && cmd[2];
    var mj = window.MathJax;
    var run = function () {
      if (el && window.MathJax.typesetPromise) {
        window.MathJax.typesetPromise([el]).catch(function () {});
      }
    };
    if (mj && mj.startup && mj.startup.promise) { mj.startup.promise.then(run); }
    else { window.addEventListener("load", run); }
  }
  var hub = { Queue: typeset };
  var current = window.MathJax;
  function withHub(value) {
    if (value && typeof value === "object" && !("Hub" in value)) {
      try { value.Hub = hub; } catch (e) { /* frozen object: leave it */ }
    }
    return value;
  }
  Object.defineProperty(window, "MathJax", {
    configurable: true,
    get: function () { return current; },
    set: function (value) { current = withHub(value); }
  });
  withHub(current);
})();
