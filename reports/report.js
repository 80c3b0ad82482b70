
(function () {
  "use strict";
  // Progressive enhancement only: without JavaScript every check is shown
  // and the filter bar stays hidden.
  var doc = document;
  doc.documentElement.classList.add("js");
  var checks = Array.prototype.slice.call(doc.querySelectorAll("details.check"));
  var groups = Array.prototype.slice.call(doc.querySelectorAll("#checks .group"));
  var buttons = Array.prototype.slice.call(doc.querySelectorAll("#filters button[data-outcome]"));
  var sectionSel = doc.getElementById("section-filter");
  var textIn = doc.getElementById("text-filter");
  var shown = doc.getElementById("shown");
  var none = doc.getElementById("none-shown");
  var state = { outcome: "all", section: "", text: "" };

  function apply() {
    var n = 0;
    var text = state.text.toLowerCase();
    checks.forEach(function (c) {
      var ok = (state.outcome === "all" || c.getAttribute("data-outcome") === state.outcome) &&
        (state.section === "" || sectionMatches(c, state.section)) &&
        (text === "" || c.textContent.toLowerCase().indexOf(text) >= 0);
      c.classList.toggle("hidden-by-filter", !ok);
      if (ok) { n++; }
    });
    groups.forEach(function (g) {
      g.classList.toggle("hidden-by-filter", !g.querySelector("details.check:not(.hidden-by-filter)"));
    });
    buttons.forEach(function (b) {
      b.setAttribute("aria-pressed", String(b.getAttribute("data-outcome") === state.outcome));
    });
    if (sectionSel) { sectionSel.value = state.section; }
    if (shown) { shown.textContent = n + " of " + checks.length + " shown"; }
    if (none) { none.hidden = n !== 0; }
  }

  // A check matches a section when one of its references is that section
  // or a numbered item of it ("FAPI-CIBA-5.2.2-9" is in "FAPI-CIBA-5.2.2").
  function sectionMatches(c, section) {
    return c.getAttribute("data-sections").split(" ").some(function (r) {
      return r === section || (r.indexOf(section + "-") === 0 && /^-\d+$/.test(r.slice(section.length)));
    }) || c.getAttribute("data-section") === section;
  }

  buttons.forEach(function (b) {
    b.addEventListener("click", function () { state.outcome = b.getAttribute("data-outcome"); apply(); });
  });
  if (sectionSel) {
    sectionSel.addEventListener("change", function () { state.section = sectionSel.value; apply(); });
  }
  if (textIn) {
    textIn.addEventListener("input", function () { state.text = textIn.value; apply(); });
  }
  Array.prototype.forEach.call(doc.querySelectorAll("a.seclink"), function (a) {
    a.addEventListener("click", function () { state.section = a.getAttribute("data-section"); state.outcome = "all"; apply(); });
  });
  Array.prototype.forEach.call(doc.querySelectorAll("a[data-filter-link]"), function (a) {
    a.addEventListener("click", function (e) {
      if (!doc.getElementById("filters")) { return; }
      e.preventDefault();
      state.outcome = a.getAttribute("data-filter-link");
      state.section = "";
      apply();
      doc.getElementById("checks").scrollIntoView();
    });
  });
  // Printing shows every check's details.
  window.addEventListener("beforeprint", function () {
    checks.forEach(function (c) { c.open = true; });
  });
  if (checks.length) { apply(); }
})();
