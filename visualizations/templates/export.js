/* Export what is on screen, shared by the web UI (/ui/export.js) and the single-file views (inlined):
   a PNG at twice the pixels with a white background, the title and the legend; the visible nodes
   and edges as JSON (an edge only when both its ends are shown); a table (the village list) as XLSX,
   written here (a zip of a few XML files, no library), so a view saved on an intranet exports too. */
(function () {
  "use strict";

  function download(href, name) {
    var a = document.createElement("a");
    a.href = href; a.download = name;
    document.body.appendChild(a); a.click(); a.remove();
  }

  // The network redrawn in a container twice its size (for a 2× image whatever the screen's ratio),
  // the same part of the graph in view, then put back as it was.
  function png(network, container, title, legend) {
    var ratio = 2 / (window.devicePixelRatio || 1);
    var w = container.clientWidth, h = container.clientHeight;
    var position = network.getViewPosition(), scale = network.getScale();
    var saved = container.getAttribute("style") || "";
    container.style.width = (w * ratio) + "px"; container.style.height = (h * ratio) + "px";
    container.style.right = "auto"; container.style.bottom = "auto";
    network.setSize((w * ratio) + "px", (h * ratio) + "px");
    network.moveTo({position: position, scale: scale * ratio, animation: false});
    network.redraw();
    var source = container.querySelector("canvas");
    var px = source.width / (w * ratio) * ratio;   // canvas pixels per CSS pixel of the original
    var out = document.createElement("canvas");
    var pad = 12 * px, line = 22 * px, font = 14 * px;
    var ctx = out.getContext("2d");
    ctx.font = font + "px sans-serif";
    // Legend items flow in rows under the graph.
    var rows = [[]], x = pad;
    (legend || []).forEach(function (item) {
      var width = 20 * px + ctx.measureText(item.label).width + 18 * px;
      if (x + width > source.width - pad && rows[rows.length - 1].length) { rows.push([]); x = pad; }
      rows[rows.length - 1].push({item: item, x: x}); x += width;
    });
    var top = title ? line + pad : 0, legendHeight = legend && legend.length ? rows.length * line + pad : 0;
    out.width = source.width; out.height = source.height + top + legendHeight;
    ctx = out.getContext("2d");
    ctx.fillStyle = "#ffffff"; ctx.fillRect(0, 0, out.width, out.height);
    ctx.textBaseline = "middle";
    var face = "\"Noto Sans CJK SC\", \"Microsoft YaHei\", sans-serif";
    if (title) { ctx.fillStyle = "#222"; ctx.font = "bold " + (16 * px) + "px " + face; ctx.fillText(title, pad, pad + line / 2); }
    ctx.drawImage(source, 0, top);
    ctx.font = font + "px " + face;
    rows.forEach(function (row, r) {
      var y = top + source.height + pad / 2 + r * line + line / 2;
      row.forEach(function (cell) {
        ctx.fillStyle = cell.item.color;
        if (cell.item.line) { ctx.fillRect(cell.x, y - 2 * px, 16 * px, 4 * px); }
        else { ctx.beginPath(); ctx.arc(cell.x + 7 * px, y, 7 * px, 0, 2 * Math.PI); ctx.fill(); }
        ctx.fillStyle = "#222"; ctx.fillText(cell.item.label, cell.x + 20 * px, y);
      });
    });
    container.setAttribute("style", saved);
    network.setSize("100%", "100%");
    network.moveTo({position: position, scale: scale, animation: false});
    network.redraw();
    return out.toDataURL("image/png");
  }

  // The nodes and edges on screen: hidden ones left out, and an edge only when both ends are shown.
  function visible(nodes, edges, fields) {
    var shown = {};
    var keptNodes = nodes.get({filter: function (n) { return !n.hidden; }}).map(function (n) {
      shown[n.id] = true;
      var out = {id: n.id, label: n.label, kind: n.kind || n.legend};
      (fields || []).forEach(function (f) { if (n[f] !== undefined) { out[f] = n[f]; } });
      return out;
    });
    var keptEdges = edges.get({filter: function (e) { return !e.hidden && shown[e.from] && shown[e.to]; }})
      .map(function (e) { return {from: e.from, to: e.to, label: e.label || ""}; });
    return {nodes: keptNodes, edges: keptEdges};
  }

  function json(data, name) {
    var blob = new Blob([JSON.stringify(data, null, 1)], {type: "application/json"});
    download(URL.createObjectURL(blob), name);
  }

  // -- XLSX: one sheet of inline strings and numbers, in a zip stored without compression -------
  var CRC = (function () {
    var table = [];
    for (var n = 0; n < 256; n++) {
      var c = n;
      for (var k = 0; k < 8; k++) { c = c & 1 ? 0xEDB88320 ^ (c >>> 1) : c >>> 1; }
      table.push(c >>> 0);
    }
    return table;
  })();
  function crc32(bytes) {
    var c = 0xFFFFFFFF;
    for (var i = 0; i < bytes.length; i++) { c = CRC[(c ^ bytes[i]) & 0xFF] ^ (c >>> 8); }
    return (c ^ 0xFFFFFFFF) >>> 0;
  }
  function zip(files) {
    var encoder = new TextEncoder(), parts = [], central = [], offset = 0;
    function header(size) { return new DataView(new ArrayBuffer(size)); }
    files.forEach(function (file) {
      var name = encoder.encode(file.name), data = encoder.encode(file.text), crc = crc32(data);
      var local = header(30);
      local.setUint32(0, 0x04034b50, true); local.setUint16(4, 20, true); local.setUint16(6, 0x0800, true);
      local.setUint32(14, crc, true); local.setUint32(18, data.length, true); local.setUint32(22, data.length, true);
      local.setUint16(26, name.length, true);
      parts.push(local, name, data);
      var entry = header(46);
      entry.setUint32(0, 0x02014b50, true); entry.setUint16(4, 20, true); entry.setUint16(6, 20, true);
      entry.setUint16(8, 0x0800, true); entry.setUint32(16, crc, true); entry.setUint32(20, data.length, true);
      entry.setUint32(24, data.length, true); entry.setUint16(28, name.length, true); entry.setUint32(42, offset, true);
      central.push(entry, name);
      offset += 30 + name.length + data.length;
    });
    var size = central.reduce(function (s, p) { return s + p.byteLength; }, 0);
    var end = header(22);
    end.setUint32(0, 0x06054b50, true); end.setUint16(8, files.length, true); end.setUint16(10, files.length, true);
    end.setUint32(12, size, true); end.setUint32(16, offset, true);
    return new Blob(parts.concat(central, [end]), {type: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"});
  }
  function escape(text) {
    return String(text).replace(/[&<>"]/g, function (c) { return {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;"}[c]; })
      .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F]/g, "");
  }
  function column(i) { var s = ""; i += 1; while (i) { var m = (i - 1) % 26; s = String.fromCharCode(65 + m) + s; i = (i - m - 1) / 26; } return s; }
  // Cells are values, never formulas: text is written as inline strings, whatever it starts with.
  function xlsx(rows, sheet) {
    var body = rows.map(function (row, r) {
      return "<row r=\"" + (r + 1) + "\">" + row.map(function (v, c) {
        var ref = column(c) + (r + 1);
        return typeof v === "number" && isFinite(v) ? "<c r=\"" + ref + "\"><v>" + v + "</v></c>"
          : "<c r=\"" + ref + "\" t=\"inlineStr\"><is><t xml:space=\"preserve\">" + escape(v == null ? "" : v) + "</t></is></c>";
      }).join("") + "</row>";
    }).join("");
    var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n";
    return zip([
      {name: "[Content_Types].xml", text: xml + "<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">"
        + "<Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>"
        + "<Default Extension=\"xml\" ContentType=\"application/xml\"/>"
        + "<Override PartName=\"/xl/workbook.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml\"/>"
        + "<Override PartName=\"/xl/worksheets/sheet1.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml\"/></Types>"},
      {name: "_rels/.rels", text: xml + "<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
        + "<Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument\" Target=\"xl/workbook.xml\"/></Relationships>"},
      {name: "xl/workbook.xml", text: xml + "<workbook xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" "
        + "xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\"><sheets><sheet name=\""
        + escape((sheet || "村(社区)").replace(/[\[\]:*?\/\\]/g, "").slice(0, 31)) + "\" sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>"},
      {name: "xl/_rels/workbook.xml.rels", text: xml + "<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
        + "<Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet\" Target=\"worksheets/sheet1.xml\"/></Relationships>"},
      {name: "xl/worksheets/sheet1.xml", text: xml + "<worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\"><sheetData>"
        + body + "</sheetData></worksheet>"}
    ]);
  }

  window.xunchaExport = {
    png: png, visible: visible, xlsx: xlsx, download: download,
    savePng: function (network, container, title, legend, name) { var url = png(network, container, title, legend); download(url, name); return url; },
    saveJson: function (data, name) { json(data, name); return data; },
    saveXlsx: function (rows, name, sheet) { download(URL.createObjectURL(xlsx(rows, sheet)), name); return rows; }
  };
})();
