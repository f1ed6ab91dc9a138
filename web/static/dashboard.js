/* The dashboard's daily trends, drawn by Apache ECharts (served from /vendor, nothing is
   downloaded) from the figures the page carries as JSON (#dashboard-data): the tickets of
   each day stacked by channel, first responses, time to resolve, ratings. A click on a point
   or bar opens the tickets behind it (the drill-down list of that day, of that channel for a
   channel's bar). Without JavaScript, or when ECharts is missing, the charts stay hidden: the
   tables below show the same figures. */
(function () {
  "use strict";
  var data = document.getElementById("dashboard-data");
  var box = document.getElementById("charts");
  if (!data || !box || !window.echarts) return;
  var figures = JSON.parse(data.textContent);
  var days = figures.daily.map(function (d) { return d.day; });
  var many = days.length > 45;
  var font = '"Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", sans-serif';
  var RED = "#c8102e", GREEN = "#1c7c3a", GREY = "#9aa0a6", BLUE = "#0b4fa8", GOLD = "#b7791f";
  var CHANNEL_COLORS = [BLUE, "#5b8fd6", "#2f9e6e", "#8a63d2"];
  var channels = figures.channels || [];

  function drill(day, extra) {
    var params = new URLSearchParams({ day: day });
    Object.keys(extra || {}).forEach(function (key) { params.set(key, extra[key]); });
    window.location.href = figures.drill + (figures.drill.indexOf("?") < 0 ? "?" : "&") + params;
  }

  function base(extra) {
    var option = {
      textStyle: { fontFamily: font },
      tooltip: { trigger: "axis" },
      legend: { top: 0 },
      grid: { left: 48, right: 48, top: 36, bottom: many ? 64 : 28 },
      xAxis: { type: "category", data: days },
      animation: false
    };
    if (many) option.dataZoom = [{ type: "inside" }, { type: "slider", height: 20, bottom: 8 }];
    Object.keys(extra).forEach(function (key) { option[key] = extra[key]; });
    return option;
  }

  // a series' click opens the day's tickets with the series' own filters (none: the day's)
  function draw(id, option, filters) {
    var chart = window.echarts.init(document.getElementById(id), null, { renderer: "canvas" });
    chart.setOption(option);
    chart.on("click", function (event) {
      var narrowed = filters[event.seriesIndex];
      if (narrowed !== null && narrowed !== undefined) drill(days[event.dataIndex], narrowed);
    });
    window.addEventListener("resize", function () { chart.resize(); });
    document.getElementById(id).dataset.state = "drawn";
    return chart;
  }

  function pick(path) {
    return figures.daily.map(function (d) {
      var value = d;
      path.split(".").forEach(function (key) { value = value === null ? null : value[key]; });
      return value;
    });
  }

  box.hidden = false;
  var hint = document.getElementById("charts-hint");
  if (hint) hint.textContent = "点击图上的点或柱可查看当天的工单；下方“每日明细”表格列出同样的数字。";

  // the day's tickets, one bar per channel stacked (their sum: the day's tickets)
  var ticketBars = channels.length ? channels.map(function (channel, n) {
    return { name: channel.label, type: "bar", stack: "tickets", data: channel.tickets,
             itemStyle: { color: CHANNEL_COLORS[n % CHANNEL_COLORS.length] } };
  }) : [{ name: "工单数", type: "bar", data: pick("tickets"), itemStyle: { color: BLUE } }];
  var ticketFilters = channels.length
    ? channels.map(function (channel) { return { channel: channel.name }; }) : [{}];

  window.DY_CHARTS = {
    tickets: draw("chart-tickets", base({
      yAxis: [{ type: "value", name: "工单", minInterval: 1 },
              { type: "value", name: "%", min: 0, max: 100 }],
      series: ticketBars.concat([
        { name: "机器人独立解决占比 %", type: "line", yAxisIndex: 1, data: pick("containment_pct"),
          connectNulls: true, symbolSize: 7, itemStyle: { color: GOLD } }
      ])
    }), ticketFilters.concat([{}])),
    firstResponse: draw("chart-first-response", base({
      yAxis: [{ type: "value", name: "工单", minInterval: 1 },
              { type: "value", name: "达标率 %", min: 0, max: 100 }],
      series: [
        { name: "按时", type: "bar", stack: "fr", data: pick("first_response.met"), itemStyle: { color: GREEN } },
        { name: "超时", type: "bar", stack: "fr", data: pick("first_response.missed"), itemStyle: { color: RED } },
        { name: "未到期", type: "bar", stack: "fr", data: pick("first_response.pending"), itemStyle: { color: GREY } },
        { name: "达标率 %", type: "line", yAxisIndex: 1, data: pick("first_response.compliance_pct"),
          connectNulls: true, symbolSize: 7, itemStyle: { color: BLUE } }
      ]
    }), [
      { clock: "first_response", outcome: "met" },
      { clock: "first_response", outcome: "missed" },
      { clock: "first_response", outcome: "pending" },
      { clock: "first_response" }
    ]),
    resolution: draw("chart-resolution", base({
      yAxis: { type: "value", name: "小时" },
      series: [{ name: "平均解决时长（小时）", type: "line", data: pick("mean_hours_to_resolve"),
                 connectNulls: true, symbolSize: 7, itemStyle: { color: BLUE } }]
    }), [{ only: "resolved" }]),
    ratings: draw("chart-ratings", base({
      yAxis: { type: "value", name: "分", min: 1, max: 5 },
      series: [
        { name: "机器人评分", type: "line", data: pick("bot_rating.mean"), connectNulls: true, symbolSize: 7 },
        { name: "服务态度", type: "line", data: pick("staff_ratings.attitude"), connectNulls: true, symbolSize: 7 },
        { name: "专业水平", type: "line", data: pick("staff_ratings.expertise"), connectNulls: true, symbolSize: 7 },
        { name: "解决效果", type: "line", data: pick("staff_ratings.result"), connectNulls: true, symbolSize: 7 }
      ]
    }), [null, { only: "rated" }, { only: "rated" }, { only: "rated" }])  // the bot's: no tickets
  };
})();
