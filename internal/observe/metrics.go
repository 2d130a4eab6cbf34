package observe

import (
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics is every Gatehouse collector, registered on one registry that
// /metrics serves. Subsystems receive the part they report to.
type Metrics struct {
	Registry *prometheus.Registry

	HTTPRequests *prometheus.HistogramVec // route, method, status
	StoreOps     *prometheus.HistogramVec // op, result
	DirectoryOps *prometheus.HistogramVec // dc, op, result
	DCHealthy    *prometheus.GaugeVec     // dc
	DCPoolSize   *prometheus.GaugeVec     // dc
}

var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// NewMetrics creates and registers every collector, including Go runtime,
// process and build information.
func NewMetrics(version, commit string) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		HTTPRequests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "gatehouse", Subsystem: "http", Name: "request_duration_seconds",
			Help:    "HTTP requests by route pattern, method and status code.",
			Buckets: latencyBuckets,
		}, []string{"route", "method", "status"}),
		StoreOps: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "gatehouse", Subsystem: "store", Name: "operation_duration_seconds",
			Help:    "Store operations by method and result (ok, not_found, conflict, error).",
			Buckets: latencyBuckets,
		}, []string{"op", "result"}),
		DirectoryOps: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "gatehouse", Subsystem: "directory", Name: "operation_duration_seconds",
			Help:    "Directory operations by domain controller, type and result.",
			Buckets: latencyBuckets,
		}, []string{"dc", "op", "result"}),
		DCHealthy: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "gatehouse", Subsystem: "directory", Name: "dc_healthy",
			Help: "1 when the domain controller is in service, 0 while it is taken out.",
		}, []string{"dc"}),
		DCPoolSize: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "gatehouse", Subsystem: "directory", Name: "dc_pool_connections",
			Help: "Open pooled connections per domain controller.",
		}, []string{"dc"}),
	}
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "gatehouse", Name: "build_info",
		Help: "Always 1; labels carry the version, commit and Go version.",
	}, []string{"version", "commit", "goversion"})
	build.WithLabelValues(version, commit, runtime.Version()).Set(1)
	reg.MustRegister(m.HTTPRequests, m.StoreOps, m.DirectoryOps, m.DCHealthy, m.DCPoolSize, build,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ObserveStore records one store operation; its signature matches
// store.Observer.
func (m *Metrics) ObserveStore(op string, d time.Duration, result string) {
	m.StoreOps.WithLabelValues(op, result).Observe(d.Seconds())
}

// FlowCounts is what a store keeping flows in memory reports about them.
type FlowCounts struct {
	Flows, Bytes     int
	Evicted, Refused int64
}

// RegisterMemoryFlows exports the flows a store keeps in memory (SQLite's):
// how many and how large, and how many it dropped or refused at its bound.
func (m *Metrics) RegisterMemoryFlows(read func() FlowCounts) {
	gauge := func(name, help string, v func(FlowCounts) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "gatehouse", Subsystem: "flows", Name: name, Help: help},
			func() float64 { return v(read()) })
	}
	counter := func(name, help string, v func(FlowCounts) float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "gatehouse", Subsystem: "flows", Name: name, Help: help},
			func() float64 { return v(read()) })
	}
	m.Registry.MustRegister(
		gauge("in_memory", "Sign-in and reset flows in progress held in memory.", func(c FlowCounts) float64 { return float64(c.Flows) }),
		gauge("in_memory_bytes", "Bytes counted against the in-memory flows' bound.", func(c FlowCounts) float64 { return float64(c.Bytes) }),
		counter("evicted_total", "Flows without a user yet dropped to stay within the bound (a flood of sign-in pages).",
			func(c FlowCounts) float64 { return float64(c.Evicted) }),
		counter("refused_total", "New flows refused because the bound was reached with only users' flows in progress.",
			func(c FlowCounts) float64 { return float64(c.Refused) }),
	)
}
