package restapi

import (
	"math"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/mqttboard/mqttboard/broker"
)

// collector reads the broker's figures when Prometheus scrapes: the
// message path keeps its counters as before and pays nothing for metrics.
type collector struct {
	srv   *broker.Server
	descs map[string]*prometheus.Desc
}

// metricDefs are the metrics: name (after "mqttboard_"), help, labels.
var metricDefs = []struct {
	name, help string
	labels     []string
}{
	{"connections", "Live MQTT connections by protocol version.", []string{"protocol"}},
	{"connections_total", "MQTT connections accepted since the broker started.", nil},
	{"network_connections", "Network connections the broker holds, including those whose CONNECT is not read yet.", nil},
	{"sessions", "Sessions by state (online, offline).", []string{"state"}},
	{"messages_received_total", "PUBLISH messages received from clients and the API.", nil},
	{"messages_sent_total", "PUBLISH messages sent to clients.", nil},
	{"messages_dropped_total", "Messages dropped, by cause: queue_full (a session's outgoing queue was full), too_large (larger than the client's Maximum Packet Size).", []string{"cause"}},
	{"bytes_received_total", "Bytes read from MQTT connections.", nil},
	{"bytes_sent_total", "Bytes written to MQTT connections.", nil},
	{"queued_messages", "Messages waiting in sessions' outgoing queues.", nil},
	{"queued_bytes", "Memory taken by messages in outgoing queues.", nil},
	{"inflight_messages", "QoS 1/2 messages sent and not yet acknowledged.", nil},
	{"inflight_bytes", "Memory taken by unacknowledged messages.", nil},
	{"retained_messages", "Retained messages held.", nil},
	{"retained_bytes", "Memory taken by retained messages.", nil},
	{"subscriptions", "Subscriptions in the topic index.", nil},
	{"shared_groups", "Shared subscription groups (share name and filter).", nil},
	{"log_records", "Records in the log ring.", nil},
	{"log_published_total", "Log records published to flespi/log/mqtt/...", nil},
	{"uptime_seconds", "Seconds since the broker started.", nil},
	{"store_bytes", "Size on disk of the persistent store (--data); absent without one.", nil},
	{"route_latency_seconds", "Time from a PUBLISH's arrival to its being queued for every subscriber, sampled on one message in 64 per connection.", nil},
}

func newCollector(srv *broker.Server) *collector {
	c := &collector{srv: srv, descs: map[string]*prometheus.Desc{}}
	for _, d := range metricDefs {
		c.descs[d.name] = prometheus.NewDesc("mqttboard_"+d.name, d.help, d.labels, nil)
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	m := c.srv.Metrics()
	gauge := func(name string, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(c.descs[name], prometheus.GaugeValue, v, labels...)
	}
	counter := func(name string, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(c.descs[name], prometheus.CounterValue, v, labels...)
	}
	for _, p := range []string{"3.1", "3.1.1", "5.0"} {
		gauge("connections", float64(m.ConnectionsByProtocol[p]), p)
	}
	counter("connections_total", float64(m.ClientsTotal))
	gauge("network_connections", float64(m.Connections))
	gauge("sessions", float64(m.SessionsOnline), "online")
	gauge("sessions", float64(m.SessionsOffline), "offline")
	counter("messages_received_total", float64(m.MessagesReceived))
	counter("messages_sent_total", float64(m.MessagesSent))
	counter("messages_dropped_total", float64(m.DroppedQueueFull), "queue_full")
	counter("messages_dropped_total", float64(m.DroppedTooLarge), "too_large")
	counter("bytes_received_total", float64(m.BytesReceived))
	counter("bytes_sent_total", float64(m.BytesSent))
	gauge("queued_messages", float64(m.Queued))
	gauge("queued_bytes", float64(m.QueuedBytes))
	gauge("inflight_messages", float64(m.Inflight))
	gauge("inflight_bytes", float64(m.InflightBytes))
	gauge("retained_messages", float64(m.Retained))
	gauge("retained_bytes", float64(m.RetainedBytes))
	gauge("subscriptions", float64(m.Subscriptions))
	gauge("shared_groups", float64(m.SharedGroups))
	gauge("log_records", float64(m.LogRecords))
	counter("log_published_total", float64(m.LogPublished))
	gauge("uptime_seconds", m.Uptime.Seconds())
	if m.HasStore {
		gauge("store_bytes", float64(m.StoreBytes))
	}
	buckets := map[float64]uint64{}
	var n uint64
	for i, b := range broker.LatencyBuckets {
		n += m.RouteLatency.Counts[i]
		buckets[b.Seconds()] = n // Prometheus buckets are cumulative
	}
	n += m.RouteLatency.Counts[len(broker.LatencyBuckets)]
	ch <- prometheus.MustNewConstHistogram(c.descs["route_latency_seconds"], n, m.RouteLatency.Sum.Seconds(), buckets)
}

// metricsHandler serves the broker's metrics and the Go runtime's and
// process's, from a registry of its own (nothing global).
func (a *API) metricsHandler() http.HandlerFunc {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(a.srv), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	return h.ServeHTTP
}

// metricsFrom reads the broker's figures back from a scrape: the inverse
// of [collector.Collect] (TestClientMetricsRoundTrip checks that).
func metricsFrom(fams map[string]*dto.MetricFamily) broker.Metrics {
	m := broker.Metrics{ConnectionsByProtocol: map[string]int{}}
	each := func(name string, fn func(labels map[string]string, v float64, mt *dto.Metric)) {
		f := fams["mqttboard_"+name]
		if f == nil {
			return
		}
		for _, mt := range f.Metric {
			labels := map[string]string{}
			for _, lp := range mt.Label {
				labels[lp.GetName()] = lp.GetValue()
			}
			fn(labels, mt.GetGauge().GetValue()+mt.GetCounter().GetValue()+mt.GetUntyped().GetValue(), mt)
		}
	}
	i64 := func(name string, dst *int64) {
		each(name, func(_ map[string]string, v float64, _ *dto.Metric) { *dst += int64(v) })
	}
	num := func(name string, dst *int) {
		each(name, func(_ map[string]string, v float64, _ *dto.Metric) { *dst += int(v) })
	}
	each("connections", func(l map[string]string, v float64, _ *dto.Metric) {
		if v != 0 {
			m.ConnectionsByProtocol[l["protocol"]] = int(v)
		}
	})
	i64("connections_total", &m.ClientsTotal)
	num("network_connections", &m.Connections)
	each("sessions", func(l map[string]string, v float64, _ *dto.Metric) {
		switch l["state"] {
		case "online":
			m.SessionsOnline = int(v)
		case "offline":
			m.SessionsOffline = int(v)
		}
	})
	m.ClientsConnected = int64(m.SessionsOnline)
	m.Sessions = m.SessionsOnline + m.SessionsOffline
	i64("messages_received_total", &m.MessagesReceived)
	i64("messages_sent_total", &m.MessagesSent)
	each("messages_dropped_total", func(l map[string]string, v float64, _ *dto.Metric) {
		m.MessagesDropped += int64(v)
		switch l["cause"] {
		case "queue_full":
			m.DroppedQueueFull = int64(v)
		case "too_large":
			m.DroppedTooLarge = int64(v)
		}
	})
	i64("bytes_received_total", &m.BytesReceived)
	i64("bytes_sent_total", &m.BytesSent)
	i64("queued_messages", &m.Queued)
	i64("queued_bytes", &m.QueuedBytes)
	i64("inflight_messages", &m.Inflight)
	i64("inflight_bytes", &m.InflightBytes)
	num("retained_messages", &m.Retained)
	i64("retained_bytes", &m.RetainedBytes)
	num("subscriptions", &m.Subscriptions)
	num("shared_groups", &m.SharedGroups)
	num("log_records", &m.LogRecords)
	each("log_published_total", func(_ map[string]string, v float64, _ *dto.Metric) { m.LogPublished = uint64(v) })
	each("store_bytes", func(_ map[string]string, v float64, _ *dto.Metric) { m.StoreBytes, m.HasStore = int64(v), true })
	each("uptime_seconds", func(_ map[string]string, v float64, _ *dto.Metric) { m.Uptime = time.Duration(math.Round(v * 1e9)) })
	each("route_latency_seconds", func(_ map[string]string, _ float64, mt *dto.Metric) {
		h := mt.GetHistogram()
		m.RouteLatency = broker.LatencySnapshot{Counts: make([]uint64, len(broker.LatencyBuckets)+1), Sum: time.Duration(math.Round(h.GetSampleSum() * 1e9))}
		// Cumulative counts back to per-bucket ones; a server whose counts
		// go down (not ours) gets zeros, not a wrap-around.
		var prev uint64
		diff := func(c uint64) uint64 {
			d := c - min(c, prev)
			prev = max(prev, c)
			return d
		}
		for i, b := range h.GetBucket() {
			if i < len(broker.LatencyBuckets) {
				m.RouteLatency.Counts[i] = diff(b.GetCumulativeCount())
			}
		}
		m.RouteLatency.Counts[len(broker.LatencyBuckets)] = diff(h.GetSampleCount())
	})
	return m
}
