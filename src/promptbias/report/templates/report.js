// promptbias report: draws the gap chart of each attribute as SVG and makes tables sortable.
// Text from data is only ever set through textContent or attribute values, never parsed as HTML.
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var MINUS = "\u2212";
  var data = JSON.parse(document.getElementById("report-data").textContent);

  function node(name, attrs, parent) {
    var element = document.createElementNS(SVG, name);
    Object.keys(attrs || {}).forEach(function (key) { element.setAttribute(key, String(attrs[key])); });
    if (parent) { parent.appendChild(element); }
    return element;
  }

  function label(parent, x, y, content, attrs) {
    var element = node("text", Object.assign({ x: x, y: y }, attrs || {}), parent);
    element.textContent = content;
    return element;
  }

  function signed(value, digits) {
    if (value === null || value === undefined) { return "\u2013"; }
    var text = Math.abs(value).toFixed(digits === undefined ? 3 : digits);
    return (value < 0 ? MINUS : "+") + text;
  }

  function niceStep(span) {
    var raw = span / 3;
    var power = Math.pow(10, Math.floor(Math.log10(raw)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) {
      if (steps[i] * power >= raw) { return steps[i] * power; }
    }
    return 10 * power;
  }

  function visibleSeries(attribute, metric, config) {
    return attribute.series.filter(function (series) {
      return (config === null || series.dataset + " / " + series.probe === config) &&
        series.points[metric] && series.points[metric].some(function (point) { return point !== null; });
    });
  }

  function extent(series, metric) {
    var largest = 0;
    series.forEach(function (item) {
      item.points[metric].forEach(function (point) {
        if (point === null) { return; }
        [point[0], point[1], point[2]].forEach(function (value) {
          if (value !== null) { largest = Math.max(largest, Math.abs(value)); }
        });
      });
    });
    return largest > 0 ? largest * 1.08 : 0.01;
  }

  function tooltip(series, group, size, metricLabel, point) {
    var lines = [
      series.model + " (" + series.dataset + " / " + series.probe + ")",
      group + (size === null ? "" : ", n = " + size),
      metricLabel + " gap " + signed(point[0]) +
        (point[1] === null ? " (no interval)" : " [" + signed(point[1]) + ", " + signed(point[2]) + "]"),
      "p (adjusted) " + (point[4] === null ? "\u2013" : point[4] < 0.001 ? "<0.001" : point[4].toFixed(3)) +
        ", " + (point[5] === null ? "?" : point[5]) + " runs, " + (point[3] ? "significant" : "not significant")
    ];
    return lines.join("\n");
  }

  function drawChart(figure, attribute, metric, metricLabel, config) {
    var area = figure.querySelector(".chart-area");
    while (area.firstChild) { area.removeChild(area.firstChild); }
    var series = visibleSeries(attribute, metric, config);
    if (series.length === 0) {
      var empty = document.createElement("p");
      empty.className = "empty";
      empty.textContent = "No gaps for this metric.";
      area.appendChild(empty);
      return;
    }
    var longest = attribute.groups.reduce(function (most, group) { return Math.max(most, group.length); }, 4);
    var left = Math.min(200, 16 + 7 * longest);
    var right = 64, top = 8, bottom = 42, lane = 13;
    var width = Math.max(520, area.clientWidth || 640);
    var rowHeight = Math.max(22, series.length * lane + 8);
    var height = top + bottom + rowHeight * attribute.groups.length;
    var svg = node("svg", { viewBox: "0 0 " + width + " " + height, role: "img", width: width, height: height }, area);
    var title = node("title", {}, svg);
    title.textContent = attribute.category + ": " + metricLabel + " gap per group";
    var limit = extent(series, metric);
    var x = function (value) { return left + (value + limit) / (2 * limit) * (width - left - right); };
    var bottomY = top + rowHeight * attribute.groups.length;
    attribute.groups.forEach(function (group, row) {
      var y0 = top + row * rowHeight;
      if (row % 2 === 0) { node("rect", { x: 0, y: y0, width: width, height: rowHeight, "class": "band" }, svg); }
      var name = group.length > 28 ? group.slice(0, 27) + "\u2026" : group;
      var named = node("g", {}, svg);
      node("title", {}, named).textContent = group;
      label(named, left - 8, y0 + rowHeight / 2 + 4, name, { "text-anchor": "end", "class": "group-label" });
      var size = attribute.sizes[row];
      if (size !== null) {
        label(svg, width - 4, y0 + rowHeight / 2 + 4, "n=" + size, { "text-anchor": "end", "class": "size-label" });
      }
    });
    var step = niceStep(limit);
    for (var tick = -Math.floor(limit / step) * step; tick <= limit + 1e-12; tick += step) {
      var tx = x(tick);
      var zero = Math.abs(tick) < step / 1e6;
      node("line", { x1: tx, x2: tx, y1: top, y2: bottomY, "class": zero ? "zero" : "grid" }, svg);
      label(svg, tx, bottomY + 14, zero ? "0" : signed(tick, step < 0.01 ? 3 : 2),
        { "text-anchor": "middle", "class": "tick" });
    }
    label(svg, left + (width - left - right) / 2, bottomY + 34,
      metricLabel + " gap (group \u2212 mean of the attribute's groups)", { "text-anchor": "middle", "class": "axis-label" });
    series.forEach(function (item, index) {
      item.points[metric].forEach(function (point, row) {
        if (point === null || point[0] === null) { return; }
        var y = top + row * rowHeight + (rowHeight - series.length * lane) / 2 + lane * (index + 0.5);
        var mark = node("g", { "class": "point" + (point[3] ? " significant" : "") }, svg);
        var tip = node("title", {}, mark);
        tip.textContent = tooltip(item, attribute.groups[row], attribute.sizes[row], metricLabel, point);
        if (point[1] !== null && point[2] !== null) {
          node("line", { x1: x(point[1]), x2: x(point[2]), y1: y, y2: y, stroke: item.colour, "stroke-width": 2 }, mark);
          [point[1], point[2]].forEach(function (end) {
            node("line", { x1: x(end), x2: x(end), y1: y - 3, y2: y + 3, stroke: item.colour, "stroke-width": 1.5 }, mark);
          });
        }
        node("circle", {
          cx: x(point[0]), cy: y, r: 4.5, stroke: item.colour, "stroke-width": 2,
          fill: point[3] ? item.colour : "#ffffff"
        }, mark);
        if (point[3]) {
          var end = point[2] === null ? point[0] : Math.max(point[0], point[2]);
          label(mark, x(end) + 5, y + 5, "*", { fill: item.colour, "class": "star" });
        }
      });
    });
  }

  function drawAll() {
    var metricSelect = document.getElementById("metric-select");
    var configSelect = document.getElementById("config-select");
    var metric = metricSelect.value;
    var metricLabel = metricSelect.options[metricSelect.selectedIndex].textContent;
    var config = configSelect ? configSelect.value : null;
    data.attributes.forEach(function (attribute) {
      drawChart(document.getElementById(attribute.id), attribute, metric, metricLabel, config);
    });
  }

  function sortValue(cell) {
    var raw = cell.hasAttribute("data-value") ? cell.getAttribute("data-value") : cell.textContent.trim();
    var number = raw === "" ? NaN : Number(raw);
    return { number: number, text: raw };
  }

  function compare(a, b, ascending) {
    var direction = ascending ? 1 : -1;
    var aNumber = !isNaN(a.number), bNumber = !isNaN(b.number);
    if (aNumber && bNumber) { return direction * (a.number - b.number); }
    if (aNumber !== bNumber) { return aNumber ? -1 : 1; }  // missing values last either way
    return direction * a.text.localeCompare(b.text, undefined, { numeric: true });
  }

  function makeSortable(table) {
    var headers = table.querySelectorAll("thead th");
    headers.forEach(function (header, column) {
      header.setAttribute("tabindex", "0");
      function sort() {
        var ascending = header.getAttribute("aria-sort") !== "ascending";
        headers.forEach(function (other) { other.removeAttribute("aria-sort"); });
        header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          return compare(sortValue(a.cells[column]), sortValue(b.cells[column]), ascending);
        });
        rows.forEach(function (row) { body.appendChild(row); });
      }
      header.addEventListener("click", sort);
      header.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sort(); }
      });
    });
  }

  document.getElementById("metric-select").addEventListener("change", drawAll);
  var configSelect = document.getElementById("config-select");
  if (configSelect) { configSelect.addEventListener("change", drawAll); }
  var resizeTimer = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(drawAll, 150);
  });
  document.querySelectorAll("table.sortable").forEach(makeSortable);
  drawAll();
})();
