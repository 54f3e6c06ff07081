/* Incidencias portal: progressive enhancement only. Every page works
   without this file; with it:
   - dates are shown in the reader's local time;
   - an incident's page and the lists of incidents follow changes made
     elsewhere: every second a small JSON document is asked for, and when the
     incident (or a row of the list) changed, the page's live parts are
     fetched again and swapped in place. A part holding a field being typed
     in, or the focus, is left alone until it is free.
   Polling stops while the tab is hidden and starts again when it is shown. */
(function () {
  "use strict";

  var INTERVAL = 1000;
  var RETRY = 5000;

  // -- local times ----------------------------------------------------------
  var formatter = null;
  try {
    formatter = new Intl.DateTimeFormat(document.documentElement.lang || "es", {
      day: "2-digit", month: "2-digit", year: "numeric", hour: "2-digit", minute: "2-digit"
    });
  } catch (e) {
    formatter = null;
  }

  function localTimes(root) {
    if (!formatter) { return; }
    var times = root.querySelectorAll("time[datetime]");
    for (var i = 0; i < times.length; i++) {
      var el = times[i];
      if (el.getAttribute("data-local")) { continue; }
      var when = new Date(el.getAttribute("datetime"));
      if (isNaN(when.getTime())) { continue; }
      el.title = el.textContent;
      el.textContent = formatter.format(when);
      el.setAttribute("data-local", "1");
    }
  }

  // -- live parts -------------------------------------------------------------
  function changed(field) {
    if (field.type === "hidden" || field.type === "submit" || field.type === "button") { return false; }
    if (field.type === "checkbox" || field.type === "radio") { return field.checked !== field.defaultChecked; }
    if (field.tagName === "SELECT") {
      for (var i = 0; i < field.options.length; i++) {
        if (field.options[i].selected !== field.options[i].defaultSelected) { return true; }
      }
      return false;
    }
    return field.value !== field.defaultValue;
  }

  function busy(region) {
    var active = document.activeElement;
    if (active && active !== document.body && region.contains(active)) { return true; }
    var fields = region.querySelectorAll("input, textarea, select");
    for (var i = 0; i < fields.length; i++) {
      if (changed(fields[i])) { return true; }
    }
    return false;
  }

  function announce(text) {
    var live = document.getElementById("anuncio-vivo");
    if (live && text) { live.textContent = text; }
  }

  /* Fetch the page again and swap every free live part. Resolves to the
     ids of the busy parts it kept as they were (none: all swapped). */
  function refresh() {
    return fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (!response.ok || response.redirected) {
          window.location.reload();
          throw new Error("reload");
        }
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        var kept = [];
        var before = document.getElementById("estado");
        var estadoAntes = before ? before.getAttribute("data-estado") : null;
        var regions = document.querySelectorAll("[data-vivo][id]");
        for (var i = 0; i < regions.length; i++) {
          var old = regions[i];
          var replacement = fresh.getElementById(old.id);
          if (!replacement) { continue; }
          if (busy(old)) { kept.push(old.id); continue; }
          var imported = document.importNode(replacement, true);
          old.parentNode.replaceChild(imported, old);
          localTimes(imported);
        }
        var main = document.getElementById("contenido");
        var freshMain = fresh.getElementById("contenido");
        if (main && freshMain) {
          ["data-version", "data-comentarios"].forEach(function (name) {
            if (freshMain.hasAttribute(name)) { main.setAttribute(name, freshMain.getAttribute(name)); }
          });
        }
        var after = document.getElementById("estado");
        if (after && after.getAttribute("data-estado") !== estadoAntes) { announce(after.textContent); }
        return kept;
      });
  }

  function listSignature() {
    var rows = document.querySelectorAll("#lista-incidencias tr[data-incidencia-id]");
    var parts = [];
    for (var i = 0; i < rows.length; i++) {
      parts.push(rows[i].getAttribute("data-incidencia-id") + ":" + rows[i].getAttribute("data-version"));
    }
    return parts.join(",");
  }

  function differs(data) {
    var main = document.getElementById("contenido");
    if (data.incidencias) {
      var wanted = data.incidencias.map(function (i) { return i.id + ":" + i.version; }).join(",");
      return wanted !== listSignature();
    }
    return String(data.version) !== main.getAttribute("data-version") ||
      String(data.comentarios) !== main.getAttribute("data-comentarios");
  }

  function statusUrl() {
    var list = document.querySelector("#vivo-lista[data-estado-url]");
    if (list) { return list.getAttribute("data-estado-url"); }
    var main = document.getElementById("contenido");
    return main ? main.getAttribute("data-estado-url") : null;
  }

  var timer = null;
  var kept = [];  // live parts left stale because they were busy

  function stillBusy() {
    return kept.every(function (id) {
      var region = document.getElementById(id);
      return !region || busy(region);
    });
  }

  function schedule(delay) {
    window.clearTimeout(timer);
    if (!document.hidden) { timer = window.setTimeout(tick, delay); }
  }

  function tick() {
    var url = statusUrl();
    if (!url) { return; }
    fetch(url, { credentials: "same-origin", cache: "no-store", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (response.status === 401) {
          window.location.reload();
          throw new Error("signed out");
        }
        if (!response.ok) { throw new Error("status " + response.status); }
        return response.json();
      })
      .then(function (data) {
        if (differs(data) || (kept.length && !stillBusy())) {
          return refresh().then(function (left) { kept = left; });
        }
        return null;
      })
      .then(function () { schedule(INTERVAL); }, function () { schedule(RETRY); });
  }

  // -- small conveniences -------------------------------------------------------
  function focusFirstError() {
    var invalid = document.querySelector("[aria-invalid='true']");
    if (invalid) { invalid.focus(); }
  }

  /* A mail's link to a part of a page (/perfil#avisos, /incidencias/X#cierre)
     opened while signed out lands on the login page with that fragment,
     which the server never sees: carry it in the form's "siguiente", so the
     login goes on to that very part. */
  function keepFragment() {
    var next = document.querySelector("form[action$='/entrar'] input[name='siguiente']");
    var hash = window.location.hash;
    if (next && next.value && next.value.indexOf("#") < 0 && /^#[A-Za-z][\w-]*$/.test(hash)) {
      next.value += hash;
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    localTimes(document);
    focusFirstError();
    keepFragment();
    if (statusUrl()) {
      document.addEventListener("visibilitychange", function () {
        if (!document.hidden) { schedule(0); }
      });
      schedule(INTERVAL);
    }
  });
}());
