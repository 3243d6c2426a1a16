/* imagenet-bench site: sortable, filterable tables whose view lives in the address (#sort=...&q=...), and the
   Plotly charts drawn from the JSON beside each chart. Without this script every table is still in the page. */
(function () {
  "use strict";
  var DASH = "\u2014";

  function state() {
    return new URLSearchParams(window.location.hash.replace(/^#/, ""));
  }

  function save(params) {
    var text = params.toString();
    var url = window.location.pathname + window.location.search + (text ? "#" + text : "");
    window.history.replaceState(null, "", url);
  }

  // The value a cell sorts by: its data-sort (the unformatted stored number) when it has one, else its text;
  // null for a missing figure, which always goes last.
  function sortValue(cell, type) {
    var raw = cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent.trim();
    if (raw === "" || raw === DASH) return null;
    if (type === "number") {
      var x = parseFloat(raw);
      return isNaN(x) ? null : x;
    }
    return raw.toLowerCase();
  }

  function compare(a, b, desc) {
    if (a.value === null && b.value === null) return a.index - b.index;
    if (a.value === null) return 1;
    if (b.value === null) return -1;
    if (a.value < b.value) return desc ? 1 : -1;
    if (a.value > b.value) return desc ? -1 : 1;
    return a.index - b.index;
  }

  function Board(table) {
    this.table = table;
    this.body = table.tBodies[0];
    this.rows = Array.prototype.slice.call(this.body.rows);
    this.rows.forEach(function (row, i) { row.setAttribute("data-index", String(i)); });
    this.headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
    this.form = document.querySelector('form[data-filter-for="' + table.id + '"]');
    var self = this;
    this.headers.forEach(function (th, col) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "sort";
      while (th.firstChild) button.appendChild(th.firstChild);
      th.appendChild(button);
      button.addEventListener("click", function () {
        var params = state();
        var key = th.getAttribute("data-key");
        var desc = th.getAttribute("data-type") === "number";
        if (params.get("sort") === key) desc = params.get("dir") !== "desc";
        params.set("sort", key);
        params.set("dir", desc ? "desc" : "asc");
        save(params);
        self.apply();
      });
      th.setAttribute("data-col", String(col));
    });
    if (this.form) {
      this.form.hidden = false;
      this.form.addEventListener("submit", function (e) { e.preventDefault(); });
      this.form.addEventListener("input", function () { self.fromForm(); });
      this.form.addEventListener("change", function () { self.fromForm(); });
      this.form.addEventListener("reset", function () { window.setTimeout(function () { self.fromForm(); }, 0); });
    }
  }

  Board.prototype.fields = function () {
    return this.form ? Array.prototype.slice.call(this.form.querySelectorAll("input[name], select[name]")) : [];
  };

  Board.prototype.fromForm = function () {
    var params = state();
    this.fields().forEach(function (f) {
      if (f.value) params.set(f.name, f.value); else params.delete(f.name);
    });
    save(params);
    this.apply();
  };

  Board.prototype.apply = function () {
    var params = state();
    this.fields().forEach(function (f) {
      var want = params.get(f.name) || "";
      if (f.tagName === "SELECT" && want && !Array.prototype.some.call(f.options, function (o) { return o.value === want; })) want = "";
      f.value = want;
    });
    this.sort(params.get("sort"), params.get("dir") === "desc");
    this.filter(params);
  };

  Board.prototype.sort = function (key, desc) {
    var th = null;
    this.headers.forEach(function (h) {
      if (h.getAttribute("data-key") === key) th = h; else h.removeAttribute("aria-sort");
    });
    var rows;
    if (th === null) {
      rows = this.rows.slice();  // the page's own order (rank)
    } else {
      th.setAttribute("aria-sort", desc ? "descending" : "ascending");
      var col = parseInt(th.getAttribute("data-col"), 10);
      var type = th.getAttribute("data-type");
      rows = this.rows.map(function (row, i) { return { row: row, index: i, value: sortValue(row.cells[col], type) }; })
        .sort(function (a, b) { return compare(a, b, desc); })
        .map(function (x) { return x.row; });
    }
    var body = this.body;
    rows.forEach(function (row) { body.appendChild(row); });
  };

  Board.prototype.filter = function (params) {
    var terms = (params.get("q") || "").toLowerCase().split(/\s+/).filter(Boolean);
    var selects = this.fields().filter(function (f) { return f.tagName === "SELECT" && f.value; });
    var shown = 0;
    this.rows.forEach(function (row) {
      var text = row.textContent.toLowerCase();
      var ok = terms.every(function (t) { return text.indexOf(t) !== -1; }) &&
        selects.every(function (f) { return row.getAttribute("data-" + f.name) === f.value; });
      row.hidden = !ok;
      if (ok) shown += 1;
    });
    if (this.form) {
      var out = this.form.querySelector("output");
      if (out) out.textContent = shown + " of " + this.rows.length + " rows";
    }
  };

  function charts() {
    if (!window.Plotly) return;
    Array.prototype.forEach.call(document.querySelectorAll("[data-figure]"), function (div) {
      var source = document.getElementById(div.getAttribute("data-figure"));
      if (!source) return;
      var spec = JSON.parse(source.textContent);
      window.Plotly.newPlot(div, spec.data, spec.layout, { displaylogo: false, responsive: true });
      div.on("plotly_click", function (event) {
        var point = event.points && event.points[0];
        var page = point && point.customdata && point.customdata[3];
        if (typeof page === "string" && /^model-[^/]*\.html$/.test(page)) window.location.href = page;
      });
    });
  }

  var boards = Array.prototype.map.call(document.querySelectorAll("table[data-sortable]"), function (t) { return new Board(t); });
  function applyAll() { boards.forEach(function (b) { b.apply(); }); }
  window.addEventListener("hashchange", applyAll);
  applyAll();
  charts();
  window.benchSite = { boards: boards, ready: true };
}());
