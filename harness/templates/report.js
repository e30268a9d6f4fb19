// report.html of numdiff-harness: sort any table.sortable by a click on its header, filter the summary.
// Plain JavaScript, no library, nothing fetched.
(function () {
  "use strict";
  var collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

  function sortValue(cell, numeric) {
    if (!cell) { return numeric ? NaN : ""; }
    var raw = cell.hasAttribute("data-v") ? cell.getAttribute("data-v") : cell.textContent.trim();
    return numeric ? (raw === "" ? NaN : Number(raw)) : raw;
  }

  // Sort the rows of a table by column `index`; missing numbers (NaN) always go last, ties keep their order.
  function sortTable(table, index, header) {
    var numeric = header.getAttribute("data-type") === "num";
    var ascending = header.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(header.parentNode.cells, function (th) { th.removeAttribute("aria-sort"); });
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var body = table.tBodies[0];
    var keyed = Array.prototype.map.call(body.rows, function (row, position) {
      return { row: row, position: position, value: sortValue(row.cells[index], numeric) };
    });
    keyed.sort(function (a, b) {
      var order;
      if (numeric) {
        var aMissing = isNaN(a.value), bMissing = isNaN(b.value);
        if (aMissing || bMissing) {
          return aMissing === bMissing ? a.position - b.position : (aMissing ? 1 : -1);
        }
        order = a.value < b.value ? -1 : (a.value > b.value ? 1 : 0);
      } else {
        order = collator.compare(a.value, b.value);
      }
      return (ascending ? order : -order) || a.position - b.position;
    });
    var fragment = document.createDocumentFragment();
    keyed.forEach(function (item) { fragment.appendChild(item.row); });
    body.appendChild(fragment);
  }

  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    if (!table.tHead || !table.tBodies.length) { return; }
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, index) {
      th.tabIndex = 0;
      th.addEventListener("click", function () { sortTable(table, index, th); });
      th.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sortTable(table, index, th); }
      });
    });
  });

  // Filters: a select per row attribute (data-<key>; the status attribute holds several tokens) and a text box.
  Array.prototype.forEach.call(document.querySelectorAll("form.filters"), function (form) {
    var table = document.getElementById(form.getAttribute("data-table"));
    if (!table) { return; }
    var controls = form.querySelectorAll("select, input");
    var count = form.querySelector("output.count");

    function apply() {
      var wanted = Array.prototype.map.call(controls, function (c) {
        return { key: c.getAttribute("data-key"), value: c.value.trim().toLowerCase() };
      }).filter(function (w) { return w.value !== ""; });
      var rows = table.tBodies[0].rows, shown = 0;
      Array.prototype.forEach.call(rows, function (row) {
        var keep = wanted.every(function (w) {
          if (w.key === "*") { return row.textContent.toLowerCase().indexOf(w.value) >= 0; }
          var have = (row.getAttribute("data-" + w.key) || "").toLowerCase();
          return w.key === "status" ? have.split(" ").indexOf(w.value) >= 0 : have === w.value;
        });
        row.hidden = !keep;
        shown += keep ? 1 : 0;
      });
      if (count) { count.textContent = shown + " of " + rows.length + " rows"; }
    }

    Array.prototype.forEach.call(controls, function (c) {
      c.addEventListener(c.tagName === "SELECT" ? "change" : "input", apply);
    });
  });
})();
