/* Progressive enhancement for questionnaire forms (templates/questionnaire/macros.html).
   The server renders every question and ignores answers whose condition is false; this script only hides
   such questions (and disables their inputs) while the condition is false, keeps an "exclusive" option
   (such as "No symptoms") from being combined with others, and moves focus to an error summary.
   The condition grammar mirrors reporting/questionnaire/conditions.py. */
(function () {
  "use strict";

  function valuesOf(form, key, hiddenKeys) {
    if (hiddenKeys[key]) { return []; }
    var out = [];
    var elements = form.querySelectorAll('[name="' + key + '"]');
    for (var i = 0; i < elements.length; i++) {
      var el = elements[i];
      if (el.disabled) { continue; }
      if (el.type === "checkbox" || el.type === "radio") {
        if (el.checked) { out.push(el.value); }
      } else if (el.value !== "") {
        out.push(el.value);
      }
    }
    return out;
  }

  /* Facts the server evaluates as "context": fixed ones in data-context (JSON), and ones chosen in the same
     form (such as the relation of a new profile) named in data-context-fields. */
  function contextOf(form) {
    var context = {};
    try { context = JSON.parse(form.getAttribute("data-context") || "{}"); } catch (e) { context = {}; }
    var fields = (form.getAttribute("data-context-fields") || "").split(" ");
    for (var i = 0; i < fields.length; i++) {
      if (!fields[i]) { continue; }
      var el = form.querySelector('[name="' + fields[i] + '"]');
      if (el) { context[fields[i]] = el.value; }
    }
    return context;
  }

  function evaluate(cond, form, hiddenKeys) {
    if (!cond) { return true; }
    if (cond.all) { return cond.all.every(function (c) { return evaluate(c, form, hiddenKeys); }); }
    if (cond.any) { return cond.any.some(function (c) { return evaluate(c, form, hiddenKeys); }); }
    if (cond.not) { return !evaluate(cond.not, form, hiddenKeys); }
    if (cond.context !== undefined) {
      var context = contextOf(form);
      if (!(cond.context in context)) { return true; } /* unknown here: shown, decided by the server */
      return context[cond.context] === cond.equals;
    }
    var given = valuesOf(form, cond.question, hiddenKeys);
    if (cond.any_of) { return given.some(function (v) { return cond.any_of.map(String).indexOf(v) >= 0; }); }
    if (cond.any_except) { return given.some(function (v) { return cond.any_except.map(String).indexOf(v) < 0; }); }
    if (cond.answered !== undefined) { return (given.length > 0) === Boolean(cond.answered); }
    return true;
  }

  function update(form) {
    var hiddenKeys = {};
    var questions = form.querySelectorAll("[data-question]");
    for (var i = 0; i < questions.length; i++) {
      var q = questions[i];
      var raw = q.getAttribute("data-condition");
      var show = true;
      if (raw) {
        try { show = evaluate(JSON.parse(raw), form, hiddenKeys); } catch (e) { show = true; }
      }
      q.hidden = !show;
      if (!show) { hiddenKeys[q.getAttribute("data-question")] = true; }
      var inputs = q.querySelectorAll("input, select, textarea");
      for (var j = 0; j < inputs.length; j++) { inputs[j].disabled = !show; }
    }
  }

  function exclusive(form, changed) {
    if (changed.type !== "checkbox" || !changed.checked) { return; }
    var group = form.querySelectorAll('input[type="checkbox"][name="' + changed.name + '"]');
    for (var i = 0; i < group.length; i++) {
      var other = group[i];
      if (other === changed) { continue; }
      if (changed.hasAttribute("data-exclusive") || other.hasAttribute("data-exclusive")) { other.checked = false; }
    }
  }

  function init() {
    var forms = document.querySelectorAll("form[data-questionnaire]");
    for (var i = 0; i < forms.length; i++) {
      (function (form) {
        update(form);
        form.addEventListener("change", function (event) {
          exclusive(form, event.target);
          update(form);
        });
      })(forms[i]);
    }
    var summary = document.getElementById("error-summary");
    if (summary) { summary.focus(); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
